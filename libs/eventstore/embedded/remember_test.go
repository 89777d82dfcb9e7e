package embedded

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// A record is remembered decoded as it is written, for the subscriptions
// to take without reading the log, and the copy is the store's own: what
// the caller does with its bytes and metadata after Append changes
// nothing read.
func TestWrittenRecordsAreRememberedAsWritten(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, meta := []byte("abc"), map[string]string{"k": "v"}
	evs := []eventstore.EventData{{ID: uuid.NewString(), Type: "t.v1.E", Data: data, Metadata: meta},
		{ID: uuid.NewString(), Type: "t.v1.E", Data: []byte("de"), Metadata: meta}}
	if _, err := s.Append(t.Context(), "s-1", eventstore.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	off := s.appends.at(0).off
	s.mu.RUnlock()
	if s.recent.get(off) == nil {
		t.Fatal("the record written is not remembered")
	}
	data[0], meta["k"] = 'X', "changed"
	recs, err := s.ReadStream(t.Context(), "s-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || string(recs[0].Data) != "abc" || string(recs[1].Data) != "de" ||
		recs[0].Metadata["k"] != "v" || recs[1].Metadata["k"] != "v" || recs[0].ID != evs[0].ID {
		t.Fatalf("read %+v", recs)
	}
	// Appending to the first event's bytes does not run into the second's.
	recs[0].Data = append(recs[0].Data, 'Z')
	if again, _ := s.ReadStream(t.Context(), "s-1", 1); string(again[0].Data) != "de" {
		t.Fatalf("the second event reads %q", again[0].Data)
	}
}
