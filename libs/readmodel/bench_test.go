package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/readmodel"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// BenchmarkRebuildEmbedded measures a read model's rebuild at start: a
// projection folding a store of 200,000 events (half of them its own)
// until it is Ready, in events per second. Baseline, in the same run: the
// bare SubscribeAll over the same store, nothing decoded or folded.
func BenchmarkRebuildEmbedded(b *testing.B) {
	const events = 200_000
	st, err := embedded.Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fill(b, st, events)
	b.ResetTimer()
	var rebuild, bare time.Duration
	for range b.N {
		bare += timeSubscribe(b, st)
		rebuild += timeRebuild(b, st)
	}
	b.StopTimer()
	rate, base := float64(events*b.N)/rebuild.Seconds(), float64(events*b.N)/bare.Seconds()
	b.ReportMetric(rate, "rebuild-events/s")
	b.ReportMetric(base, "baseline-subscribe-events/s")
	fmt.Printf("\nread model: rebuild from the embedded store %.0f events/s (target >= 200,000), "+
		"beside the bare subscription over the same %d events %.0f events/s\n", rate, events, base)
}

// fill writes n events in 200-event appends over 1,000 streams, half of
// them the projection's own.
func fill(b *testing.B, st eventstore.Store, n int) {
	ctx := context.Background()
	const perAppend = 200
	rev := map[string]eventstore.ExpectedRevision{}
	for i := 0; i < n; i += perAppend {
		stream := fmt.Sprintf("intake-callback-%d", i/perAppend%500)
		if i/perAppend%2 == 1 {
			stream = fmt.Sprintf("other-%d", i/perAppend%500)
		}
		data := make([]eventstore.EventData, perAppend)
		for k := range data {
			m, _ := proto.Marshal(&callbackv1.CallbackCancelled{CallbackId: stream, Reason: "r", At: timestamppb.Now()})
			data[k] = eventstore.EventData{ID: uuid.NewString(), Type: "ringback.callback.v1.CallbackCancelled", Data: m}
		}
		exp, ok := rev[stream]
		if !ok {
			exp = eventstore.NoStream
		}
		r, err := st.Append(ctx, stream, exp, data...)
		if err != nil {
			b.Fatal(err)
		}
		rev[stream] = r.NextExpected
	}
}

func timeRebuild(b *testing.B, st eventstore.Store) time.Duration {
	folded := 0
	p := &readmodel.Projection{Prefixes: []string{"intake-"}, Apply: func(eventstore.RecordedEvent, proto.Message) { folded++ }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, st) }()
	if err := p.WaitUntil(ctx, func() bool { return p.Ready() == nil }); err != nil {
		b.Fatal(err)
	}
	took := time.Since(began)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	return took
}

func timeSubscribe(b *testing.B, st eventstore.Store) time.Duration {
	head, err := st.(eventstore.HeadReader).Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	_ = st.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if !e.Position.Less(head) {
			cancel()
		}
		return nil
	})
	return time.Since(began)
}
