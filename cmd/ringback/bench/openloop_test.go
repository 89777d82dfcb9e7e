package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// driveOpen offers v's requests to base at rate per second for d, as
// visitors arrive: independently of one another (exponential gaps), each
// sent when it is due on a free connection of up to conns (an open loop).
// A request's latency runs from when it was due, not from when a
// connection was free, so a stall counts against every request it held
// up, as it would for the visitors behind it; a closed loop's clients
// instead stop asking while they wait, and its latency is its clients
// over its rate whatever the platform does (Little's law).
func driveOpen(ctx context.Context, base string, v intakeVariant, rate float64, conns int, d time.Duration, next *atomic.Int64) (loadRun, error) {
	client, closeIdle := benchClient(conns)
	defer closeIdle()
	// The schedule, drawn before the clock starts: seconds after start.
	r := rand.New(rand.NewPCG(1, 2))
	var due []time.Duration
	for at := time.Duration(0); at < d; at += time.Duration(r.ExpFloat64() / rate * float64(time.Second)) {
		due = append(due, at)
	}
	var (
		wg    sync.WaitGroup
		taken atomic.Int64
	)
	start := time.Now()
	ts := make([]*tally, conns)
	for c := range ts {
		t := &tally{lats: make([]time.Duration, 0, len(due)/conns+16)}
		ts[c] = t
		wg.Go(func() {
			for {
				k := taken.Add(1) - 1
				if k >= int64(len(due)) || ctx.Err() != nil {
					return
				}
				at := start.Add(due[k])
				if wait := time.Until(at); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
				t.send(ctx, client, base, v, next.Add(1), at)
			}
		})
	}
	wg.Wait()
	return totals(loadRun{elapsed: time.Since(start)}, ts, v.name)
}
