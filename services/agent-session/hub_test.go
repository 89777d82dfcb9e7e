package agentsession

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
)

func at(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }

// TestHubFansOutToManyStreams: every stream gets its agent's events, only
// those, once and in order; an event is rendered once however many
// streams its agent has, and not at all when it has none.
func TestHubFansOutToManyStreams(t *testing.T) {
	const agents, perAgent, events = 50, 3, 5000
	h := newHub()
	var wg sync.WaitGroup
	got := make([][]string, agents*perAgent)
	for a := range agents {
		for k := range perAgent {
			sub, _ := h.subscribe(fmt.Sprint("a", a), streamBuffer)
			wg.Add(1)
			go func(i int) { // a desktop keeping up
				defer wg.Done()
				for {
					select {
					case f := <-sub.frames:
						if string(f.data) == "end" {
							return
						}
						got[i] = append(got[i], string(f.data))
					case <-sub.lost:
						t.Errorf("stream %d dropped", i)
						return
					}
				}
			}(a*perAgent + k)
		}
	}
	rendered := 0
	for n := range events {
		a := n % (agents + 10) // ten agents nobody watches
		h.publish(at(uint64(n+1)), fmt.Sprint("a", a), func(eventstore.Position) []byte {
			rendered++
			return []byte(fmt.Sprint(n))
		})
		if n%100 == 0 {
			time.Sleep(time.Millisecond) // let the desktops drain, as a fold's pace would
		}
	}
	for a := range agents {
		h.publish(at(events+1), fmt.Sprint("a", a), func(eventstore.Position) []byte { return []byte("end") })
	}
	wg.Wait()
	if want := events / (agents + 10) * agents; rendered < want || rendered > want+agents {
		t.Fatalf("rendered %d times, want one per watched event (~%d)", rendered, want)
	}
	for i, g := range got {
		a := i / perAgent
		want := 0
		for n := range events {
			if n%(agents+10) != a {
				continue
			}
			if want >= len(g) || g[want] != fmt.Sprint(n) {
				t.Fatalf("stream %d of a%d: event %d is %v, want %d", i%perAgent, a, want, g[min(want, len(g)-1)], n)
			}
			want++
		}
		if want != len(g) {
			t.Fatalf("stream %d of a%d got %d events, want %d", i%perAgent, a, len(g), want)
		}
	}
}

// TestHubDropsASlowStreamWithoutBlocking: a desktop that reads nothing
// fills its buffer, then is dropped and told (lost); publish never waits for
// it, and its agent's other stream gets every event.
func TestHubDropsASlowStreamWithoutBlocking(t *testing.T) {
	h := newHub()
	slow, _ := h.subscribe("a1", 4)
	fast, _ := h.subscribe("a1", 1000)
	done := make(chan int)
	go func() {
		dropped := 0
		for n := range 100 {
			dropped += h.publish(at(uint64(n+1)), "a1", func(eventstore.Position) []byte { return []byte{byte(n)} })
		}
		done <- dropped
	}()
	select {
	case dropped := <-done:
		if dropped != 1 {
			t.Fatalf("dropped %d streams, want 1", dropped)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish blocked on a slow stream")
	}
	select {
	case <-slow.lost:
	default:
		t.Fatal("slow stream not told it was dropped")
	}
	if len(slow.frames) != 4 {
		t.Fatalf("slow stream kept %d frames, want its 4 first", len(slow.frames))
	}
	for n := range 4 {
		if f := <-slow.frames; f.pos != at(uint64(n+1)) {
			t.Fatalf("slow stream frame %d at %v", n, f.pos)
		}
	}
	if len(fast.frames) != 100 {
		t.Fatalf("fast stream got %d of 100", len(fast.frames))
	}
	if h.streams() != 1 {
		t.Fatalf("%d streams left, want the fast one", h.streams())
	}
	h.unsubscribe(slow) // a handler's deferred unsubscribe after a drop
	h.unsubscribe(fast)
	if h.streams() != 0 {
		t.Fatalf("%d streams left", h.streams())
	}
}

// TestHubSubscribeSaysFromWhere: a stream receives exactly the events after
// the position subscribe returns, so a snapshot or a catch-up up to it
// leaves no gap and no overlap.
func TestHubSubscribeSaysFromWhere(t *testing.T) {
	h := newHub()
	frame := func(eventstore.Position) []byte { return []byte("x") }
	h.publish(at(1), "a1", frame)
	h.publish(at(2), "other", frame)
	sub, from := h.subscribe("a1", 8)
	if from != at(2) {
		t.Fatalf("from %v, want the last event published", from)
	}
	h.publish(at(3), "a1", frame)
	if f := <-sub.frames; f.pos != at(3) || len(sub.frames) != 0 {
		t.Fatalf("got %v (+%d), want only the event after from", f.pos, len(sub.frames))
	}
}
