package contact_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/contact"
)

// world is the store as the admission protocol sees it: one number's
// claim stream and the callbacks' streams, each appended only at the
// revision its writer read (an append at a stale revision is refused).
type world struct {
	now       time.Time
	claim     contact.State
	claimRev  int
	callbacks map[string]callback.State
}

func (w *world) holder(id, service string) contact.Holder {
	st := w.callbacks[id]
	return contact.Holder{Requested: st.Exists, Open: st.Open(), Voided: st.Voided,
		SameContact: st.Request.GetService() == service}
}

func (w *world) apply(id string, events []proto.Message) {
	for _, e := range events {
		w.callbacks[id] = callback.Evolve(w.callbacks[id], e)
	}
}

// open counts the open callbacks of the number, of one service or ("") all.
func (w *world) open(service string) int {
	n := 0
	for _, st := range w.callbacks {
		if st.Open() && (service == "" || st.Request.GetService() == service) {
			n++
		}
	}
	return n
}

// writer is one request going through admit.go's steps, one step at a
// time, so that the steps of many writers interleave: read the claim,
// void an abandoned holder, append the claim at the revision read, write
// the request; later, the visitor cancels and the number is released.
type writer struct {
	id      string
	service string
	step    int
	readRev int
	read    contact.State
	holders map[string]contact.Holder // as read before deciding: they may be stale by the append
	done    bool
	refused error
}

const (
	grace = 30 * time.Second
	max   = 2 // open callbacks per number, all services
)

func (r *writer) next(w *world) {
	req := &callbackv1.CallbackRequest{Service: r.service, PhoneNumber: "+14155550123", RequestedAt: timestamppb.New(w.now)}
	switch r.step {
	case 0: // read the claim stream
		r.read, r.readRev, r.step = w.claim, w.claimRev, 1
	case 1: // read the holders; void the abandoned (on their own streams, at what is there now), read them again
		r.holders = map[string]contact.Holder{}
		for id, hold := range r.read.Holders {
			h := w.holder(id, hold.Service)
			if contact.Abandoned(hold, h, w.now, grace) {
				if ev, err := callback.Decide(w.callbacks[id], callback.Void{ID: id, At: w.now}); err == nil {
					w.apply(id, ev)
				}
				h = w.holder(id, hold.Service)
			}
			r.holders[id] = h
		}
		r.step = 2
	case 2: // decide on what was read, and append the claim at the revision read
		ev, err := contact.Decide(r.read, contact.Claim{CallbackID: r.id, Service: r.service, At: w.now,
			Holders: r.holders, OnePerService: true, Max: max})
		switch {
		case err != nil:
			r.done, r.refused = true, err // 409
		case w.claimRev != r.readRev:
			r.step = 0 // conflict: read again
		default:
			for _, e := range ev {
				w.claim = contact.Evolve(w.claim, e)
			}
			w.claimRev += len(ev)
			r.step = 3
		}
	case 3: // write the request at "no stream"
		if ev, err := callback.Decide(w.callbacks[r.id], callback.Request{ID: r.id, Request: req, At: w.now}); err == nil {
			w.apply(r.id, ev)
			r.step = 4
		} else {
			r.done, r.refused = true, err // voided under it: 409
		}
	case 4: // the visitor cancels: final event, then release
		if ev, err := callback.Decide(w.callbacks[r.id], callback.Cancel{At: w.now}); err == nil {
			w.apply(r.id, ev)
		}
		r.step = 5
	case 5:
		if ev, _ := contact.Decide(w.claim, contact.Release{CallbackID: r.id, At: w.now}); len(ev) > 0 {
			for _, e := range ev {
				w.claim = contact.Evolve(w.claim, e)
			}
			w.claimRev += len(ev)
		}
		r.done = true
	}
}

var services = []string{"sales", "support", "billing"}

// TestProtocolNeverAdmitsTwoAndNeverBlocksForEver interleaves the steps of
// many writers for three services at random, kills some between any two
// steps, lets time pass, and checks after every step that the number never
// has two open callbacks of a service nor more than max in all; and that,
// whoever died where, a request after the grace is admitted unless its
// service has a callback really open or max are.
func TestProtocolNeverAdmitsTwoAndNeverBlocksForEver(t *testing.T) {
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		w := &world{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), callbacks: map[string]callback.State{}}
		var writers []*writer
		for i := range 2 + rng.IntN(6) {
			writers = append(writers, &writer{id: fmt.Sprintf("c%d", i), service: services[rng.IntN(len(services))]})
		}
		for steps := 0; steps < 200; steps++ {
			var live []*writer
			for _, r := range writers {
				if !r.done {
					live = append(live, r)
				}
			}
			if len(live) == 0 {
				break
			}
			r := live[rng.IntN(len(live))]
			switch x := rng.IntN(100); {
			case x < 5:
				r.done = true // killed between two steps
			case x < 15:
				w.now = w.now.Add(time.Duration(rng.IntN(40)) * time.Second)
			default:
				r.next(w)
			}
			if n := w.open(r.service); n > 1 {
				t.Fatalf("seed %d: %d open callbacks of %s for one number", seed, n, r.service)
			}
			if n := w.open(""); n > max {
				t.Fatalf("seed %d: %d open callbacks for one number, cap %d", seed, n, max)
			}
		}
		// Every writer gone; a new request after the grace.
		w.now = w.now.Add(grace)
		svc := services[rng.IntN(len(services))]
		before, beforeSvc := w.open(""), w.open(svc)
		last := &writer{id: "late", service: svc}
		for !last.done && last.step < 4 {
			last.next(w)
		}
		admitted := last.refused == nil
		if want := beforeSvc == 0 && before < max; admitted != want {
			t.Fatalf("seed %d: late request for %s admitted %v (%v) with %d open of it and %d in all; want %v",
				seed, svc, admitted, last.refused, beforeSvc, before, want)
		}
	}
}
