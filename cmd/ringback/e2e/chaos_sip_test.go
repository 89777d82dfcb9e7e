package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/siptest"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// checkChaosSIP compares what the trunk and the phones saw with the calls
// the store holds: at most one INVITE per attempt (DialStarted), and one
// for each attempt but those lost with their gateway (CallLost), which may
// die before the contact's leg; a BYE for every answered call.
func checkChaosSIP(t *testing.T, st *postgres.Store, opener *personal.Sealer, trunk, phones *siptest.UAS) {
	t.Helper()
	attempts := map[string]int{}        // contact number -> DialStarted
	numberOfCall := map[string]string{} // call id -> contact number
	lost := map[string]int{}            // contact number -> attempts lost with their gateway
	legEvents := map[string][]string{}  // SIP Call-ID -> the store's events naming its dialog
	scanStore(t, st, func(e eventstore.RecordedEvent) error {
		if m, err := eventstore.Decode(e); err == nil {
			for _, id := range legCallIDs(m) {
				legEvents[id] = append(legEvents[id], e.Stream+" "+e.Type)
			}
			switch d := m.(type) {
			case *mediav1.DialStarted:
				// The contact's URI is personal: sealed in the store.
				if err := opener.Open(t.Context(), d); err != nil {
					return fmt.Errorf("open %s: %w", e.ID, err)
				}
				attempts[numberOf(d.ContactUri)]++
				numberOfCall[d.CallId] = numberOf(d.ContactUri)
			case *mediav1.CallLost:
				lost[numberOfCall[d.CallId]]++ // a call's DialStarted comes first in its stream
			}
		}
		return nil
	})
	for _, u := range []struct {
		name string
		uas  *siptest.UAS
	}{{"trunk", trunk}, {"phones", phones}} {
		msgs, err := u.uas.Messages()
		if err != nil {
			fatalf(t, "%v", err)
		}
		invites := map[string]map[string]bool{} // number -> Call-IDs
		for _, m := range msgs {
			if !m.Sent && m.Method() == "INVITE" && strings.HasSuffix(m.CSeq, "INVITE") {
				n := numberOf(m.RequestURI())
				if invites[n] == nil {
					invites[n] = map[string]bool{}
				}
				invites[n][m.CallID] = true
			}
		}
		if u.name == "trunk" {
			for n, a := range attempts {
				if got := len(invites[n]); got > a || got < a-lost[n] {
					errorf(t, "%s: %d INVITEs (distinct Call-IDs) for %d attempts, %d of them lost with their gateway", n, got, a, lost[n])
				}
			}
			for n, calls := range invites {
				if attempts[n] == 0 {
					errorf(t, "%s: %d INVITEs and no attempt", n, len(calls))
				}
			}
		}
		calls := sipCallsOf(msgs)
		up, unconfirmed := 0, 0
		for id, c := range calls {
			switch {
			case c.answered.IsZero() || c.byeIn:
			case !c.acked && len(legEvents[id]) == 0:
				// The gateway died between the 200 and its ACK, before it
				// recorded anything of the dialog: no survivor can know of
				// it. The phone ends an answer nobody ACKs itself (RFC 3261
				// 13.3.1.4): sipp sends BYE when its 200's retransmissions
				// time out (31.5 s).
				unconfirmed++
				if !waitOwnBye(t, u.uas, id, c.answered.Add(45*time.Second)) {
					errorf(t, "%s: call %s answered, never ACKed, and the phone never hung up; sipp saw:\n%s", u.name, id, callTrace(msgs, id))
				}
			default:
				up++
				errorf(t, "%s: call %s answered, never got a BYE; sipp saw:\n%s\nthe store names its dialog in: %v",
					u.name, id, callTrace(msgs, id), legEvents[id])
			}
		}
		if up > 0 {
			errorf(t, "%s: %d answered calls never got a BYE (left up without an owner)", u.name, up)
		}
		t.Logf("%s: %d numbers dialled, %d calls answered, every one hung up; by the phone itself: %d (answered as "+
			"their gateway died, before its ACK and before it recorded the dialog)", u.name, len(invites), len(calls.answered()), unconfirmed)
	}
}

// sipCall is what a UAS saw of one SIP call.
type sipCall struct {
	answered      time.Time // its first 200 to the INVITE
	acked         bool      // an ACK came
	byeIn, byeOut bool      // a BYE came; the UAS sent one
}

type sipCalls map[string]*sipCall

// sipCallsOf sums a UAS's messages up by Call-ID.
func sipCallsOf(msgs []siptest.Message) sipCalls {
	calls := sipCalls{}
	for _, m := range msgs {
		c := calls[m.CallID]
		if c == nil {
			c = &sipCall{}
			calls[m.CallID] = c
		}
		switch {
		case m.Sent && m.StatusCode() == 200 && strings.HasSuffix(m.CSeq, "INVITE") && c.answered.IsZero():
			c.answered = m.Time
		case !m.Sent && m.Method() == "ACK":
			c.acked = true
		case !m.Sent && m.Method() == "BYE":
			c.byeIn = true
		case m.Sent && m.Method() == "BYE":
			c.byeOut = true
		}
	}
	return calls
}

// answered are the Call-IDs answered.
func (cs sipCalls) answered() []string {
	var ids []string
	for id, c := range cs {
		if !c.answered.IsZero() {
			ids = append(ids, id)
		}
	}
	return ids
}

// waitOwnBye waits until the UAS has sent a BYE on call id, until deadline.
func waitOwnBye(t *testing.T, uas *siptest.UAS, id string, deadline time.Time) bool {
	t.Helper()
	for {
		msgs, err := uas.Messages()
		if err != nil {
			fatalf(t, "%v", err)
		}
		if c := sipCallsOf(msgs)[id]; c != nil && c.byeOut {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// legCallIDs are the SIP Call-IDs of the leg dialogs an event records.
func legCallIDs(m proto.Message) []string {
	var ids []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			if d, ok := v.Message().Interface().(*mediav1.LegDialog); ok && d.GetCallId() != "" {
				ids = append(ids, d.GetCallId())
			}
		}
		return true
	})
	return ids
}

// callTrace is what sipp saw of one SIP call, a line a message.
func callTrace(msgs []siptest.Message, callID string) string {
	var b strings.Builder
	for _, m := range msgs {
		if m.CallID == callID {
			fmt.Fprintf(&b, "  %s %s\n", m.Time.Format("15:04:05.000"), m)
		}
	}
	return b.String()
}

// numberOf is the user part of a SIP URI: sip:+4420...@host -> +4420...
func numberOf(uri string) string {
	uri = strings.TrimPrefix(strings.TrimPrefix(uri, "<"), "sip:")
	user, _, _ := strings.Cut(uri, "@")
	return user
}
