package call

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a"}
	connected := &mediav1.CallConnected{CallId: "k1"}
	start := Start{ID: "k1", Interaction: "i1", AgentURI: "sip:a@h", ContactURI: "sip:+1@t", Instance: "a", At: t0}
	cases := []struct {
		name  string
		given []proto.Message
		when  any
		want  []string
	}{
		{"start dials once", nil, start, []string{"DialStarted"}},
		{"start again is nothing", []proto.Message{started}, start, nil},
		{"agent rings", []proto.Message{started}, Report{Step: AgentRinging, At: t0}, []string{"AgentRinging"}},
		{"contact rings once", []proto.Message{started, &mediav1.ContactRinging{}}, Report{Step: ContactRinging}, nil},
		{"connect", []proto.Message{started}, Report{Step: Connect}, []string{"CallConnected"}},
		{"busy", []proto.Message{started}, Report{Step: Fail, Outcome: mediav1.Outcome_OUTCOME_BUSY, Code: 486}, []string{"DialFailed"}},
		{"failure after connect ends", []proto.Message{started, connected}, Report{Step: Fail}, []string{"CallEnded"}},
		{"end while dialling is cancelled", []proto.Message{started}, Report{Step: End}, []string{"DialFailed"}},
		{"end connected", []proto.Message{started, connected}, Report{Step: End}, []string{"CallEnded"}},
		{"nothing after the end", []proto.Message{started, connected, &mediav1.CallEnded{}}, Report{Step: End}, nil},
		{"report on unknown call", nil, Report{Step: Connect}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i, e := range got {
				if n := catalog.Short(catalog.TypeName(e)); n != c.want[i] {
					t.Fatalf("event %d = %s, want %s", i, n, c.want[i])
				}
			}
		})
	}
}
