package router_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// The service-level routing figure: the router on the embedded store (every
// append durable, fsyncs shared by concurrent appends), 10,000 agents ready
// across 50 services, 1,000 CallbackDue appended at once. Measured: wall time
// from each CallbackDue being stored to its InteractionOffered being stored,
// with the dispatcher writing batches (the default) and one offer at a time.
const (
	svcAgents   = 10_000
	svcServices = 50
	svcDue      = 1_000
)

func BenchmarkRoutingService(b *testing.B) {
	var lines []string
	for _, batch := range []int{64, 1} {
		lines = append(lines, measureService(b, batch, 0))
	}
	fmt.Printf("routing service: %d agents/%d services, %d due at once, embedded store: %s\n",
		svcAgents, svcServices, svcDue, strings.Join(lines, "; "))
	// The reading: 1,000 callbacks falling due within the same
	// second, as the scheduler fires them.
	fmt.Printf("routing service: %d agents/%d services, %d due spread over one second, embedded store: %s\n",
		svcAgents, svcServices, svcDue, measureService(b, 64, time.Second))
	for b.Loop() {
		// The figures above are the measure; one burst per run is enough.
	}
}

// measureService appends the due callbacks all at once (spread 0) or evenly
// over spread, and measures each one's time to its offer.
func measureService(b *testing.B, batch int, spread time.Duration) string {
	rnd := rand.New(rand.NewPCG(1, 2))
	languages := []string{"english", "french", "german", "spanish", "italian"}
	products := []string{"billing", "tech", "sales", "returns", "loans", "cards", "insurance", "mortgage", "travel", "mobile"}
	var services, names []string
	for i := range svcServices {
		name := fmt.Sprintf("service-%02d", i)
		names = append(names, name)
		services = append(services, fmt.Sprintf("%s=skills:%s>=%d,%s;priority:%d", name,
			products[i%len(products)], 1+i/len(products), languages[(i/2)%len(languages)], rnd.IntN(10)))
	}
	seed := func(env *servicetest.Env) {
		// The agents' logins and readiness, written as the router would have
		// recorded them: 20,000 events through the bus would measure the
		// inbox, not routing.
		var agents [][]proto.Message
		for i := range svcAgents {
			id := fmt.Sprintf("agent-%05d", i)
			skills := map[string]int32{languages[rnd.IntN(len(languages))]: int32(5 + rnd.IntN(6))}
			for range 3 + rnd.IntN(3) {
				skills[products[rnd.IntN(len(products))]] = int32(1 + rnd.IntN(10))
			}
			at := timestamppb.New(servicetest.Start.Add(-time.Duration(rnd.IntN(3600)) * time.Second))
			agents = append(agents, []proto.Message{&routingv1.AgentSkillsChanged{AgentId: id, Skills: skills, At: at},
				&routingv1.AgentAvailabilityChanged{AgentId: id, Ready: true, At: at}})
		}
		concurrently(b, len(agents), func(i int) error {
			id := agents[i][0].(*routingv1.AgentSkillsChanged).AgentId
			return appendNew(env, "router-agent-"+id, "seed-"+id, agents[i]...)
		})
	}
	env := startWith(b, []string{"--router.services", strings.Join(services, ";"),
		"--router.dispatch-batch", fmt.Sprint(batch)}, seed)
	waitUntil(env, "router folds the agents", func() bool {
		var q queueJSON
		env.Do(http.MethodGet, "/v1/queues/no-skills-needed", nil, &q)
		return q.AgentsReady == svcAgents
	})

	// Watch the store for queued and offered interactions.
	var (
		mu      sync.Mutex
		queued  = map[string]time.Time{}
		offered = map[string]time.Time{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		_ = env.Store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
			now := time.Now()
			switch r.Type {
			case "ringback.routing.v1.InteractionQueued", "ringback.routing.v1.InteractionOffered":
				id := strings.TrimPrefix(r.Stream, "router-interaction-")
				mu.Lock()
				if strings.HasSuffix(r.Type, "Queued") {
					queued[id] = now
				} else if _, ok := offered[id]; !ok {
					offered[id] = now
				}
				mu.Unlock()
			}
			return nil
		})
	}()
	defer func() { cancel(); <-watching }()

	due := make([]time.Time, svcDue)
	start := time.Now()
	concurrently(b, svcDue, func(i int) error {
		if spread > 0 {
			time.Sleep(time.Until(start.Add(spread * time.Duration(i) / svcDue)))
		}
		id := fmt.Sprintf("%04d", i)
		err := appendNew(env, "scheduler-callback-c"+id, "due-"+id, &callbackv1.CallbackDue{CallbackId: "c" + id,
			InteractionId: "i" + id, DueAt: timestamppb.New(env.Clock.Now()),
			Request: &callbackv1.CallbackRequest{Service: names[i%len(names)], PhoneNumber: "+14155550123"}})
		due[i] = time.Now()
		return err
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(offered)
		mu.Unlock()
		if n == svcDue {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("batch %d: %d of %d offered within 2 minutes", batch, n, svcDue)
		}
		time.Sleep(time.Millisecond)
	}
	all := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	var toQueued, toOffer, queuedToOffer []time.Duration
	for i, t := range due {
		id := fmt.Sprintf("i%04d", i)
		toQueued = append(toQueued, max(0, queued[id].Sub(t)))
		toOffer = append(toOffer, max(0, offered[id].Sub(t)))
		queuedToOffer = append(queuedToOffer, max(0, offered[id].Sub(queued[id])))
	}
	return fmt.Sprintf("dispatch batch %d: due->offer p50 %s p99 %s (of which due->queued, the inbox: p50 %s p99 %s; "+
		"queued->offer, the dispatcher: p50 %s p99 %s), %.0f offers/s",
		batch, pct(toOffer, 0.5), pct(toOffer, 0.99), pct(toQueued, 0.5), pct(toQueued, 0.99),
		pct(queuedToOffer, 0.5), pct(queuedToOffer, 0.99), float64(svcDue)/all.Seconds())
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))].Round(100 * time.Microsecond)
}

// appendNew writes events to a stream that does not exist yet.
func appendNew(env *servicetest.Env, stream, cause string, events ...proto.Message) error {
	data, err := eventstore.Encode(context.Background(), stream, eventstore.Cause{ID: cause}, events)
	if err != nil {
		return err
	}
	_, err = env.Store.Append(context.Background(), stream, eventstore.NoStream, data...)
	return err
}

// concurrently runs f(0..n-1) on 64 goroutines, as many writers sharing
// the store's fsyncs.
func concurrently(tb testing.TB, n int, f func(i int) error) {
	tb.Helper()
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		errs = make(chan error, n)
	)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}
