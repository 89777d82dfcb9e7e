package personal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

const (
	canaryNumber = "+14155550177"
	canaryName   = "Zebedee Canary"
	canaryCase   = "canary-case-7731"
	canaryNote   = "canary note 5512"
)

func newSealer(t testing.TB) *Sealer {
	t.Helper()
	dir, err := OpenDir(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	master, ids, err := DeriveSecrets(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewWrapped(dir, master)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(ks, ids)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requested() *callbackv1.CallbackRequested {
	return &callbackv1.CallbackRequested{CallbackId: "cb-1", Request: &callbackv1.CallbackRequest{
		Service: "support", PhoneNumber: canaryNumber, Subject: "Billing", ContactName: canaryName,
		CaseData: map[string]string{"order": canaryCase, "empty": ""}}}
}

// noCanary fails when any canary value is readable in b.
func noCanary(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, c := range []string{canaryNumber[1:], canaryName, canaryCase, canaryNote} {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("%s: canary %q readable", what, c)
		}
	}
}

func TestSealOpenErase(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	m := requested()
	if err := s.Seal(ctx, m, "cb-1"); err != nil {
		t.Fatal(err)
	}
	wire, _ := proto.Marshal(m)
	noCanary(t, "sealed request", wire)
	if m.Request.Service != "support" || m.CallbackId != "cb-1" || m.Request.CaseData["empty"] != "" {
		t.Errorf("fields that are not personal changed: %v", m)
	}
	// A note names no number: its correlation's link chooses the key.
	note := &historyv1.NoteAdded{InteractionId: "ix-1", Text: canaryNote}
	if err := s.Seal(ctx, note, "cb-1"); err != nil {
		t.Fatal(err)
	}
	noCanary(t, "sealed note", []byte(note.Text))

	if err := s.Open(ctx, m); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, requested()) {
		t.Errorf("opened %v, want %v", m, requested())
	}
	if err := s.Open(ctx, note); err != nil || note.Text != canaryNote {
		t.Fatalf("opened note %q, %v", note.Text, err)
	}

	sealed := requested()
	if err := s.Seal(ctx, sealed, "cb-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(ctx, "+1 415 555 0177"); err != nil { // the same contact, spelt otherwise
		t.Fatal(err)
	}
	if err := s.Open(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	r := sealed.Request
	if r.PhoneNumber != Erased || r.ContactName != Erased || r.Subject != Erased || r.CaseData["order"] != Erased {
		t.Errorf("after erasure read %v", r)
	}
	if r.Service != "support" {
		t.Errorf("service %q after erasure: only personal fields are erased", r.Service)
	}
}

func TestSealRefusesPersonalDataOfNoContact(t *testing.T) {
	s := newSealer(t)
	err := s.Seal(context.Background(), &historyv1.NoteAdded{Text: canaryNote}, "cb-unknown")
	if !errors.Is(err, ErrNoContact) {
		t.Fatalf("Seal = %v, want ErrNoContact", err)
	}
	// Without personal values there is nothing to seal, so no contact needed.
	if err := s.Seal(context.Background(), &historyv1.NoteAdded{InteractionId: "ix"}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedEventSealedInPlace(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	inner, _ := proto.Marshal(&agentv1.DialRequested{InteractionId: "ix-1", PhoneNumber: canaryNumber, Service: "support"})
	rec := &historyv1.InteractionEventRecorded{CallbackId: "cb-2", EventType: "ringback.agent.v1.DialRequested",
		Data: inner, PhoneNumber: canaryNumber}
	if err := s.Seal(ctx, rec, "cb-2"); err != nil {
		t.Fatal(err)
	}
	wire, _ := proto.Marshal(rec)
	noCanary(t, "sealed record", wire)
	var d agentv1.DialRequested
	if err := proto.Unmarshal(rec.Data, &d); err != nil || d.Service != "support" || d.InteractionId != "ix-1" {
		t.Fatalf("embedded event not readable where not personal: %v %v", &d, err)
	}
	if err := s.Open(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(rec.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.PhoneNumber != canaryNumber || rec.PhoneNumber != canaryNumber {
		t.Errorf("opened %q %q", d.PhoneNumber, rec.PhoneNumber)
	}
}

func TestSealedValueBoundToField(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	m := requested()
	if err := s.Seal(ctx, m, ""); err != nil {
		t.Fatal(err)
	}
	// A ciphertext moved into another personal field does not open there.
	m.Request.Subject = m.Request.ContactName
	if err := s.Open(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m.Request.Subject != Erased || m.Request.ContactName != canaryName {
		t.Errorf("subject %q, name %q", m.Request.Subject, m.Request.ContactName)
	}
}

func TestLegDialogSealedByLink(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	if err := s.Seal(ctx, requested(), "cb-1"); err != nil {
		t.Fatal(err)
	}
	ev := &mediav1.CallConnected{CallId: "c1", ContactLeg: &mediav1.LegDialog{To: "<sip:" + canaryNumber + "@trunk>;tag=1",
		RemoteTarget: "sip:" + canaryNumber + "@127.0.0.1", Transport: "udp"}}
	if err := s.Seal(ctx, ev, "cb-1"); err != nil {
		t.Fatal(err)
	}
	wire, _ := proto.Marshal(ev)
	noCanary(t, "sealed dialog", wire)
	if err := s.Open(ctx, ev); err != nil || !strings.Contains(ev.ContactLeg.To, canaryNumber) {
		t.Fatalf("opened %q, %v", ev.ContactLeg.To, err)
	}
}

func TestSealedStream(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	if err := s.Seal(ctx, requested(), "cb-1"); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 10, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		plain := bytes.Repeat([]byte(canaryName), size/len(canaryName)+1)[:size]
		var file bytes.Buffer
		w, err := s.SealWriter(ctx, "cb-1", &file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain[:size/2]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain[size/2:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if size > 0 {
			noCanary(t, "sealed file", file.Bytes())
		}
		r, err := s.OpenReader(ctx, bytes.NewReader(file.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: read %d bytes, %v", size, len(got), err)
		}
		if size > chunkSize {
			// Cut after the first chunk: the file must not read as whole.
			cut := file.Bytes()[:len(streamMagic)+keyIDLen+prefixLen+4+chunkSize+16]
			r, _ := s.OpenReader(ctx, bytes.NewReader(cut))
			if _, err := io.ReadAll(r); err == nil {
				t.Errorf("size %d: a truncated file read without error", size)
			}
		}
	}
	var file bytes.Buffer
	w, _ := s.SealWriter(ctx, "cb-1", &file)
	if _, err := w.Write([]byte(canaryNote)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(ctx, canaryNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenReader(ctx, &file); !errors.Is(err, ErrErased) {
		t.Fatalf("OpenReader after erasure = %v, want ErrErased", err)
	}
}

// TestErasureReachesEveryReplica: two replicas share one key store; one
// erases, the other has the key and the opened event cached, and stops
// serving them once its key cache entry runs out (CacheTTL).
func TestErasureReachesEveryReplica(t *testing.T) {
	ctx := context.Background()
	dir, _ := OpenDir(t.TempDir())
	master, ids, _ := DeriveSecrets(bytes.Repeat([]byte("s"), 32))
	ks, _ := NewWrapped(dir, master)
	a, _ := NewSealer(ks, ids)
	b, _ := NewSealer(ks, ids)
	now := time.Now()
	b.now = func() time.Time { return now }
	data, _ := proto.Marshal(requested())
	const typ = "ringback.callback.v1.CallbackRequested"
	sealed, err := a.SealData(ctx, typ, data, "cb-1")
	if err != nil {
		t.Fatal(err)
	}
	read := func(s *Sealer) string {
		t.Helper()
		out, err := s.OpenEvent(ctx, "event-1", typ, sealed)
		if err != nil {
			t.Fatal(err)
		}
		var m callbackv1.CallbackRequested
		if err := proto.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		return m.Request.ContactName
	}
	first, cached := read(b), read(b) // the second from b's cache
	if first != canaryName || cached != canaryName {
		t.Fatal("replica b does not read the contact before erasure")
	}
	if _, err := a.Erase(ctx, canaryNumber); err != nil {
		t.Fatal(err)
	}
	if got := read(a); got != Erased {
		t.Errorf("the erasing replica reads %q", got)
	}
	now = now.Add(CacheTTL)
	if got := read(b); got != Erased {
		t.Errorf("replica b reads %q a CacheTTL after the erasure", got)
	}
}

// TestKeyCacheBounded: each new contact caches its key; the cache keeps
// at most maxKeys of them (issue 12: it grew with every callback), and a
// key dropped from it still opens its contact's data.
func TestKeyCacheBounded(t *testing.T) {
	s := newSealer(t)
	s.maxKeys = 20
	ctx := context.Background()
	var first *callbackv1.CallbackRequested
	for i := range 3 * s.maxKeys {
		m := requested()
		m.CallbackId = fmt.Sprintf("cb-%d", i)
		m.Request.PhoneNumber = fmt.Sprintf("+1415555%04d", i)
		if err := s.Seal(ctx, m, m.CallbackId); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = m
		}
		s.mu.Lock()
		n := len(s.cache)
		s.mu.Unlock()
		if n > s.maxKeys {
			t.Fatalf("after %d contacts the cache holds %d keys, want at most %d", i+1, n, s.maxKeys)
		}
	}
	if err := s.Open(ctx, first); err != nil || first.Request.GetContactName() != canaryName {
		t.Fatalf("first contact after its key left the cache: %q, %v", first.Request.GetContactName(), err)
	}
}
