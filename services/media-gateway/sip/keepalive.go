package sip

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// The trunk is probed with OPTIONS every Config.KeepAlive (RFC 3261 11: a
// UA answers OPTIONS like an INVITE, without ringing). Any final response,
// whatever its code, shows the trunk is alive; keepAliveFailures probes in a
// row without one mark it down.
const (
	keepAliveFailures = 3
	// keepAliveTimeout bounds one probe: sipgo would wait for Timer F (32 s)
	// on UDP. A probe never outlasts the interval either.
	keepAliveTimeout = 5 * time.Second
)

type trunkState struct {
	client   *sipgo.Client
	up       atomic.Bool
	failures int // consecutive, owned by the probing goroutine
}

// TrunkUp reports whether the trunk answers the OPTIONS probes: false after
// keepAliveFailures probes in a row got no response, true again with the
// next response. It is true until probes say otherwise, and always when
// Config.KeepAlive is zero.
func (g *Gateway) TrunkUp() bool { return g.trunk.up.Load() }

// startKeepAlive probes the trunk until the returned stop is called; stop
// waits for the probe in flight.
func (g *Gateway) startKeepAlive() (stop func()) {
	if g.cfg.KeepAlive <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(g.cfg.KeepAlive)
		defer tick.Stop()
		for {
			g.probeTrunk(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (g *Gateway) probeTrunk(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, min(g.cfg.KeepAlive, keepAliveTimeout))
	defer cancel()
	req := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: g.trunkHost, Port: g.trunkPort})
	// The probe takes the calls' way to the trunk: over TLS it also checks
	// the trunk's certificate.
	req.SetTransport(strings.ToUpper(g.trunkTransport()))
	from := &sipgosip.FromHeader{
		Address: sipgosip.Uri{Scheme: "sip", User: g.cfg.CallerID, Host: g.host},
		Params:  sipgosip.NewParams(),
	}
	from.Params.Add("tag", sipgosip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(sipgosip.NewHeader("Accept", "application/sdp"))
	res, err := g.trunk.client.Do(pctx, req)
	if ctx.Err() != nil {
		return // stopping: not the trunk's fault
	}
	t := &g.trunk
	if err == nil {
		if t.failures >= keepAliveFailures {
			g.log.Info("sip: trunk up", "trunk", g.cfg.Trunk, "code", res.StatusCode)
		}
		t.failures = 0
		t.up.Store(true)
		return
	}
	t.failures++
	g.log.Debug("sip: trunk probe failed", "trunk", g.cfg.Trunk, "failures", t.failures, "error", err)
	if t.failures == keepAliveFailures {
		t.up.Store(false)
		g.log.Warn("sip: trunk down", "trunk", g.cfg.Trunk,
			"error", fmt.Sprintf("no answer to %d OPTIONS in a row: %v", keepAliveFailures, err))
	}
}
