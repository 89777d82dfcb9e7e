package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiles (net/http/pprof) on --debug-pprof, a
// listener of its own and off by default: a profile shows what the process
// holds, personal data included, so only an operator's loopback or a
// network nobody else reaches should see it. The intake benchmark reads
// the live heap from it (cmd/ringback/bench).
func (a *App) servePprof() error {
	if a.Config.DebugPprof == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.DebugPprof)
	if err != nil {
		return fmt.Errorf("debug-pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.serveAside(ln, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, "debug-pprof http")
	a.Log.Warn("Go profiles served without authentication", "debug_pprof", ln.Addr().String())
	return nil
}
