package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// replica is one more intake on a store: a process of its own as far as
// admission goes (its own mux, its own memory), sharing only the store.
func replica(t *testing.T, store eventstore.Store, clk clock.Clock, log *slog.Logger) (*Service, string) {
	t.Helper()
	mux := http.NewServeMux()
	s, err := New(Config{RefuseDuplicates: true}, Deps{Deps: service.Deps{Store: store, Clock: clk, Log: log, Metrics: prometheus.NewRegistry(), Mux: mux}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// post creates a callback at base and answers the status and the problem's field.
func post(t *testing.T, base string, body map[string]any, key string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/v1/callbacks", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer res.Body.Close()
	var p problem
	_ = json.NewDecoder(res.Body).Decode(&p)
	return res.StatusCode, p.Field
}

// race sends n creates for one number at once, alternately through each
// base, and counts the answers by status.
func race(t *testing.T, n int, bases ...string) map[int]int {
	t.Helper()
	var (
		mu    sync.Mutex
		count = map[int]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, field := post(t, bases[i%len(bases)], map[string]any{"service": "support", "phone_number": "+14155550123"}, "")
			if code == http.StatusConflict && field != "phone_number" {
				t.Errorf("409 names %q", field)
			}
			mu.Lock()
			count[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return count
}

// requested counts the CallbackRequested events in the store.
func requested(t *testing.T, store eventstore.Store) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	head, err := store.(eventstore.HeadReader).Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	errDone := errors.New("done")
	err = store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if r.Type == "ringback.callback.v1.CallbackRequested" {
			n++
		}
		if !r.Position.Less(head) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentCreatesThroughTwoReplicasAdmitOne(t *testing.T) {
	env := start(t)
	_, other := replica(t, env.Store, env.Clock, env.Log)
	count := race(t, 40, env.Server.URL, other)
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != 39 {
		t.Fatalf("answers %v, want one 201 and 39 409", count)
	}
	if n := requested(t, env.Store); n != 1 {
		t.Fatalf("%d callbacks stored", n)
	}
}

func TestConcurrentCreatesOnPostgreSQLAdmitOne(t *testing.T) {
	url := pgtest.Database(t)
	clk := clock.NewFake(servicetest.Start)
	log := slog.New(slog.DiscardHandler)
	var bases []string
	var stores []eventstore.Store
	for range 2 { // two clients of the server, as two pods would be
		st, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		_, base := replica(t, st, clk, log)
		bases, stores = append(bases, base), append(stores, st)
	}
	for round := range 3 { // and again once the number is free
		count := race(t, 40, bases...)
		if count[http.StatusCreated] != 1 || count[http.StatusConflict] != 39 {
			t.Fatalf("round %d: answers %v, want one 201 and 39 409", round, count)
		}
		if n := requested(t, stores[round%2]); n != round+1 {
			t.Fatalf("round %d: %d callbacks stored", round, n)
		}
		clk.Advance(time.Minute)
		cancelAll(t, stores[0], bases[1])
	}
}

// cancelAll cancels every open callback of the store through base.
func cancelAll(t *testing.T, store eventstore.Store, base string) {
	t.Helper()
	ctx := context.Background()
	head, _ := store.(eventstore.HeadReader).Head(ctx)
	errDone := errors.New("done")
	var ids []string
	_ = store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if r.Type == "ringback.callback.v1.CallbackRequested" {
			ids = append(ids, r.Stream[len("intake-callback-"):])
		}
		if !r.Position.Less(head) {
			return errDone
		}
		return nil
	})
	for _, id := range ids {
		req, _ := http.NewRequest("DELETE", base+"/v1/callbacks/"+id, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
}

// claimDead writes a claim for id as a replica that died before writing
// the request would have left it.
func claimDead(t *testing.T, s *Service, id string) {
	t.Helper()
	stream, err := s.contactStream(context.Background(), "+14155550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.claim(context.Background(), stream, id, "support", "+14155550123", false); err != nil {
		t.Fatal(err)
	}
}

func TestClaimWithoutRequestBlocksForTheGraceOnly(t *testing.T) {
	env := servicetest.New(t)
	s, base := replica(t, env.Store, env.Clock, env.Log)
	dead := uuid.NewString()
	claimDead(t, s, dead)
	body := map[string]any{"service": "support", "phone_number": "+14155550123"}
	if code, field := post(t, base, body, ""); code != http.StatusConflict || field != "phone_number" {
		t.Fatalf("within the grace: %d %q", code, field)
	}
	env.Clock.Advance(DefaultClaimGrace)
	if code, _ := post(t, base, body, ""); code != http.StatusCreated {
		t.Fatalf("after the grace: %d", code)
	}
	// The dead writer wakes up: its request may no longer land.
	_, err := s.execute(context.Background(), dead, eventstore.Cause{ID: "request:" + dead},
		callback.Request{ID: dead, Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123"}})
	if !errors.Is(err, callback.ErrVoided) {
		t.Fatalf("late request: %v", err)
	}
	if n := requested(t, env.Store); n != 1 {
		t.Fatalf("%d callbacks stored", n)
	}
}

func TestRequestWrittenLateKeepsTheNumber(t *testing.T) {
	env := servicetest.New(t)
	s, base := replica(t, env.Store, env.Clock, env.Log)
	slow := uuid.NewString()
	claimDead(t, s, slow)
	env.Clock.Advance(time.Hour)
	// Paused, not dead: the request lands before anyone voids it.
	if _, err := s.execute(context.Background(), slow, eventstore.Cause{ID: "request:" + slow},
		callback.Request{ID: slow, Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123",
			RequestedAt: timestamppb.New(env.Clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550123"}, ""); code != http.StatusConflict {
		t.Fatalf("second open callback: %d", code)
	}
}

func TestEndedCallbackWhoseReleaseWasLostFreesTheNumber(t *testing.T) {
	env := servicetest.New(t)
	_, base := replica(t, env.Store, env.Clock, env.Log)
	body := map[string]any{"service": "support", "phone_number": "+14155550123"}
	if code, _ := post(t, base, body, "k-1"); code != http.StatusCreated {
		t.Fatalf("first: %d", code)
	}
	// Cancelled, and the process died before the release.
	id := uuid.NewSHA1(idNamespace, []byte("k-1")).String()
	env.Append(callback.Stream(id), "cancel-1", &callbackv1.CallbackCancelled{CallbackId: id, At: timestamppb.New(env.Clock.Now())})
	if code, _ := post(t, base, body, ""); code != http.StatusCreated {
		t.Fatalf("after the cancel: %d", code)
	}
}

func TestIdempotencyKeyResumesItsOwnClaim(t *testing.T) {
	env := servicetest.New(t)
	s, base := replica(t, env.Store, env.Clock, env.Log)
	body := map[string]any{"service": "support", "phone_number": "+14155550123"}
	// The first attempt claimed the number and died.
	claimDead(t, s, uuid.NewSHA1(idNamespace, []byte("k-2")).String())
	if code, _ := post(t, base, body, "k-2"); code != http.StatusCreated {
		t.Fatalf("retry: %d", code)
	}
	if code, _ := post(t, base, body, "k-2"); code != http.StatusOK {
		t.Fatalf("retry again: %d", code)
	}
	// The same key with another number is refused (422, issue 12: it
	// would hand over the first visitor's callback), and leaves that
	// other number free.
	other := map[string]any{"service": "support", "phone_number": "+14155550199"}
	if code, _ := post(t, base, other, "k-2"); code != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other number: %d", code)
	}
	if code, _ := post(t, base, other, ""); code != http.StatusCreated {
		t.Fatalf("other number: %d", code)
	}
	if code, _ := post(t, base, body, ""); code != http.StatusConflict {
		t.Fatalf("first number again: %d", code)
	}
}

func TestClaimStreamsNameNoNumber(t *testing.T) {
	env := servicetest.New(t)
	_, base := replica(t, env.Store, env.Clock, env.Log)
	post(t, base, map[string]any{"service": "support", "phone_number": "+14155550123"}, "")
	ctx := context.Background()
	head, _ := env.Store.(eventstore.HeadReader).Head(ctx)
	errDone := errors.New("done")
	_ = env.Store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if bytes.Contains([]byte(r.Stream), []byte("4155550123")) {
			t.Errorf("stream %s names the number", r.Stream)
		}
		if !r.Position.Less(head) {
			return errDone
		}
		return nil
	})
}

// TestCallbacksOpenBeforeClaimsKeepTheirNumber: an older version left
// callbacks open with no claim, or with a claim on the stream per number
// and service it kept (claimed, not number_claimed); once ready, intake
// refuses their numbers and frees those of the ended ones.
//
// On a store that seals personal data, the claimer follows the store sealed
// and opens only the number it claims.
func TestCallbacksOpenBeforeClaimsKeepTheirNumber(t *testing.T) {
	t.Run("clear", func(t *testing.T) { callbacksOpenBeforeClaims(t, false) })
	t.Run("sealed", func(t *testing.T) { callbacksOpenBeforeClaims(t, true) })
}

func callbacksOpenBeforeClaims(t *testing.T, sealed bool) {
	env := servicetest.New(t)
	var keys ContactKeys
	if sealed {
		keys = env.Seal(t)
	}
	old := func(id, number string) {
		env.Append(callback.Stream(id), "request:"+id, &callbackv1.CallbackRequested{CallbackId: id,
			Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: number, RequestedAt: timestamppb.New(env.Clock.Now())}})
	}
	open, ended, perService := uuid.NewString(), uuid.NewString(), uuid.NewString()
	old(open, "+14155550123")
	env.Append(callback.Stream(perService), "request:"+perService, &callbackv1.CallbackRequested{CallbackId: perService, Claimed: true,
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550126", RequestedAt: timestamppb.New(env.Clock.Now())}})
	old(ended, "+14155550124")
	env.Append(callback.Stream(ended), "cancel", &callbackv1.CallbackCancelled{CallbackId: ended, At: timestamppb.New(env.Clock.Now())})
	s, err := New(Config{RefuseDuplicates: true}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}, ContactKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	base := env.Server.URL
	if s.Ready() == nil {
		t.Fatal("ready before the claimer caught up")
	}
	env.Go(s.Run)
	deadline := time.Now().Add(10 * time.Second)
	for s.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", s.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550123"}, ""); code != http.StatusConflict {
		t.Fatalf("number of the open callback: %d", code)
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550124"}, ""); code != http.StatusCreated {
		t.Fatalf("number of the ended callback: %d", code)
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550126"}, ""); code != http.StatusConflict {
		t.Fatalf("number of the callback claimed per service by the previous version: %d", code)
	}
	// An older replica still running beside this one (a rolling upgrade)
	// admits a callback without a claim: the claimer claims it.
	late := uuid.NewString()
	old(late, "+14155550125")
	stream, err := s.contactStream(context.Background(), "+14155550125")
	if err != nil {
		t.Fatal(err)
	}
	for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l, err := eventstore.Load(context.Background(), env.Store, stream, contactAggregate)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.State.Holders[late]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the older replica's callback not claimed: holders %v", l.State.Holders)
		}
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550125"}, ""); code != http.StatusConflict {
		t.Fatalf("number of the older replica's callback: %d", code)
	}
}

// failingStore refuses appends to callback streams while fail is set: a
// store that took the claim and then went away.
type failingStore struct {
	eventstore.Store
	fail atomic.Bool
}

func (f *failingStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if f.fail.Load() && strings.HasPrefix(stream, "intake-callback-") && events[0].Type == "ringback.callback.v1.CallbackRequested" {
		return eventstore.AppendResult{}, errors.New("injected: store unavailable")
	}
	return f.Store.Append(ctx, stream, exp, events...)
}

func TestRequestThatCouldNotBeWritten(t *testing.T) {
	env := servicetest.New(t)
	fs := &failingStore{Store: env.Store}
	_, base := replica(t, fs, env.Clock, env.Log)
	body := map[string]any{"service": "support", "phone_number": "+14155550123"}
	fs.fail.Store(true)
	if code, _ := post(t, base, body, ""); code != http.StatusInternalServerError {
		t.Fatalf("with the store failing: %d", code)
	}
	fs.fail.Store(false)
	// Without a key nobody can retry it: it voided its request and freed
	// the number, no grace to wait.
	if code, _ := post(t, base, body, "k-3"); code != http.StatusCreated {
		t.Fatalf("after the failure: %d", code)
	}

	// With a key, the claim waits for the client's retry.
	other := map[string]any{"service": "support", "phone_number": "+14155550124"}
	fs.fail.Store(true)
	if code, _ := post(t, base, other, "k-4"); code != http.StatusInternalServerError {
		t.Fatalf("with the store failing: %d", code)
	}
	fs.fail.Store(false)
	if code, _ := post(t, base, other, ""); code != http.StatusConflict {
		t.Fatalf("another request while the keyed one may retry: %d", code)
	}
	if code, _ := post(t, base, other, "k-4"); code != http.StatusCreated {
		t.Fatalf("the retry: %d", code)
	}
}

// failingPartsStore is failingStore on a store that appends parts at once
// (the embedded one), refusing an append that carries a request.
type failingPartsStore struct{ *failingStore }

func (f failingPartsStore) AppendParts(ctx context.Context, parts ...eventstore.Part) ([]eventstore.AppendResult, error) {
	for _, p := range parts {
		if f.fail.Load() && p.Events[0].Type == "ringback.callback.v1.CallbackRequested" {
			return nil, errors.New("injected: store unavailable")
		}
	}
	return f.Store.(eventstore.PartsAppender).AppendParts(ctx, parts...)
}

// On a store that appends the claim and the request at once, a request
// the store failed to write left no claim behind, keyed or not: the number
// is free at once, and the keyed request's retry claims it again.
func TestAFailedRequestLeavesNoClaimWhereBothAreOneAppend(t *testing.T) {
	env := servicetest.New(t)
	fs := failingPartsStore{&failingStore{Store: env.Store}}
	_, base := replica(t, fs, env.Clock, env.Log)
	body := map[string]any{"service": "support", "phone_number": "+14155550124"}
	fs.fail.Store(true)
	if code, _ := post(t, base, body, "k-5"); code != http.StatusInternalServerError {
		t.Fatalf("with the store failing: %d", code)
	}
	fs.fail.Store(false)
	if code, _ := post(t, base, body, "k-5"); code != http.StatusCreated {
		t.Fatalf("the retry: %d", code)
	}
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550125"}, "k-6"); code != http.StatusCreated {
		t.Fatalf("another number: %d", code)
	}
	fs.fail.Store(true)
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550126"}, "k-7"); code != http.StatusInternalServerError {
		t.Fatalf("with the store failing: %d", code)
	}
	fs.fail.Store(false)
	if code, _ := post(t, base, map[string]any{"service": "support", "phone_number": "+14155550126"}, ""); code != http.StatusCreated {
		t.Fatalf("the number of a request that failed to be written, without waiting for its retry: %d", code)
	}
	if n := requested(t, env.Store); n != 3 {
		t.Fatalf("%d callbacks stored, want 3", n)
	}
}
