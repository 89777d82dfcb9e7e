package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestReplayRange(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ev := func(n uint64, sec int) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{Position: eventstore.Position{Commit: n, Prepare: n}, Time: t0.Add(time.Duration(sec) * time.Second)}
	}
	for _, tc := range []struct {
		from, to      string
		e             eventstore.RecordedEvent
		before, after bool
	}{
		{"", "", ev(1, 0), false, false},
		{"5", "9", ev(4, 0), true, false},
		{"5", "9", ev(5, 0), false, false},
		{"5", "9", ev(9, 0), false, false},
		{"5", "9", ev(10, 0), false, true},
		{"5/5", "9/9", ev(7, 0), false, false},
		{"2026-03-02T09:00:10Z", "2026-03-02T09:00:20Z", ev(1, 9), true, false},
		{"2026-03-02T09:00:10Z", "2026-03-02T09:00:20Z", ev(1, 10), false, false},
		{"2026-03-02T09:00:10Z", "2026-03-02T09:00:20Z", ev(1, 20), false, false},
		{"2026-03-02T09:00:10Z", "2026-03-02T09:00:20Z", ev(1, 21), false, true},
		{"3", "2026-03-02T09:00:20Z", ev(2, 5), true, false},
	} {
		from, err1 := parseBound("from", tc.from)
		to, err2 := parseBound("to", tc.to)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s %s: %v %v", tc.from, tc.to, err1, err2)
		}
		s := span{from, to}
		if s.before(tc.e) != tc.before || s.after(tc.e) != tc.after {
			t.Errorf("%s..%s, event %d at %v: before %v after %v, want %v %v", tc.from, tc.to, tc.e.Position.Commit, tc.e.Time,
				s.before(tc.e), s.after(tc.e), tc.before, tc.after)
		}
	}
	for _, bad := range []string{"yesterday", "12/x", "-3", "2026-03-02"} {
		var ue *usageError
		if _, err := parseBound("from", bad); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--from") {
			t.Errorf("%q: %v, want a usage error naming --from", bad, err)
		}
	}
}

func TestReplayUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"replay"},
		{"replay", "rewind"},
		{"replay", "check"},
		{"replay", "check", "--platform", "http://x", "--from", "soon"},
		{"replay", "check", "--platform", "http://x", "--from", "9", "--to", "3"},
		{"replay", "check", "--platform", "http://x", "--service", "billing"},
		{"replay", "check", "--platform", "http://x", "--sample", "0"},
		{"replay", "publish", "--eventstore", "mysql://x"},
		{"replay", "publish", "extra"},
	} {
		var out bytes.Buffer
		var ue *usageError
		if err := run(context.Background(), args, noEnv, &out, &out); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
	}
}

// copyStore appends every event of from to a new embedded store in dir, in
// the same order, and copies the contacts' keys beside it: what an operator
// has with a copy of a stopped platform's data directory.
func copyStore(t *testing.T, from eventstore.Store, fromData, dir string) {
	t.Helper()
	to, err := embedded.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	head, _ := from.(eventstore.HeadReader).Head(t.Context())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errDone := errors.New("done")
	err = from.SubscribeAll(ctx, eventstore.Position{}, func(ctx context.Context, e eventstore.RecordedEvent) error {
		exp := eventstore.NoStream
		if e.Revision > 0 {
			exp = eventstore.Exactly(e.Revision - 1)
		}
		if _, err := to.Append(ctx, e.Stream, exp, eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}); err != nil {
			return err
		}
		if !e.Position.Less(head) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "keys"), os.DirFS(filepath.Join(fromData, "keys"))); err != nil {
		t.Fatal(err)
	}
}

