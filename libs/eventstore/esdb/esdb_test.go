package esdb_test

import (
	"os"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/esdb"
	"github.com/ringback/ringback/libs/eventstore/eventstoretest"
)

// TestConformance runs the port's suite against a real server, for example
// KURRENTDB_URL=esdb://localhost:2113?tls=false with KurrentDB in docker.
func TestConformance(t *testing.T) {
	url := os.Getenv("KURRENTDB_URL")
	if url == "" {
		t.Skip("KURRENTDB_URL not set: no KurrentDB/EventStoreDB to run the conformance suite against (e.g. KURRENTDB_URL=esdb://localhost:2113?tls=false)")
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := esdb.New(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}
