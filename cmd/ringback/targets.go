package main

import (
	"context"
	"sort"
	"strings"

	"github.com/ringback/ringback/libs/service"
	agentsession "github.com/ringback/ringback/services/agent-session"
	"github.com/ringback/ringback/services/disposition"
	"github.com/ringback/ringback/services/history"
	"github.com/ringback/ringback/services/intake"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/router"
	"github.com/ringback/ringback/services/scheduler"
)

// Runner is a started service: Run blocks until ctx is done.
type Runner interface {
	Run(ctx context.Context) error
}

// target is one service the binary can run.
type target struct {
	Name   string
	Topics []string // what it consumes, so single node can start the relay once all listen
	Prefix string   // of the streams it writes, which this process's relay publishes
	Init   func(a *App) (Runner, error)
}

// targets in start order: consumers of others' facts do not depend on their
// producers at start, so the order is the order of a callback's life.
var targets = []target{
	{Name: "intake", Prefix: "intake-", Topics: intake.Topics, Init: func(a *App) (Runner, error) {
		cfg := a.Config.Intake
		cfg.AgentsFile = a.Config.Agents // issue 16: reading a callback takes its agent's token
		cfg.IDKey = a.callbackIDKey
		cfg.LinkKey = a.linkKey
		deps := intake.Deps{Deps: service.Deps{Store: a.Store, Subscribers: a.Subscribers, Clock: a.Clock, Log: a.Log.With("service", "intake"), Metrics: a.Registry, Mux: a.Mux}}
		if a.Sealer != nil { // its callbacks' index forgets erased numbers
			deps.ContactKeys = a.Sealer
		}
		return intake.New(cfg, deps)
	}},
	{Name: "scheduler", Prefix: "scheduler-", Topics: scheduler.Topics, Init: func(a *App) (Runner, error) {
		cfg := a.Config.Scheduler
		cfg.AgentsFile = a.Config.Agents
		return scheduler.New(cfg, scheduler.Deps{Store: a.Store, Subscribers: a.Subscribers, Clock: a.Clock,
			Log: a.Log.With("service", "scheduler"), Metrics: a.Registry, Mux: a.Mux})
	}},
	{Name: "router", Prefix: "router-", Topics: router.Topics, Init: func(a *App) (Runner, error) {
		cfg := a.Config.Router
		cfg.AgentsFile = a.Config.Agents
		return router.New(cfg, router.Deps{Store: a.Store, Subscribers: a.Subscribers, Clock: a.Clock,
			Log: a.Log.With("service", "router"), Metrics: a.Registry, Mux: a.Mux})
	}},
	{Name: "agent-session", Prefix: "agent-", Topics: agentsession.Topics, Init: func(a *App) (Runner, error) {
		deps := agentsession.Deps{Deps: service.Deps{Store: a.Store, Subscribers: a.Subscribers,
			Clock: a.Clock, Log: a.Log.With("service", "agent-session"), Metrics: a.Registry, Mux: a.Mux}}
		if a.Sealer != nil { // its Team Communicator forgets erased numbers
			deps.ContactKeys = a.Sealer
		}
		return agentsession.New(a.Config.AgentSession, deps)
	}},
	{Name: "media-gateway", Prefix: "media-", Topics: mediagateway.Topics, Init: func(a *App) (Runner, error) {
		return mediagateway.New(a.Config.Media, mediagateway.Deps{Deps: service.Deps{Store: a.Store, Subscribers: a.Subscribers,
			Clock: a.Clock, Log: a.Log.With("service", "media-gateway"), Metrics: a.Registry, Mux: a.Mux},
			Recordings: a.recordingSealer()})
	}},
	{Name: "history", Prefix: "history-", Topics: history.Topics, Init: func(a *App) (Runner, error) {
		return history.New(a.Config.History, history.Deps{Deps: service.Deps{Store: a.Store, Subscribers: a.Subscribers, Clock: a.Clock, Log: a.Log.With("service", "history"), Metrics: a.Registry, Mux: a.Mux}, Eraser: a.eraser()})
	}},
	{Name: "disposition", Prefix: "disposition-", Topics: disposition.Topics, Init: func(a *App) (Runner, error) {
		return disposition.New(a.Config.Disposition, disposition.Deps{Store: a.Store, Subscribers: a.Subscribers,
			Clock: a.Clock, Log: a.Log.With("service", "disposition"), Metrics: a.Registry, Mux: a.Mux})
	}},
}

func serviceNames() []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.Name
	}
	return out
}

// resolve turns --target into the targets to run, in start order.
func resolve(list string) ([]target, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		switch n {
		case "all":
			for _, t := range targets {
				want[t.Name] = true
			}
		case "":
		default:
			known := false
			for _, t := range targets {
				known = known || t.Name == n
			}
			if !known {
				names := serviceNames()
				sort.Strings(names)
				return nil, &usageError{"--target: unknown service " + n + " (known: all, " + strings.Join(names, ", ") + ")"}
			}
			want[n] = true
		}
	}
	var out []target
	for _, t := range targets {
		if want[t.Name] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, &usageError{"--target: no service named"}
	}
	return out, nil
}

func isAll(ts []target) bool { return len(ts) == len(targets) }
