package queue

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// The routing figures of the performance issue: 10,000 agents logged in
// across 50 services, 1,000 callbacks falling due in the same second. The
// indexed Model is measured beside the naive scan (naive_test.go) doing the
// same work on the same events.
const (
	benchAgents   = 10_000
	benchServices = 50
	benchDue      = 1_000
)

// router is what both implementations offer the benchmark.
type router interface {
	Apply(proto.Message)
	Next(time.Time) (Action, bool)
}

// scenario is one deterministic world: service rules, the agents' events
// (skills, readiness, some already working) and the burst of due callbacks.
type scenario struct {
	rules  Rules
	agents []proto.Message
	due    []proto.Message
	now    time.Time
}

func newScenario(seed uint64, agents, due int) scenario {
	rnd := rand.New(rand.NewPCG(seed, 1))
	languages := []string{"english", "french", "german", "spanish", "italian"}
	products := []string{"billing", "tech", "sales", "returns", "loans", "cards", "insurance", "mortgage", "travel", "mobile"}
	sc := scenario{rules: Rules{OfferTimeout: 15 * time.Second, AgingStep: 30 * time.Second, MissedOffers: 2,
		Services: map[string]Service{}}, now: t0.Add(time.Hour)}
	names := make([]string, benchServices)
	for i := range names {
		names[i] = fmt.Sprintf("service-%02d", i)
		// A product at a level (1..5) and a language; every other service
		// needs a second product too.
		skills := map[string]int32{products[i%len(products)]: int32(1 + i/len(products)), languages[(i/2)%len(languages)]: 1}
		if i%2 == 1 {
			skills[products[(i+3)%len(products)]] = 1
		}
		sc.rules.Services[names[i]] = Service{Priority: rnd.IntN(10), Skills: skills}
	}
	for i := range agents {
		id := fmt.Sprintf("agent-%05d", i)
		skills := map[string]int32{languages[rnd.IntN(len(languages))]: int32(5 + rnd.IntN(6))}
		if rnd.IntN(3) == 0 {
			skills[languages[rnd.IntN(len(languages))]] = int32(1 + rnd.IntN(10))
		}
		for range 3 + rnd.IntN(3) {
			skills[products[rnd.IntN(len(products))]] = int32(1 + rnd.IntN(10))
		}
		idle := t0.Add(time.Duration(rnd.IntN(3600)) * time.Second)
		sc.agents = append(sc.agents, &routingv1.AgentSkillsChanged{AgentId: id, Skills: skills},
			&routingv1.AgentAvailabilityChanged{AgentId: id, Ready: rnd.IntN(10) != 0, At: timestamppb.New(idle)})
		if rnd.IntN(5) == 0 {
			// A fifth already work on a callback from earlier.
			w := fmt.Sprintf("earlier-%05d", i)
			sc.agents = append(sc.agents,
				&routingv1.InteractionQueued{InteractionId: w, Request: &callbackv1.CallbackRequest{Service: "earlier"},
					QueuedAt: timestamppb.New(idle)},
				&routingv1.InteractionOffered{InteractionId: w, AgentId: id, OfferId: w + ":1",
					OfferedAt: timestamppb.New(idle), ExpiresAt: timestamppb.New(idle.Add(15 * time.Second))},
				&routingv1.OfferAccepted{InteractionId: w, AgentId: id, OfferId: w + ":1", At: timestamppb.New(idle)})
		}
	}
	for i := range due {
		id := fmt.Sprintf("due-%04d", i)
		at := sc.now.Add(time.Duration(i) * time.Second / time.Duration(due)) // all within one second
		sc.due = append(sc.due, &routingv1.InteractionQueued{InteractionId: id, CallbackId: "cb-" + id, QueuedAt: timestamppb.New(at),
			Request: &callbackv1.CallbackRequest{Service: names[rnd.IntN(len(names))]}})
	}
	sc.now = sc.now.Add(time.Second)
	return sc
}

// burst is what one run of a burst measured.
type burst struct {
	decisions []time.Duration // each Next (and folding its offer), one per offer
	dueToOff  []time.Duration // from the burst's start to each callback's offer
	total     time.Duration
}

// fold gives r the world before the burst. The garbage of building it is
// collected here, so the burst that follows is measured on its own.
func (sc scenario) fold(r router) {
	for _, e := range sc.agents {
		r.Apply(e)
	}
	runtime.GC()
}

