package agentsession

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/agent-session/agent"
)

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerAgent measures what one logged-in, Ready agent costs
// agent-session: its state in the view, then with its desktop connected to
// the event stream (a goroutine, an HTTP connection and its place in the
// hub; no store subscription of its own). BenchmarkDesktops measures the
// desktops without the clients' share, and their CPU.
//
//	go test -run '^$' -bench MemoryPerAgent -benchtime 1x ./services/agent-session/
func BenchmarkMemoryPerAgent(b *testing.B) {
	const agents, streams = 10000, 1000
	env := servicetest.New(b)
	s, err := New(Config{CommandWait: time.Second}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		b.Fatal(err)
	}
	env.Go(s.Run)
	ctx := context.Background()
	var last eventstore.Position
	before := heap()
	for i := range agents {
		id := fmt.Sprintf("agent-%05d", i)
		out, err := s.onAgent(ctx, id, eventstore.Cause{ID: uuid.NewString()}, agent.Login{Agent: id,
			PhoneURI: "sip:" + id + "@10.0.0.1:5060", Skills: map[string]int32{"billing": 5}, At: env.Clock.Now()})
		if err != nil {
			b.Fatal(err)
		}
		out, err = s.onAgent(ctx, id, eventstore.Cause{ID: uuid.NewString()}, agent.SetState{Agent: id,
			Channel: agent.WebCallback, State: agent.Ready, At: env.Clock.Now()})
		if err != nil {
			b.Fatal(err)
		}
		last = out.Position
	}
	if err := s.proj.WaitFor(ctx, last); err != nil {
		b.Fatal(err)
	}
	perAgent := float64(heap()-before) / agents

	// Desktops connected: each holds an event stream open.
	before = heap()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range streams {
		req, _ := http.NewRequestWithContext(cctx, "GET", fmt.Sprintf("%s/v1/agents/agent-%05d/events", env.Server.URL, i), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
	}
	// Both ends of each connection live in this process; halve the client's
	// share out by measuring the server side only is not possible here, so
	// the figure below is an upper bound.
	perStream := float64(heap()-before) / streams
	b.ReportMetric(perAgent/1024, "KiB/agent")
	b.ReportMetric(perStream/1024, "KiB/stream")
	fmt.Printf("agent-session memory: %.1f KiB per logged-in agent (%d agents), +%.1f KiB per connected desktop stream "+
		"(upper bound, client side included; %d streams); target < 20 KiB per agent\n", perAgent/1024, agents, perStream/1024, streams)
}
