package mediagateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// TestAnswerOnRecordBeforeItsACK: the agent's phone and the trunk answer at
// once, with no ringing before. When each gets its ACK, the dialog it
// answered is on record already: a gateway killed between the answer and
// the record would otherwise leave a call up that no record names, which
// the instance taking over could not hang up.
func TestAnswerOnRecordBeforeItsACK(t *testing.T) {
	env := newEnv(t)
	agent, trunk := startPhone(t), startPhone(t)
	var mu sync.Mutex
	onRecord := map[string]string{}
	// check is an ACK hook: it reads the call's record as the ACK arrives
	// and says what it found of the dialog the ACK confirms.
	check := func(role string, leg func(proto.Message) *mediav1.LegDialog) *func(*sipgosip.Request) {
		f := func(ack *sipgosip.Request) {
			tag, _ := ack.To().Params.Get("tag")
			found := "not on record"
			recs, err := env.Store.ReadStream(context.Background(), "media-call-k0", 0)
			for _, r := range recs {
				m, derr := eventstore.Decode(r)
				if derr != nil {
					continue
				}
				if l := leg(m); l != nil && tag != "" && strings.Contains(l.GetTo(), "tag="+tag) {
					found = "on record"
				}
			}
			if err != nil {
				found = err.Error()
			}
			mu.Lock()
			onRecord[role] = found
			mu.Unlock()
		}
		return &f
	}
	agent.atOnce.Store(true)
	trunk.atOnce.Store(true)
	agent.onAck.Store(check("agent", func(m proto.Message) *mediav1.LegDialog {
		if a, ok := m.(*mediav1.AgentAnswered); ok {
			return a.AgentLeg
		}
		return nil
	}))
	trunk.onAck.Store(check("contact", func(m proto.Message) *mediav1.LegDialog {
		if r, ok := m.(*mediav1.ContactRinging); ok {
			return r.ContactLeg
		}
		return nil
	}))
	a := startGateway(t, env, "gw-a", trunk.Addr, testTTL, nil)
	waitReady(t, env, a)
	env.Relay()

	env.AppendAs("agent-interaction-i0", eventstore.Cause{ID: "dial-0"}, dialRequest(0, agent))
	waitFor(t, 10*time.Second, "call k0 connected", func() bool {
		_, ok := has[*mediav1.CallConnected](events(t, env, "media-call-k0"))
		return ok
	})
	mu.Lock()
	defer mu.Unlock()
	for _, role := range []string{"agent", "contact"} {
		if onRecord[role] != "on record" {
			t.Errorf("the %s's answer, when its ACK came: %q, want its dialog on record", role, onRecord[role])
		}
	}
}
