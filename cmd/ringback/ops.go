package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
)

// routes registers the binary's own routes, as route tables like the
// services' (issue 16): the probes answer anyone (a kubelet has no token),
// the operator's routes (metrics, the route list) need an operator's token
// once the agents file is on, or are served without one on --ops-http only.
func (a *App) routes() error {
	dir, err := agentauth.Load(a.Config.Agents)
	if err != nil {
		return err
	}
	a.agents = dir
	probes := []agentauth.Route{
		{Pattern: "GET /healthz", Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, _ *http.Request) error {
			_, _ = io.WriteString(w, "ok\n")
			return nil
		}},
		{Pattern: "GET /readyz", Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, r *http.Request) error {
			a.readyz(w, r)
			return nil
		}},
	}
	metrics := promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{})
	ops := []agentauth.Route{
		{Pattern: "GET /metrics", Roles: agentauth.RoleOperator, Handle: func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		}},
		{Pattern: "GET /admin/routes", Roles: agentauth.RoleOperator, Handle: a.listRoutes},
	}
	a.tables = append(append(a.tables, probes...), ops...)
	if err := a.servePprof(); err != nil {
		return err
	}
	agentauth.Register(a.Mux, a.Log, dir, probes)
	if a.Config.OpsHTTP == "" {
		agentauth.Register(a.Mux, a.Log, dir, ops)
		return nil
	}
	// Its own listener: whoever reaches it is the operator (a network
	// policy says who), so Prometheus scrapes without a token.
	mux := http.NewServeMux()
	agentauth.Register(mux, a.Log, nil, ops)
	return a.serveOps(mux)
}

// serveOps serves mux on --ops-http until the app closes.
func (a *App) serveOps(mux *http.ServeMux) error {
	ln, err := net.Listen("tcp", a.Config.OpsHTTP)
	if err != nil {
		return fmt.Errorf("ops http listen: %w", err)
	}
	lim := a.Config.HTTPLimits
	srv := &http.Server{Handler: httpx.Problems(mux, a.Log), ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout: lim.ReadTimeout, WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout,
		MaxHeaderBytes: lim.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug)}
	a.serveAside(ln, srv, "ops http")
	a.Log.Info("operator routes on their own listener", "ops_http", ln.Addr().String())
	return nil
}

// serveAside serves srv on ln beside the main listener until the app
// closes, which shuts it down gracefully (5 s) and waits for it.
func (a *App) serveAside(ln net.Listener, srv *http.Server, name string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error(name, "err", err)
		}
	}()
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		<-done
		return err
	})
}

// routeView is one route of GET /admin/routes.
type routeView struct {
	Pattern string   `json:"pattern"`
	Roles   []string `json:"roles"`
	// Entitled: beyond the roles, the route checks what the path names is
	// the caller's (an agent's own interaction, a supervisor's service).
	Entitled bool `json:"entitled"`
}

// listRoutes is the authorisation model of this process, from the route
// tables themselves: what an auditor reads, and what the route × role test
// walks.
func (a *App) listRoutes(w http.ResponseWriter, _ *http.Request) error {
	out := make([]routeView, 0, len(a.tables))
	for _, rt := range a.tables {
		out = append(out, routeView{Pattern: rt.Pattern, Roles: append([]string{}, rt.Roles.Names()...),
			Entitled: rt.Entitle != nil})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"routes": out})
	return nil
}
