// Package bench measures the performance issue's thin-path figure against
// the built binary, each beside a baseline measured in the same run. It
// holds benchmarks only: `make test` compiles it and runs nothing. Run it
// with `make bench`, or:
//
//	go test -run '^$' -bench ThinPath -benchtime 1x ./bench/
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// The figure, from the performance issue: "Thin path latency: from `call`
// to the contact's INVITE, and from the contact's 200 OK to `Connected` on
// the agent's stream, p50/p99 over 200 calls, single process. Target p99
// under 20 ms each."
const (
	defaultCalls = 200
	warmupCalls  = 5 // first connections, page faults: not the steady state
	target       = 20 * time.Millisecond
	agentID      = "bench-agent-1"
	stepTimeout  = 20 * time.Second
)

// BenchmarkThinPath runs the whole workload once, whatever b.N (use
// -benchtime 1x): the figure is a distribution over a fixed number of calls.
// $RINGBACK_BENCH_CALLS overrides the 200 calls; $RINGBACK_BENCH_KEEP, a
// directory that does not exist yet, keeps the platform's data and log there
// for a look afterwards.
func BenchmarkThinPath(b *testing.B) {
	calls := defaultCalls
	if v := os.Getenv("RINGBACK_BENCH_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RINGBACK_BENCH_CALLS=%q: want a positive number", v)
		}
		calls = n
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	bin, err := binaryPath(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}

	// One Go UA plays every agent phone and the trunk; it is also the UAS
	// of the baseline, so both figures cross the same SIP stack.
	phones, err := startUA(ctx, "bench-phones")
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := phones.close(); err != nil {
			b.Errorf("close phones UA: %v", err)
		}
	}()

	base, err := baseline(ctx, phones, calls)
	if err != nil {
		b.Fatal(err)
	}

	pdir := dir
	if keep := os.Getenv("RINGBACK_BENCH_KEEP"); keep != "" {
		if err := os.Mkdir(keep, 0o755); err != nil {
			b.Fatalf("RINGBACK_BENCH_KEEP: %v", err)
		}
		pdir = keep
	}
	p, err := startPlatform(ctx, bin, pdir, phones.Addr)
	if err != nil {
		b.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			if err := p.stop(); err != nil {
				b.Error(err)
			}
		}
	}()
	runs, err := thinPath(ctx, p, phones, calls)
	stopped = true
	if serr := p.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		b.Fatal(err)
	}
	// The platform is stopped: its store can be opened to see where the
	// time went, from the times the store stamped on each event.
	hops, herr := breakdown(p.Data, runs)

	invite, connect := dist(runs, func(r callRun) time.Duration { return r.contact.Invite.Sub(r.callAt) }),
		dist(runs, func(r callRun) time.Duration { return r.connectedAt.Sub(r.contact.OK) })
	b.ReportMetric(ms(invite.p99), "call-invite-p99-ms")
	b.ReportMetric(ms(connect.p99), "ok-connected-p99-ms")
	// fmt, not b.Logf, as in the store's benchmark: make bench shows the
	// lines without -v.
	fmt.Printf("thin path (%d calls, 1 process): call->contact INVITE p50 %.2f ms p99 %.2f ms max %.2f ms; "+
		"contact 200->Connected p50 %.2f ms p99 %.2f ms max %.2f ms (target p99 < %d ms each: %s); "+
		"baseline Go UA on loopback: INVITE one-way p50 %.2f ms p99 %.2f ms, 200 one-way p50 %.2f ms p99 %.2f ms\n",
		len(runs), ms(invite.p50), ms(invite.p99), ms(invite.max), ms(connect.p50), ms(connect.p99), ms(connect.max),
		target.Milliseconds(), verdict(invite.p99 < target && connect.p99 < target),
		ms(base.invite.p50), ms(base.invite.p99), ms(base.ok.p50), ms(base.ok.p99))
	if herr != nil {
		fmt.Printf("thin path breakdown unavailable: %v\n", herr)
		return
	}
	for _, h := range hops {
		fmt.Printf("  %-58s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", h.name, ms(h.d.p50), ms(h.d.p99), ms(h.d.max))
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// callRun is what one call's measurement saw, in this process's clock.
type callRun struct {
	interaction, callID string
	callAt              time.Time // just before POST /call
	agent, contact      leg       // from the UA's socket
	connectedAt         time.Time // "Connected" read off the agent's stream
}

// thinPath logs an agent in with a phone on the UA and drives calls (after
// warmupCalls unmeasured ones) along the thin path, one after the other.
func thinPath(ctx context.Context, p *platform, phones *ua, calls int) ([]callRun, error) {
	phone := "sip:" + agentID + "@" + phones.Addr
	if err := p.do(ctx, "POST", "/v1/agents/"+agentID+"/session", map[string]string{"phone_uri": phone}, nil); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if err := p.do(ctx, "PUT", "/v1/agents/"+agentID+"/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); err != nil {
		return nil, fmt.Errorf("ready: %w", err)
	}
	s, err := p.events(ctx, agentID)
	if err != nil {
		return nil, err
	}
	defer s.close()
	d := driver{p: p, phones: phones, s: s}
	runs := make([]callRun, 0, calls)
	for i := range warmupCalls + calls {
		r, err := d.one(ctx, fmt.Sprintf("+1415555%04d", i))
		if err != nil {
			return nil, fmt.Errorf("call %d of %d: %w", i+1, warmupCalls+calls, err)
		}
		if i >= warmupCalls {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

type driver struct {
	p      *platform
	phones *ua
	s      *stream
	seen   int // events of s already consumed
}

// one takes a callback from request to Done and measures its call.
func (d *driver) one(ctx context.Context, number string) (callRun, error) {
	var cb struct {
		ID string `json:"id"`
	}
	err := d.p.do(ctx, "POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": number, "subject": "Bench"}, &cb)
	if err != nil {
		return callRun{}, err
	}
	offer, err := d.s.next(ctx, &d.seen, "offer of callback "+cb.ID, stepTimeout,
		func(e pushed) bool { return e.Name == "offer" && e.View.CallbackID == cb.ID })
	if err != nil {
		return callRun{}, err
	}
	ix := offer.View.ID
	is := func(status string) func(pushed) bool {
		return func(e pushed) bool { return e.Name == "interaction" && e.View.ID == ix && e.View.Status == status }
	}
	if err := d.p.do(ctx, "POST", "/v1/interactions/"+ix+"/accept", nil, nil); err != nil {
		return callRun{}, err
	}
	if _, err := d.s.next(ctx, &d.seen, "Ready to Call", stepTimeout, is("Ready to Call")); err != nil {
		return callRun{}, err
	}

	r := callRun{interaction: ix}
	var view struct {
		CallID string `json:"call_id"`
	}
	r.callAt = time.Now()
	if err := d.p.do(ctx, "POST", "/v1/interactions/"+ix+"/call", nil, &view); err != nil {
		return callRun{}, err
	}
	r.callID = view.CallID
	settled, err := d.s.next(ctx, &d.seen, "Connected", stepTimeout, func(e pushed) bool {
		return is("Connected")(e) || is("Ready to Call")(e) // Ready to Call again: the attempt failed
	})
	if err != nil {
		return callRun{}, err
	}
	if settled.View.Status != "Connected" {
		return callRun{}, fmt.Errorf("call to %s did not connect: %s (%s)\n%s", number, settled.View.Status, settled.View.Reason, d.p.tail())
	}
	r.connectedAt = settled.At
	var ok bool
	if r.contact, ok = d.phones.tap.find(number, r.callAt); !ok || r.contact.OK.IsZero() {
		return callRun{}, fmt.Errorf("connected, but the UA saw no answered INVITE for %s", number)
	}
	if r.agent, ok = d.phones.tap.find(agentID, r.callAt); !ok || r.agent.OK.IsZero() {
		return callRun{}, fmt.Errorf("connected, but the UA saw no answered INVITE for the agent phone")
	}

	if err := d.p.do(ctx, "POST", "/v1/interactions/"+ix+"/end-call", nil, nil); err != nil {
		return callRun{}, err
	}
	if err := d.p.do(ctx, "PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "resolved"}, nil); err != nil {
		return callRun{}, err
	}
	// Done needs the disposition noted by agent-session, which learns it
	// from the bus.
	if _, err := d.s.next(ctx, &d.seen, "disposition noted", stepTimeout, func(e pushed) bool {
		return e.Name == "interaction" && e.View.ID == ix && e.View.Disposition == "resolved"
	}); err != nil {
		return callRun{}, err
	}
	if err := d.p.do(ctx, "POST", "/v1/interactions/"+ix+"/done", nil, nil); err != nil {
		return callRun{}, err
	}
	return r, nil
}

// baselineRun is the same Go UA on loopback, without the platform: a second
// UA in this process calls the phones' UA directly.
type baselineRun struct{ invite, ok stats }

// baseline places warmupCalls+calls direct calls (INVITE, 200, ACK, BYE)
// and measures both one-way trips: UAC about to send the INVITE -> UAS
// socket read (what `call -> contact INVITE` would be with a platform
// costing nothing), and UAS 200 written -> UAC's Invite returned with it.
func baseline(ctx context.Context, uas *ua, calls int) (baselineRun, error) {
	uac, err := startUA(ctx, "bench-caller")
	if err != nil {
		return baselineRun{}, err
	}
	defer uac.close()
	var invite, ok []time.Duration
	for i := range warmupCalls + calls {
		user := fmt.Sprintf("baseline-%d", i)
		sent, answered, callID, err := uac.call(ctx, user, uas.Addr)
		if err != nil {
			return baselineRun{}, err
		}
		l, found := uas.tap.byCallID(callID)
		if !found || l.OK.IsZero() {
			return baselineRun{}, fmt.Errorf("baseline: the UAS saw no answered INVITE %s", callID)
		}
		if i >= warmupCalls {
			invite = append(invite, l.Invite.Sub(sent))
			ok = append(ok, answered.Sub(l.OK))
		}
	}
	return baselineRun{invite: summarize(invite), ok: summarize(ok)}, nil
}
