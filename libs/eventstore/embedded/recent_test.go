package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// Subscriptions read the same events, each in full, from one decoded copy:
// the second is handed the very bytes the first was (issue 12: ten
// subscriptions each decoding every record).
func TestSubscriptionsShareDecodedRecords(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		_, err := s.Append(t.Context(), fmt.Sprint("callback-", i), eventstore.NoStream, eventstore.EventData{
			ID: uuid.NewString(), Type: "t.v1.E", Data: []byte(fmt.Sprint("data ", i)),
			Metadata: map[string]string{eventstore.MetaCorrelation: fmt.Sprint("c", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func() []eventstore.RecordedEvent {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []eventstore.RecordedEvent
		err := s.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
			got = append(got, e)
			if len(got) == 3 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		return got
	}
	a, b := read(), read()
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].Data, b[i].Data) || a[i].Metadata[eventstore.MetaCorrelation] != fmt.Sprint("c", i) ||
			string(b[i].Data) != fmt.Sprint("data ", i) || a[i].Stream != b[i].Stream || a[i].Position != b[i].Position {
			t.Fatalf("event %d: %+v, then %+v", i, a[i], b[i])
		}
		if &a[i].Data[0] != &b[i].Data[0] {
			t.Fatalf("event %d decoded twice", i)
		}
	}
	// A command's load of a stream just read by the subscriptions shares
	// their copy too (a fifth of what a callback allocated was these reads).
	recs, err := s.ReadStream(t.Context(), "callback-0", 0)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != "data 0" || &recs[0].Data[0] != &a[0].Data[0] {
		t.Fatalf("ReadStream: %v, %v", recs, err)
	}
}
