package personal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// TestStoreAndBusSeam: services append and read plaintext through the
// Store; the files below and the messages the relay publishes from the
// inner store hold ciphertext; OpenMessage opens them, and a Publisher
// seals what is sent on again.
func TestStoreAndBusSeam(t *testing.T) {
	ctx := context.Background()
	s := newSealer(t)
	dir := t.TempDir()
	inner, err := embedded.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(inner, s)
	defer st.Close()
	data, err := eventstore.Encode(ctx, "intake-callback-cb-1", eventstore.Cause{ID: "c1", Correlation: "cb-1"},
		[]proto.Message{requested()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "intake-callback-cb-1", eventstore.NoStream, data...); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ReadStream(ctx, "intake-callback-cb-1", 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadStream = %v, %v", recs, err)
	}
	m, _ := eventstore.Decode(recs[0])
	if !proto.Equal(m, requested()) {
		t.Fatalf("read through the store: %v", m)
	}
	raw, _ := inner.ReadStream(ctx, "intake-callback-cb-1", 0)
	noCanary(t, "the inner store's record", raw[0].Data)
	if err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			noCanary(t, p, b)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// On the bus: what the relay publishes (from the inner store) is sealed.
	bus := inproc.New(watermill.NopLogger{})
	defer bus.Close()
	ch, err := bus.Subscriber("g").Subscribe(ctx, "ringback.intake")
	if err != nil {
		t.Fatal(err)
	}
	msg := envelope.ToMessage(raw[0])
	noCanary(t, "the published payload", msg.Payload)
	// The in-process bus delivers before Publish returns.
	published := make(chan error, 2)
	go func() { published <- bus.Publish("ringback.intake", msg) }()
	select {
	case got := <-ch:
		noCanary(t, "the delivered payload, before Open", got.Payload)
		if err := s.OpenMessage(got); err != nil {
			t.Fatal(err)
		}
		env, err := envelope.FromMessage(got)
		if err != nil || !proto.Equal(env.Event, requested()) {
			t.Fatalf("consumed %v, %v", env.Event, err)
		}
		got.Ack()
		// Sent on (to the poison topic): sealed again.
		pch, _ := bus.Subscriber("p").Subscribe(ctx, "ringback.poison")
		go func() { published <- (Publisher{Publisher: bus, Sealer: s}).Publish("ringback.poison", got) }()
		p := <-pch
		noCanary(t, "the poisoned payload", p.Payload)
		p.Ack()
		for range 2 {
			if err := <-published; err != nil {
				t.Fatal(err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing consumed")
	}
}

// SubscribeStreams opens only the events of the streams a subscriber
// wants; the others come as stored, sealed (issue 12).
func TestSubscribeStreamsOpensOnlyWhatIsWanted(t *testing.T) {
	ctx := context.Background()
	_, _, st := newSealedStore(t)
	for _, stream := range []string{"intake-callback-cb-1", "scheduler-callback-cb-1"} {
		data, err := eventstore.Encode(ctx, stream, eventstore.Cause{ID: "c1", Correlation: "cb-1"}, []proto.Message{requested()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, stream, eventstore.NoStream, data...); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []eventstore.RecordedEvent
	err := st.SubscribeStreams(sctx, eventstore.Position{}, func(stream string) bool { return stream == "intake-callback-cb-1" },
		func(_ context.Context, r eventstore.RecordedEvent) error {
			got = append(got, r)
			if len(got) == 2 {
				cancel()
			}
			return nil
		})
	if len(got) != 2 {
		t.Fatalf("delivered %d events (%v), want 2", len(got), err)
	}
	if m, _ := eventstore.Decode(got[0]); !proto.Equal(m, requested()) {
		t.Errorf("the wanted stream's event: %v, want it opened", m)
	}
	noCanary(t, "the event of a stream not wanted", got[1].Data)
}

// TestAppendedEventsAreReadAsGiven: an event appended through the Store is
// read in this process as it was given, not decrypted again; an append
// that failed leaves nothing a stored event with its id is read as; and
// erasing the contact erases what was remembered.
func TestAppendedEventsAreReadAsGiven(t *testing.T) {
	ctx := context.Background()
	s, inner, st := newSealedStore(t)
	const stream = "intake-callback-cb-1"
	data, err := eventstore.Encode(ctx, stream, eventstore.Cause{ID: "c1", Correlation: "cb-1"}, []proto.Message{requested()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, stream, eventstore.NoStream, data...); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ReadStream(ctx, stream, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadStream = %v, %v", recs, err)
	}
	if &recs[0].Data[0] != &data[0].Data[0] {
		t.Error("the appended event was decrypted again, not read as it was given")
	}

	// A failed append of another request under the same id as the next
	// event; that event is then stored with other values.
	other := requested()
	other.Request.ContactName = "Zebedee Canarz" // as long: sealed, as long too
	failed, _ := eventstore.Encode(ctx, stream, eventstore.Cause{ID: "c2", Correlation: "cb-1"}, []proto.Message{other})
	stored, _ := eventstore.Encode(ctx, stream, eventstore.Cause{ID: "c2", Correlation: "cb-1"}, []proto.Message{requested()})
	failed[0].ID = stored[0].ID
	if _, err := st.Append(ctx, stream, eventstore.NoStream, failed...); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("append at a wrong revision: %v, want a conflict", err)
	}
	sealed, err := s.SealData(ctx, stored[0].Type, stored[0].Data, "cb-1")
	if err != nil {
		t.Fatal(err)
	}
	stored[0].Data = sealed
	if _, err := inner.Append(ctx, stream, eventstore.Exactly(0), stored...); err != nil {
		t.Fatal(err)
	}
	recs, err = st.ReadStream(ctx, stream, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadStream = %v, %v", recs, err)
	}
	if m, _ := eventstore.Decode(recs[1]); !proto.Equal(m, requested()) {
		t.Errorf("the stored event read as %v: the failed append's values", m)
	}

	if _, err := s.Erase(ctx, canaryNumber); err != nil {
		t.Fatal(err)
	}
	recs, err = st.ReadStream(ctx, stream, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadStream after erasure = %v, %v", recs, err)
	}
	for _, r := range recs {
		m, _ := eventstore.Decode(r)
		if got := m.(*callbackv1.CallbackRequested).GetRequest().GetContactName(); got != Erased {
			t.Errorf("after erasure the contact's name reads %q, want %q", got, Erased)
		}
	}
}

// newSealedStore is a Sealer and a Store sealing with it over an embedded
// store (inner), closed when the test ends.
func newSealedStore(t *testing.T) (*Sealer, *embedded.Store, *Store) {
	t.Helper()
	s := newSealer(t)
	inner, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(inner, s)
	t.Cleanup(func() { st.Close() })
	return s, inner, st
}
