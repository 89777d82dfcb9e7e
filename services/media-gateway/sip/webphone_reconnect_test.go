//go:build opus

package sip_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// TestBrowserPhoneTakesItsCallBack: the agent's browser goes mid-call (a
// reload) without hanging up. A new connection replaces the old one while
// it is still up, or takes the call back once it is gone, within the
// reconnect grace; the contact hears the new one each time. Past the
// grace with no new connection, the call ends.
func TestBrowserPhoneTakesItsCallBack(t *testing.T) {
	t.Parallel()
	const contactHz = 400
	const grace = 3 * time.Second
	phones := startPhonesWith(t, webphone.Config{Loopback: true, ReconnectGrace: grace})
	var mu sync.Mutex
	var atContact []float64
	contact, res := dialBrowserPhone(t, phones, contactHz, "retaken-call", &mu, &atContact)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	// Each connection speaks its own pitch, so the contact says which one
	// it hears.
	contactHears := func(what string, hz float64) {
		t.Helper()
		mu.Lock()
		atContact = atContact[:0]
		mu.Unlock()
		waitUntil(t, what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(atContact) < 4000 {
				return false
			}
			s := atContact[len(atContact)-4000:]
			return goertzel(s, 8000, hz) > 20*goertzel(s, 8000, 1700)
		})
	}
	var browserHeard sync.Map // *pionBrowser's pitch -> samples seen
	listen := func(hz float64) func([]int16) {
		return func(pcm []int16) {
			v, _ := browserHeard.LoadOrStore(hz, new([]float64))
			mu.Lock()
			for _, x := range pcm {
				*v.(*[]float64) = append(*v.(*[]float64), float64(x))
			}
			mu.Unlock()
		}
	}
	browserHears := func(what string, hz float64) {
		t.Helper()
		waitUntil(t, what, func() bool {
			v, ok := browserHeard.Load(hz)
			if !ok {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			s := *v.(*[]float64)
			if len(s) < 24000 {
				return false
			}
			s = s[len(s)-24000:]
			return goertzel(s, 48000, contactHz) > 20*goertzel(s, 48000, 1700)
		})
	}
	speaking := func(hz float64) func(*mic, <-chan struct{}) {
		return func(tr *mic, stop <-chan struct{}) { speak(tr, hz, stop) }
	}

	first, err := answerInBrowser(ctx, phones, "agent1", 1000, listen(1000), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	d := <-res
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	contactHears("the first connection's 1 kHz at the contact", 1000)
	browserHears("the contact's tone in the first connection", 1000)

	// A reload the gateway has not noticed yet: the new offer replaces the
	// connection still up.
	second, err := offerFromBrowser(ctx, phones, "agent1", "retaken-call", speaking(600), listen(600), nil)
	if err != nil {
		t.Fatalf("a new offer while the call is up: %v", err)
	}
	contactHears("the second connection's 600 Hz at the contact", 600)
	browserHears("the contact's tone in the second connection", 600)

	// The connection goes (closed, as a page unloading): the call stays up
	// for the grace, and a new connection takes it back.
	second.close()
	time.Sleep(grace / 3)
	select {
	case <-d.call.Ended():
		t.Fatal("the call ended when the browser's connection went, within the grace")
	default:
	}
	third, err := offerFromBrowser(ctx, phones, "agent1", "retaken-call", speaking(800), listen(800), nil)
	if err != nil {
		t.Fatalf("taking the call back: %v", err)
	}
	contactHears("the third connection's 800 Hz at the contact", 800)
	browserHears("the contact's tone in the third connection", 800)

	// Gone for good: the call ends once the grace is over.
	third.close()
	began := time.Now()
	select {
	case <-d.call.Ended():
		t.Logf("the call ended %s after the last connection went (grace %s)", time.Since(began).Round(100*time.Millisecond), grace)
	case <-time.After(waitLong):
		t.Fatal("the call did not end after the grace")
	}
	if time.Since(began) < grace/2 {
		t.Errorf("the call ended %s after the connection went, before the grace", time.Since(began))
	}
	waitUntil(t, "contact hung up", func() bool { return contact.ended() == 1 })
}
