package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/eventstore/embedded"
)

// stats is a latency distribution; percentiles by nearest rank.
type stats struct{ p50, p99, max time.Duration }

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return stats{p50: rank(0.50), p99: rank(0.99), max: s[len(s)-1]}
}

func dist(runs []callRun, f func(callRun) time.Duration) stats {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = f(r)
	}
	return summarize(ds)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// hop is one step of the thin path and its distribution.
type hop struct {
	name string
	d    stats
}

// stored is when the platform's store stamped the first event of a type in
// a stream: the writer's clock at the start of the group commit that holds
// it, before its write and fsync (embedded/writer.go). The platform runs on
// this machine, so its wall clock is ours.
type stored map[string]time.Time

// breakdown splits both figures at the events the platform stored on the
// way, read back from its (stopped) store:
//
//	POST /call -> DialRequested (agent-session) -> DialStarted (media-gateway,
//	after relay and bus) -> agent INVITE -> agent 200 -> AgentAnswered ->
//	contact INVITE;  contact 200 -> CallConnected (media-gateway) ->
//	CallStatusChanged (agent-session, after relay and bus) -> SSE read.
//
// Each "-> X stored" hop includes the wait for the store writer; the fsync
// of X falls in the hop after it.
func breakdown(dataDir string, runs []callRun) ([]hop, error) {
	st, err := embedded.Open(filepath.Join(dataDir, "store"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ctx := context.Background()
	read := func(stream string) (stored, error) {
		recs, err := st.ReadStream(ctx, stream, 0)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		out := stored{}
		for _, r := range recs {
			name := r.Type[strings.LastIndex(r.Type, ".")+1:]
			if _, seen := out[name]; !seen {
				out[name] = r.Time
			}
		}
		return out, nil
	}
	const nHops = 9
	ds := make([][]time.Duration, nHops)
	for _, r := range runs {
		ix, err := read("agent-interaction-" + r.interaction)
		if err != nil {
			return nil, err
		}
		call, err := read("media-call-" + r.callID)
		if err != nil {
			return nil, err
		}
		marks := []time.Time{r.callAt, ix["DialRequested"], call["DialStarted"], r.agent.Invite, r.agent.OK,
			call["AgentAnswered"], r.contact.Invite}
		tail := []time.Time{r.contact.OK, call["CallConnected"], ix["CallStatusChanged"], r.connectedAt}
		for _, m := range append(slices.Clone(marks), tail...) {
			if m.IsZero() {
				return nil, fmt.Errorf("interaction %s, call %s: an expected event is missing from the store", r.interaction, r.callID)
			}
		}
		for i := range len(marks) - 1 {
			ds[i] = append(ds[i], wall(marks[i+1], marks[i]))
		}
		for i := range len(tail) - 1 {
			ds[len(marks)-1+i] = append(ds[len(marks)-1+i], wall(tail[i+1], tail[i]))
		}
	}
	names := []string{
		"a1 POST /call -> DialRequested stored (agent-session)",
		"a2 -> DialStarted stored (relay, bus, media-gateway)",
		"a3 -> agent phone INVITE read",
		"a4 agent INVITE -> 200 written (the UA, not the platform)",
		"a5 agent 200 -> AgentAnswered stored (media-gateway)",
		"a6 -> contact INVITE read",
		"b1 contact 200 -> CallConnected stored (media-gateway)",
		"b2 -> CallStatusChanged stored (relay, bus, agent-session)",
		"b3 -> Connected read off the SSE stream",
	}
	hops := make([]hop, nHops)
	for i := range hops {
		hops[i] = hop{name: names[i], d: summarize(ds[i])}
	}
	return hops, nil
}

// wall is b-a on the wall clock: store times come from another process and
// carry no monotonic reading.
func wall(b, a time.Time) time.Duration { return b.Round(0).Sub(a.Round(0)) }
