package agentsession

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// streamReads counts the reads of one stream.
type streamReads struct {
	eventstore.Store
	stream atomic.Value // string
	n      atomic.Int64
}

func (s *streamReads) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	if w, _ := s.stream.Load().(string); w == stream {
		s.n.Add(1)
	}
	return s.Store.ReadStream(ctx, stream, from)
}

// A command reads its interaction's stream once (issue 13): the
// entitlement's read is the one the command decides from; only a command
// that waits for another service's answer reads again, to show it.
func TestACommandReadsItsStreamOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(agentsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	reads := &streamReads{Store: env.Store}
	s, err := New(Config{AgentsFile: path, CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00"}, Deps{Deps: service.Deps{Store: reads,
		Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	env.DoWith("POST", "/v1/agents/a1/session", bearer("tok-a1"), map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatusAs(t, env, iid, "tok-a1")
	reads.stream.Store(interaction.Stream(iid))

	reads.n.Store(0)
	if res := env.DoWith("GET", "/v1/interactions/"+iid, bearer("tok-a1"), nil, nil); res.StatusCode != 200 {
		t.Fatalf("get: %d", res.StatusCode)
	}
	if n := reads.n.Load(); n != 1 {
		t.Errorf("GET read the stream %d times, want 1", n)
	}

	// Accept waits for the router's answer, then shows it: its own read,
	// the inbox's (the confirmation is a command of its own), then one to
	// show the answer.
	reads.n.Store(0)
	go func() {
		servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
		env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"})
	}()
	if res := env.DoWith("POST", "/v1/interactions/"+iid+"/accept", bearer("tok-a1"), nil, nil); res.StatusCode != 200 {
		t.Fatalf("accept: %d", res.StatusCode)
	}
	if n := reads.n.Load(); n != 3 {
		t.Errorf("accept read the stream %d times, want 3 (the command, the inbox's confirmation, the answer)", n)
	}

	// A reschedule waits for nobody: one read.
	reads.n.Store(0)
	when := servicetest.Start.Add(2 * time.Hour).Format(time.RFC3339)
	if res := env.DoWith("POST", "/v1/interactions/"+iid+"/reschedule", bearer("tok-a1"), map[string]string{"time": when}, nil); res.StatusCode != 200 {
		t.Fatalf("reschedule: %d", res.StatusCode)
	}
	if n := reads.n.Load(); n != 1 {
		t.Errorf("reschedule read the stream %d times, want 1", n)
	}
}
