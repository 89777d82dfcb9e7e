package index

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// benchCallbacks is how many callbacks the figures index.
const benchCallbacks = 100_000

// naive is the baseline: what a read model written without care keeps, a
// map of the shown items by id, filtered and sorted at every list.
type naive map[string]Item

func (n naive) list(f Filter, limit int) []Item {
	var out []Item
	for _, it := range n {
		if f.Services != nil && !slices.Contains(f.Services, it.Service) {
			continue
		}
		if f.States != nil && !slices.ContainsFunc(f.States, func(s callbackv1.CallbackState) bool {
			return it.State == s.String()[len("CALLBACK_STATE_"):]
		}) {
			continue
		}
		if (f.Phone != "" && it.PhoneNumber != f.Phone) || (f.Agent != "" && it.Agent != f.Agent) {
			continue
		}
		if (!f.From.IsZero() && it.RequestedAt.Before(f.From)) || (!f.To.IsZero() && !it.RequestedAt.Before(f.To)) {
			continue
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out[:min(limit, len(out))]
}

// benchWorld folds n callbacks of 50 services over 30 days, a third of
// them taken by one of 500 agents and half of those completed, one in ten
// cancelled, as the index is fed: CallbackRequested, then state changes.
func benchWorld(n int, x *Index) (phones []string) {
	rnd := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := start.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n))
		phone := fmt.Sprintf("+1415%07d", rnd.IntN(10_000_000))
		phones = append(phones, phone)
		var desired time.Time
		if i%2 == 0 {
			desired = at.Add(time.Duration(rnd.IntN(72)) * time.Hour)
		}
		x.Apply(requested(i+1, fmt.Sprintf("service-%02d", rnd.IntN(50)), phone, at, desired))
		switch r := rnd.IntN(30); {
		case r < 10:
			agent := fmt.Sprintf("agent-%03d", rnd.IntN(500))
			x.Apply(changed(i+1, inProgress, agent, at.Add(time.Minute)))
			if r < 5 {
				x.Apply(changed(i+1, completed, agent, at.Add(5*time.Minute)))
			}
		case r < 13:
			x.Apply(changed(i+1, cancelled, "", at.Add(time.Minute)))
		}
	}
	return phones
}

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchFilters are what a supervisor's search and an integration ask.
func benchFilters(phones []string, rnd *rand.Rand) []Filter {
	day := time.Date(2026, 11, 1+rnd.IntN(29), 0, 0, 0, 0, time.UTC)
	svc := fmt.Sprintf("service-%02d", rnd.IntN(50))
	return []Filter{
		{},
		{Services: []string{svc}},
		{Services: []string{svc}, States: []callbackv1.CallbackState{scheduled, queued}},
		{States: []callbackv1.CallbackState{inProgress}},
		{Phone: phones[rnd.IntN(len(phones))]},
		{Agent: fmt.Sprintf("agent-%03d", rnd.IntN(500))},
		{From: day, To: day.Add(24 * time.Hour)},
		{Services: []string{svc}, From: day, To: day.Add(24 * time.Hour), States: []callbackv1.CallbackState{completed}},
	}
}

// BenchmarkIndex prints the index's memory per callback and the p99 of a
// list of 50 with filters over 100,000 callbacks, beside the naive map.
func BenchmarkIndex(b *testing.B) {
	for range b.N {
		before := heap()
		x := New()
		phones := benchWorld(benchCallbacks, x)
		indexed := heap() - before
		// The baseline holds the same items, built from the index.
		before = heap()
		base := naive{}
		all, _ := x.List(Filter{}, nil, benchCallbacks)
		for _, it := range all {
			base[it.ID] = it
		}
		all = nil
		bare := heap() - before

		rnd := rand.New(rand.NewPCG(3, 4))
		// The baseline is slow: fewer rounds of it.
		const rounds, baseRounds = 200, 20
		var ours, theirs []time.Duration
		for round := range rounds {
			for _, f := range benchFilters(phones, rnd) {
				t := time.Now()
				items, next := x.List(f, nil, 50)
				if next != nil { // the second page too, by its cursor
					x.List(f, next, 50)
				}
				ours = append(ours, time.Since(t))
				if round >= baseRounds {
					continue
				}
				t = time.Now()
				if got := base.list(f, 50); len(got) != len(items) {
					b.Fatalf("%+v: %d items, the baseline %d", f, len(items), len(got))
				}
				theirs = append(theirs, time.Since(t))
			}
		}
		runtime.KeepAlive(base)
		fmt.Printf("intake index: %d callbacks: %.0f bytes per callback (naive map of items: %.0f); "+
			"list p99 %s, p50 %s over %d filtered lists of 50 and their next page (naive: p99 %s, p50 %s over %d)\n",
			x.Len(), float64(indexed)/benchCallbacks, float64(bare)/benchCallbacks,
			pct(ours, 99), pct(ours, 50), len(ours), pct(theirs, 99), pct(theirs, 50), len(theirs))
		b.ReportMetric(float64(indexed)/benchCallbacks, "B/callback")
		b.ReportMetric(float64(pct(ours, 99).Microseconds()), "p99-µs")
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
