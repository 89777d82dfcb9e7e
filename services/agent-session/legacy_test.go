package agentsession

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// TestAnOldInteractionStreamStillFolds: an interaction stream as a store
// from before the enums holds it (call and party statuses and reasons in
// words, in fields 3 and 4/5) folds to the document the API answered
// then; a status from a newer producer reads as Unknown.
func TestAnOldInteractionStreamStillFolds(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	at := func(s int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(s) * time.Second)) }
	// The bytes the old CallStatusChanged{status: "Connected"} had.
	var oldConnected []byte
	oldConnected = protowire.AppendTag(oldConnected, 2, protowire.BytesType)
	oldConnected = protowire.AppendString(oldConnected, "k1")
	oldConnected = protowire.AppendTag(oldConnected, 3, protowire.BytesType)
	oldConnected = protowire.AppendString(oldConnected, "Connected")
	if b, _ := proto.Marshal(&agentv1.CallStatusChanged{CallId: "k1", LegacyStatus: "Connected"}); !bytes.Equal(b, oldConnected) {
		t.Fatalf("legacy_status is not the old status field: %x, want %x", b, oldConnected)
	}
	req := &callbackv1.CallbackRequest{Subject: "Billing", PhoneNumber: "+14155550100", Service: "support", RequestedAt: at(0)}
	stream := []proto.Message{
		&agentv1.InteractionPresented{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", Request: req, OfferId: "o1",
			ExpiresAt: at(60), At: at(1)},
		&agentv1.AcceptRequested{InteractionId: "i1", AgentId: "a1", OfferId: "o1", At: at(2)},
		&agentv1.InteractionAccepted{InteractionId: "i1", AgentId: "a1", At: at(3)},
		&agentv1.DialRequested{InteractionId: "i1", CallId: "k1", AgentId: "a1", At: at(4)},
		nil, // oldConnected, as stored
		&agentv1.ConsultRequested{InteractionId: "i1", CallId: "k1", AgentId: "a1", Party: &agentv1.Party{AgentId: "a2", PhoneUri: "sip:a2@h"}, At: at(6)},
		&agentv1.CallStatusChanged{InteractionId: "i1", CallId: "k1", LegacyStatus: "On Hold", At: at(7)},
		&agentv1.PartyStatusChanged{InteractionId: "i1", CallId: "k1", LegacyStatus: "Ringing", Party: "a2", At: at(8)},
		&agentv1.PartyStatusChanged{InteractionId: "i1", CallId: "k1", LegacyStatus: "", Party: "a2", LegacyReason: "a2: No answer", At: at(9)},
		&agentv1.CallStatusChanged{InteractionId: "i1", CallId: "k1", LegacyStatus: "Ready to Call", LegacyReason: "The contact hung up", At: at(10)},
	}
	var recs []eventstore.RecordedEvent
	for i, e := range stream {
		r := eventstore.RecordedEvent{Stream: InteractionStreamPrefix + "i1", Revision: eventstore.Revision(i), Time: t0.Add(time.Duration(i+1) * time.Second)}
		if e == nil {
			r.Type, r.Data = catalog.TypeName(&agentv1.CallStatusChanged{}), oldConnected
		} else {
			r.Type = catalog.TypeName(e)
			b, err := proto.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			r.Data = b
		}
		recs = append(recs, r)
	}
	doc := func(n int) map[string]any {
		t.Helper()
		d, ok := FoldInteraction(recs[:n], t0.Add(time.Hour))
		if !ok {
			t.Fatal("no interaction")
		}
		b, _ := json.Marshal(d)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		n           int
		field, want string
	}{
		{5, "status", "Connected"},
		{7, "status", "On Hold"},
		{8, "party_status", "Ringing"},
		{9, "party_status", ""},
		{9, "party_reason", "a2: No answer"},
		{10, "status", "Ready to Call"},
		{10, "reason", "The contact hung up"},
	} {
		if got := doc(c.n)[c.field]; got != c.want {
			t.Errorf("after %d events %s = %v, want %q", c.n, c.field, got, c.want)
		}
	}
	// A newer producer's status: unknown, not another, no crash.
	newer, _ := proto.Marshal(&agentv1.CallStatusChanged{InteractionId: "i1", CallId: "k1", Status: 42, At: at(11)})
	recs = append(recs, eventstore.RecordedEvent{Stream: InteractionStreamPrefix + "i1", Revision: 10, Time: t0.Add(11 * time.Second),
		Type: catalog.TypeName(&agentv1.CallStatusChanged{}), Data: newer})
	if got := doc(11)["status"]; got != "Unknown" {
		t.Errorf("a newer status = %v", got)
	}
}
