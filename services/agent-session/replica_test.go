package agentsession

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
)

// replica is one agent-session process on env's store, as one pod of
// several would be: its own view, hub, loops and HTTP server. stop ends it
// as a deploy or a crash would, leaving the store to the others.
type replica struct {
	s    *Service
	srv  *httptest.Server
	reg  *prometheus.Registry
	stop func()
	halt func() // stops Run only, the HTTP server stays up
}

func startReplica(t *testing.T, env *servicetest.Env, cfg Config, store eventstore.Store) *replica {
	t.Helper()
	if cfg.CommandWait == 0 {
		cfg.CommandWait = 5 * time.Second
	}
	if store == nil {
		store = env.Store
	}
	mux, reg := http.NewServeMux(), prometheus.NewRegistry()
	s, err := New(cfg, Deps{Deps: service.Deps{Store: store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: reg, Mux: mux}})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{s: s, srv: httptest.NewServer(mux), reg: reg}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	r.halt = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("replica run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("replica did not stop within 10s")
		}
	})
	r.stop = sync.OnceFunc(func() {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.halt()
	})
	t.Cleanup(r.stop)
	waitFor(t, "replica ready", func() bool { return s.Ready() == nil })
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pushed is one server-sent event as a desktop receives it.
type pushed struct{ name, id, data string }

// listen opens agentID's event stream on srv (resuming after lastID when
// set) and delivers what it pushes until the test ends.
func listen(t *testing.T, srv *httptest.Server, agentID, lastID string) <-chan pushed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/agents/"+agentID+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("events of %s: %v %v", agentID, err, res)
	}
	out := make(chan pushed, 1000)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		var p pushed
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if p.name != "" {
					select {
					case out <- p:
					case <-ctx.Done():
						return
					}
				}
				p = pushed{}
			case strings.HasPrefix(line, "id: "):
				p.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				p.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				p.data = line[6:]
			}
		}
	}()
	return out
}

func receive(t *testing.T, c <-chan pushed) pushed {
	t.Helper()
	select {
	case p, ok := <-c:
		if !ok {
			t.Fatal("event stream closed")
		}
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("nothing pushed within 10s")
	}
	return pushed{}
}

func idOf(p eventstore.Position) string { return fmt.Sprintf("%d.%d", p.Commit, p.Prepare) }

func eventstoreCause() eventstore.Cause { return eventstore.Cause{ID: uuid.NewString()} }

// folded waits until r's view holds everything stored so far.
func folded(t *testing.T, r *replica) {
	t.Helper()
	head, err := r.s.deps.Store.(eventstore.HeadReader).Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "view folds the store", func() bool { return !r.s.proj.Position().Less(head) })
}

// counted is a counter's value.
func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