// burst times every due callback folded at once, then decisions until
// nothing is left to offer.
func (sc scenario) burst(r router) burst {
	var b burst
	start := time.Now()
	for _, e := range sc.due {
		r.Apply(e)
	}
	for {
		t := time.Now()
		a, ok := r.Next(sc.now)
		if !ok {
			break
		}
		if a.Kind != Offer {
			panic(fmt.Sprintf("unexpected action %+v", a))
		}
		r.Apply(&routingv1.InteractionOffered{InteractionId: a.Interaction, AgentId: a.Agent,
			OfferId: fmt.Sprintf("%s:%d", a.Interaction, a.Attempt), OfferedAt: timestamppb.New(sc.now),
			ExpiresAt: timestamppb.New(sc.now.Add(a.Timeout))})
		done := time.Now()
		b.decisions = append(b.decisions, done.Sub(t))
		b.dueToOff = append(b.dueToOff, done.Sub(start))
	}
	b.total = time.Since(start)
	return b
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

type figures struct {
	offers                   int
	p50, p99, dueP50, dueP99 time.Duration
	perSecond                float64
}

func measure(sc scenario, rounds int, mk func(Rules) router) figures {
	var all burst
	for range rounds {
		r := mk(sc.rules)
		sc.fold(r)
		b := sc.burst(r)
		all.decisions = append(all.decisions, b.decisions...)
		all.dueToOff = append(all.dueToOff, b.dueToOff...)
		all.total += b.total
	}
	return figures{offers: len(all.decisions) / rounds,
		p50: percentile(all.decisions, 0.50), p99: percentile(all.decisions, 0.99),
		dueP50: percentile(all.dueToOff, 0.50), dueP99: percentile(all.dueToOff, 0.99),
		perSecond: float64(len(all.decisions)) / all.total.Seconds()}
}

func indexedRouter(r Rules) router { return New(r) }
func naiveRouter(r Rules) router   { return newNaive(r) }

// BenchmarkRouting prints the one-line summary the performance issue asks
// for, then runs the indexed model as an ordinary sub-benchmark (one op is
// one burst of 1,000 due callbacks). The naive scan runs once, for the
// summary only: one burst takes it tens of seconds.
func BenchmarkRouting(b *testing.B) {
	sc := newScenario(1, benchAgents, benchDue)
	fast, slow := measure(sc, 20, indexedRouter), measure(sc, 1, naiveRouter)
	if fast.offers != slow.offers {
		b.Fatalf("indexed made %d offers, naive %d", fast.offers, slow.offers)
	}
	fmt.Printf("routing: %d agents/%d services, %d due in one second (%d offered): "+
		"decision p50 %s p99 %s, due->offer p50 %s p99 %s, %.0f decisions/s; "+
		"naive scan decision p50 %s p99 %s, due->offer p50 %s p99 %s, %.0f/s (%.0fx)\n",
		benchAgents, benchServices, benchDue, fast.offers,
		fast.p50, fast.p99, fast.dueP50, fast.dueP99, fast.perSecond,
		slow.p50, slow.p99, slow.dueP50, slow.dueP99, slow.perSecond, fast.perSecond/slow.perSecond)
	b.ReportMetric(fast.perSecond, "decisions/s")
	b.ReportMetric(float64(fast.p99.Nanoseconds()), "p99-decision-ns")
	b.ReportMetric(float64(fast.dueP99.Nanoseconds()), "p99-due-to-offer-ns")
	b.ReportMetric(slow.perSecond, "naive-decisions/s")
	b.Run("indexed", func(b *testing.B) {
		var (
			decisions int
			spent     time.Duration
		)
		for b.Loop() {
			b.StopTimer()
			m := New(sc.rules)
			sc.fold(m)
			b.StartTimer()
			bu := sc.burst(m)
			decisions += len(bu.decisions)
			spent += bu.total
		}
		b.ReportMetric(float64(decisions)/spent.Seconds(), "decisions/s")
	})
}

// TestScenarioOffersEveryCallback keeps the benchmark honest: both
// implementations route the whole burst, to the same agents.
func TestScenarioOffersEveryCallback(t *testing.T) {
	if testing.Short() {
		t.Skip("routes a 10,000-agent scenario twice")
	}
	sc := newScenario(2, 1_000, 200)
	got := map[string]string{}
	m := New(sc.rules)
	n := newNaive(sc.rules)
	for _, e := range append(slices.Clone(sc.agents), sc.due...) {
		m.Apply(e)
		n.Apply(e)
	}
	for {
		a, ok := m.Next(sc.now)
		na, nok := n.Next(sc.now)
		if ok != nok || !sameAction(a, na) {
			t.Fatalf("indexed %+v %v, naive %+v %v", a, ok, na, nok)
		}
		if !ok {
			break
		}
		got[a.Interaction] = a.Agent
		e := &routingv1.InteractionOffered{InteractionId: a.Interaction, AgentId: a.Agent, OfferId: a.Interaction + ":1",
			OfferedAt: timestamppb.New(sc.now), ExpiresAt: timestamppb.New(sc.now.Add(a.Timeout))}
		m.Apply(e)
		n.Apply(e)
	}
	if len(got) < 100 {
		t.Fatalf("only %d of 200 callbacks offered: the scenario lacks qualified agents", len(got))
	}
}