// TestReplayCheckAndPublish (issue 14): a copy of a running platform's
// store folds, with this binary's code, into what the platform answers;
// an event the platform does not have is found and named, with exit 1.
// publish sends a range again to Kafka in the relay's envelope, with the
// events' ids, as often as it is run.
func TestReplayCheckAndPublish(t *testing.T) {
	addr := freePort(t, "tcp")
	data := t.TempDir()
	a := runInProcess(t, addr, []string{"--http=" + addr, "--sip=127.0.0.1:0", "--data=" + data, "--log-level=error",
		"--media.trunk-keepalive=0", "--scheduler.calling-window=00:00-24:00", "--agent-session.calling-window=00:00-24:00",
		// The offer to a1 stays put however slow the machine: timed out, it
		// would be followed by the second callback's, and agent-session would
		// hold two interactions, not the one checked below.
		"--router.offer-timeout=10m"}, nil)
	base := "http://" + addr
	if st := call(t, "POST", base+"/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5999"}, nil); st != 200 {
		t.Fatalf("login: %d", st)
	}
	if st := call(t, "PUT", base+"/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); st != 200 {
		t.Fatalf("ready: %d", st)
	}
	var ids []string
	for _, n := range []string{"+14155550123", "+14155550124"} {
		var cb struct{ ID string }
		if st := call(t, "POST", base+"/v1/callbacks", map[string]any{"service": "support", "phone_number": n, "subject": "invoice"}, &cb); st != http.StatusCreated {
			t.Fatalf("POST: %d", st)
		}
		ids = append(ids, cb.ID)
	}
	offered := waitCallback(t, base, ids[0], "offered to a1", func(c callbackState) bool { return c.InteractionID != "" && c.State != "SCHEDULED" })
	waitCallback(t, base, ids[1], "queued", func(c callbackState) bool { return c.InteractionID != "" })
	// agent-session writes the offer's interaction after the callback shows
	// it offered; the copy must hold it, however slow the machine.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs, err := a.relayStore().ReadStream(t.Context(), streams.AgentInteraction+offered.InteractionID, 0)
		if err == nil && len(recs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent-session never wrote interaction %s: %v", offered.InteractionID, err)
		}
	}

	snap := t.TempDir()
	copyStore(t, a.relayStore(), data, snap)
	var out bytes.Buffer
	err := run(t.Context(), []string{"replay", "check", "--data", snap, "--platform", base}, noEnv, &out, &out)
	if err != nil || !strings.Contains(out.String(), "intake: 2 of 2 stream(s)") || !strings.Contains(out.String(), "agent-session: 1 of 1 stream(s)") {
		t.Fatalf("check of a copy: %v\n%s", err, out.String())
	}

	// The copy holds an event the platform never had: found, named.
	st, err := embedded.Open(filepath.Join(snap, "store"))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := st.ReadStream(t.Context(), "intake-callback-"+ids[1], 0)
	data1, _ := eventstore.Encode(t.Context(), "intake-callback-"+ids[1], eventstore.Cause{ID: "tamper"},
		[]proto.Message{&callbackv1.CallbackCancelled{CallbackId: ids[1], Reason: "not on the platform"}})
	if _, err := st.Append(t.Context(), "intake-callback-"+ids[1], eventstore.Exactly(recs[len(recs)-1].Revision), data1...); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out.Reset()
	err = run(t.Context(), []string{"replay", "check", "--data", snap, "--platform", base, "--service", "intake"}, noEnv, &out, &out)
	var differ *errDiffer
	if !errors.As(err, &differ) || differ.n != 1 || !strings.Contains(out.String(), "DIFFERS intake /v1/callbacks/"+ids[1]) ||
		!strings.Contains(out.String(), `state: here "CANCELLED"`) {
		t.Fatalf("check of a changed copy: %v\n%s", err, out.String())
	}

	// publish: every intake event of the copy, then a range of positions.
	brokers := kafkatest.StartBroker(t)
	publish := func(extra ...string) string {
		out.Reset()
		args := append([]string{"replay", "publish", "--data", snap, "--kafka-brokers", brokers[0], "--topic-prefix", "backfill.", "--service", "intake"}, extra...)
		if err := run(t.Context(), args, noEnv, &out, &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	publish()
	publish() // again: the same ids
	st, _ = embedded.Open(filepath.Join(snap, "store"))
	var want []eventstore.RecordedEvent
	keep, _ := serviceStreams("intake")
	if err := scan(t.Context(), st, span{}, keep, func(e eventstore.RecordedEvent) error { want = append(want, e); return nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	onTopic := func(topic string, fn func(kafka.Record)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := kafka.Scan(ctx, kafka.ScanConfig{Brokers: brokers}, topic, func(r kafka.Record) error { fn(r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	onTopic("backfill.intake", func(r kafka.Record) {
		md := r.Message.Metadata
		if md.Get(envelope.KeyID) != r.Message.UUID || md.Get(kafka.PartitionKeyMetadata) != md.Get(envelope.KeySubject) || md.Get(envelope.KeyType) == "" {
			t.Errorf("record %+v: not the relay's envelope", md)
		}
		got[r.Message.UUID]++
	})
	for _, e := range want {
		if got[e.ID] != 2 {
			t.Errorf("event %s (%s) published %d time(s), want 2", e.ID, e.Stream, got[e.ID])
		}
	}
	if len(got) != len(want) || len(want) < 4 {
		t.Fatalf("%d ids on the topic, %d intake events in the store", len(got), len(want))
	}
	// A range of positions, both ends counted.
	from, to := want[1].Position, want[len(want)/2].Position
	publish("--topic-prefix", "part.", "--from", fmt.Sprint(from.Commit), "--to", fmt.Sprint(to.Commit))
	n := 0
	onTopic("part.intake", func(kafka.Record) { n++ })
	if n != len(want)/2 {
		t.Fatalf("%d events published for positions %d..%d, want %d", n, from.Commit, to.Commit, len(want)/2)
	}
}
