// Package servicetest runs a service the way the single-node binary does,
// for its tests: a real embedded store in a temporary directory, the
// in-process bus, the outbox relay, a fake clock, an HTTP mux. Tests play the
// other services by appending their events to the store, which the relay
// publishes like any other.
package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/relay"
)

// Start is the moment every fake clock starts at.
var Start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// Env is one service's world.
type Env struct {
	T        testing.TB
	Store    eventstore.Store
	Bus      *inproc.Bus
	Clock    *clock.Fake
	Log      *slog.Logger
	Registry *prometheus.Registry
	Mux      *http.ServeMux
	Server   *httptest.Server
	ctx      context.Context
	cancel   context.CancelFunc
	done     []chan error
}

// Seal wraps e.Store so that personal fields are sealed, as the binary
// wraps its store, under keys kept in a directory of the test's, and
// returns the sealer: the contact keys and eraser services take.
func (e *Env) Seal(t testing.TB) *personal.Sealer {
	t.Helper()
	dir, err := personal.OpenDir(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	master, ids, err := personal.DeriveSecrets(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := personal.NewWrapped(dir, master)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := personal.NewSealer(ks, ids)
	if err != nil {
		t.Fatal(err)
	}
	e.Store = personal.NewStore(e.Store, sealer)
	return sealer
}

// New builds the world; call Go to run the service in it, then Relay.
func New(t testing.TB) *Env {
	t.Helper()
	dir := t.TempDir()
	fc := clock.NewFake(Start)
	st, err := embedded.Open(filepath.Join(dir, "store"), embedded.WithClock(fc.Now))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{T: t, Store: st, Bus: inproc.New(watermill.NopLogger{}), Clock: fc, Log: log,
		Registry: prometheus.NewRegistry(), Mux: http.NewServeMux(), ctx: ctx, cancel: cancel}
	e.Server = httptest.NewServer(e.Mux)
	t.Cleanup(func() {
		e.Server.Close()
		e.cancel()
		// A relay blocked delivering to a group whose service stopped first
		// is freed by closing the bus.
		_ = e.Bus.Close()
		for _, d := range e.done {
			select {
			case err := <-d:
				if err != nil {
					t.Errorf("service run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("a service did not stop within 10s of cancellation")
			}
		}
		_ = st.Close()
	})
	return e
}

// Subscribers is what a service's Deps take. The service's consumers
// export their bus metrics (lag, latency, retries, poison) on e.Registry,
// as in the binary.
func (e *Env) Subscribers() inbox.Subscribers {
	return func(group string) (message.Subscriber, error) {
		return metricsSubscriber{e.Bus.Subscriber(group), e.Registry}, nil
	}
}

// FailingFirst is subs whose first subscription fails, as when the bus
// does not answer yet; calls counts the subscriptions asked for.
func FailingFirst(subs inbox.Subscribers) (failing inbox.Subscribers, calls *atomic.Int32) {
	calls = new(atomic.Int32)
	return func(group string) (message.Subscriber, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("dial bus: connection refused")
		}
		return subs(group)
	}, calls
}

// metricsSubscriber tells inbox.Consume where the handler metrics go.
type metricsSubscriber struct {
	message.Subscriber
	reg prometheus.Registerer
}

func (s metricsSubscriber) MetricsRegisterer() prometheus.Registerer { return s.reg }

// LeaveOut lets the consumer's Only reach the bus, as in the binary.
func (s metricsSubscriber) LeaveOut(topic string, leave func(eventType string) bool) error {
	if l, ok := s.Subscriber.(inbox.Leaver); ok {
		return l.LeaveOut(topic, leave)
	}
	return nil
}

// Go runs fn (a service's Run) until the test ends.
func (e *Env) Go(fn func(context.Context) error) {
	d := make(chan error, 1)
	e.done = append(e.done, d)
	go func() { d <- fn(e.ctx) }()
}

// Relay starts publishing the store's events once every one of topics has
// a subscribed group (the services' Topics): the in-process bus drops what
// nobody reads, and a service's Run subscribes in its own goroutine, so
// without the wait an event appended right after the start can be lost on
// a loaded machine.
func (e *Env) Relay(topics ...string) {
	e.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, topic := range topics {
		for e.Bus.Groups(topic) == 0 {
			if time.Now().After(deadline) {
				e.T.Fatalf("nobody subscribed to %s within 10s", topic)
			}
			time.Sleep(time.Millisecond)
		}
	}
	r := relay.New(e.Store, e.Bus, relay.InStore(e.Store.(eventstore.Checkpoints), "relay-test"), e.Log)
	m, err := relay.NewMetrics(e.Registry)
	if err != nil {
		e.T.Fatal(err)
	}
	r.Metrics = m
	e.Go(r.Run)
}

// Append records events as if another service wrote them to stream.
func (e *Env) Append(stream, causeID string, events ...proto.Message) {
	e.T.Helper()
	e.AppendAs(stream, eventstore.Cause{ID: causeID}, events...)
}

// AppendAs is Append with the whole cause, so the events carry its
// correlation (the callback id) as another service's would.
func (e *Env) AppendAs(stream string, cause eventstore.Cause, events ...proto.Message) {
	e.T.Helper()
	data, err := eventstore.Encode(e.ctx, stream, cause, events)
	if err != nil {
		e.T.Fatal(err)
	}
	recs, _ := e.Store.ReadStream(e.ctx, stream, 0)
	exp := eventstore.NoStream
	if len(recs) > 0 {
		exp = eventstore.Exactly(recs[len(recs)-1].Revision)
	}
	if _, err := e.Store.Append(e.ctx, stream, exp, data...); err != nil {
		e.T.Fatalf("append %s: %v", stream, err)
	}
}

// WaitEvent waits until stream holds an event of type T and returns it.
func WaitEvent[T proto.Message](e *Env, stream string) T {
	e.T.Helper()
	var zero T
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		recs, err := e.Store.ReadStream(e.ctx, stream, 0)
		if err != nil {
			e.T.Fatal(err)
		}
		for _, r := range recs {
			if m, err := eventstore.Decode(r); err == nil {
				if t, ok := m.(T); ok {
					return t
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.T.Fatalf("no %T in %s within 10s", zero, stream)
	return zero
}

// Events returns the decoded events of stream.
func (e *Env) Events(stream string) []proto.Message {
	e.T.Helper()
	recs, err := e.Store.ReadStream(e.ctx, stream, 0)
	if err != nil {
		e.T.Fatal(err)
	}
	out := make([]proto.Message, 0, len(recs))
	for _, r := range recs {
		m, err := eventstore.Decode(r)
		if err != nil {
			e.T.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Get fetches path and decodes a 200 answer into out; it returns the status.
func (e *Env) Get(path string, out any) int {
	e.T.Helper()
	res, err := http.Get(e.Server.URL + path)
	if err != nil {
		e.T.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			e.T.Fatalf("GET %s: %v", path, err)
		}
	}
	return res.StatusCode
}

// Do sends an HTTP request with a JSON body (nil for none) and decodes the
// JSON answer into out (nil to skip); it returns the response.
func (e *Env) Do(method, path string, body, out any) *http.Response {
	e.T.Helper()
	return e.DoWith(method, path, nil, body, out)
}

// DoWith is Do with request headers.
func (e *Env) DoWith(method, path string, headers map[string]string, body, out any) *http.Response {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.Server.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.T.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return res
}

// Stored counts the events in the store, other than the test's own marker:
// it appends a marker and reads everything up to it.
func (e *Env) Stored() int {
	e.T.Helper()
	marker := "servicetest-marker-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	data, err := eventstore.Encode(e.ctx, marker, eventstore.Cause{ID: marker}, []proto.Message{&emptypb.Empty{}})
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.Store.Append(e.ctx, marker, eventstore.NoStream, data...); err != nil {
		e.T.Fatal(err)
	}
	n := 0
	errFound := errors.New("found")
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	err = e.Store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if r.Stream == marker {
			return errFound
		}
		if !strings.HasPrefix(r.Stream, "servicetest-marker-") {
			n++
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		e.T.Fatalf("read the store: %v", err)
	}
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
