package embedded

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ringback/ringback/libs/eventstore"
)

// The metrics count what was written: one commit for a patient append and
// the one it waited for, each append under its kind of stream (or "other")
// and whether it shared, every part of an AppendParts; an append refused
// for a conflict, or replayed, writes nothing and counts nothing.
func TestMetricsCountWhatWasWritten(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	s, err := Open(dir, withSharedWait(time.Hour), WithMetrics(reg, []string{"trail-", "call-"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	patient := appendPatiently(ctx, s) // trail-1, held until the next append
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Append(ctx, "trail-1", 0, ev("next")); err != nil {
		t.Fatal(err)
	}
	if err := <-patient; err != nil {
		t.Fatal(err)
	}
	e := ev("x")
	if _, err := s.Append(ctx, "call-7", eventstore.NoStream, e, ev("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "call-7", eventstore.NoStream, e); err != nil { // its id again: replayed
		t.Fatal(err)
	}
	var conflict *eventstore.ConflictError
	if _, err := s.Append(ctx, "call-7", eventstore.NoStream, ev("z")); !errors.As(err, &conflict) {
		t.Fatalf("append to an existing stream as new: %v, want a conflict", err)
	}
	if _, err := s.AppendParts(ctx, eventstore.Part{Stream: "lease-x", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("a")}},
		eventstore.Part{Stream: "call-8", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("b")}}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"commits", testutil.ToFloat64(s.metrics.commits), 3},
		{"events", testutil.ToFloat64(s.metrics.events), 6},
		{"trail shared", testutil.ToFloat64(s.metrics.appends.WithLabelValues("trail", "true")), 1},
		{"trail own", testutil.ToFloat64(s.metrics.appends.WithLabelValues("trail", "false")), 1},
		{"call own", testutil.ToFloat64(s.metrics.appends.WithLabelValues("call", "false")), 2},
		{"other own", testutil.ToFloat64(s.metrics.appends.WithLabelValues("other", "false")), 1},
		{"commit time observed", float64(testutil.CollectAndCount(s.metrics.commitSeconds)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if b := testutil.ToFloat64(s.metrics.bytes); b <= 0 {
		t.Errorf("written bytes = %v", b)
	}

	// The same registry again: the second store cannot register, and says so.
	if _, err := Open(t.TempDir(), WithMetrics(reg, nil)); err == nil {
		t.Fatal("a store whose metrics are registered already opened")
	}
}
