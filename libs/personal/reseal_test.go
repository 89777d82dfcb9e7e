package personal

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// An event copied whole into history's trail, as it was opened, is stored
// with the ciphertext it came with rather than sealed again (issue 12);
// it opens, and erasing the contact erases it, as the event itself. A copy
// whose bytes are not what was opened is sealed the long way.
func TestEmbeddedCopyKeepsItsCiphertext(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	typ := catalog.TypeName(requested())
	plain, _ := proto.Marshal(requested())
	sealed, err := s.SealData(ctx, typ, plain, "cb-1")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := s.OpenEvent(ctx, "ev-1", typ, sealed)
	// Compared as messages: a map's encoding order is not fixed (this
	// compared bytes, and failed now and then in CI).
	var back callbackv1.CallbackRequested
	if err != nil || proto.Unmarshal(opened, &back) != nil || !proto.Equal(&back, requested()) {
		t.Fatalf("opened %x, %v", opened, err)
	}
	recType := catalog.TypeName(&historyv1.InteractionEventRecorded{})
	record := func(id string, data []byte) *historyv1.InteractionEventRecorded {
		t.Helper()
		b, _ := proto.Marshal(&historyv1.InteractionEventRecorded{CallbackId: "cb-1", EventId: id, EventType: typ,
			Data: data, PhoneNumber: canaryNumber})
		out, err := s.SealData(ctx, recType, b, "cb-1")
		if err != nil {
			t.Fatal(err)
		}
		noCanary(t, "sealed record", out)
		var rec historyv1.InteractionEventRecorded
		if err := proto.Unmarshal(out, &rec); err != nil {
			t.Fatal(err)
		}
		return &rec
	}
	rec := record("ev-1", opened)
	if !bytes.Equal(rec.Data, sealed) {
		t.Errorf("the copy was sealed again: %d bytes, want the event's %d", len(rec.Data), len(sealed))
	}
	// Not what ev-1 opened to: sealed here, not taken from the cache.
	other := requested()
	other.Request.Subject = "Other"
	otherPlain, _ := proto.Marshal(other)
	if rec := record("ev-1", otherPlain); bytes.Equal(rec.Data, sealed) {
		t.Error("a copy of other bytes took ev-1's ciphertext")
	}
	// Stored before sealing existed: opening changes nothing, the copy is sealed.
	if _, err := s.OpenEvent(ctx, "ev-legacy", typ, plain); err != nil {
		t.Fatal(err)
	}
	record("ev-legacy", plain) // noCanary checks it

	if err := s.Open(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var got callbackv1.CallbackRequested
	if err := proto.Unmarshal(rec.Data, &got); err != nil || !proto.Equal(&got, requested()) {
		t.Fatalf("the copy opened to %v, %v", &got, err)
	}
	if _, err := s.Erase(ctx, canaryNumber); err != nil {
		t.Fatal(err)
	}
	rec = record("ev-1", opened) // the key is gone: not from the cache
	if bytes.Equal(rec.Data, sealed) {
		t.Error("after erasure, the cached ciphertext was still used")
	}
	var erased historyv1.InteractionEventRecorded
	b, _ := proto.Marshal(&historyv1.InteractionEventRecorded{EventType: typ, Data: sealed})
	if err := proto.Unmarshal(b, &erased); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, &erased); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(erased.Data, &got); err != nil || got.Request.PhoneNumber != Erased {
		t.Errorf("the copy after erasure: %v, %v", &got, err)
	}
}
