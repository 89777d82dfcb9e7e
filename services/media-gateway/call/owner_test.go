package call

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

func TestDecideOwnership(t *testing.T) {
	agentLeg := &mediav1.LegDialog{CallId: "a@gw", From: "<sip:ringback@gw>;tag=1", To: "<sip:a@h>;tag=2"}
	contactLeg := &mediav1.LegDialog{CallId: "c@gw", From: "<sip:ringback@gw>;tag=3", To: "<sip:+1@t>;tag=4"}
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "b", Generation: 3, Holder: "b/1"}
	answered := &mediav1.AgentAnswered{CallId: "k1", AgentLeg: agentLeg}
	connected := &mediav1.CallConnected{CallId: "k1", AgentLeg: agentLeg, ContactLeg: contactLeg}
	lose := Lose{By: "a", Holder: "a/1", Generation: 4, HungUp: []string{LegAgent, LegContact}, Reason: "gateway b lost", At: t0}
	cases := []struct {
		name  string
		given []proto.Message
		when  Command
		want  []string
		err   error
	}{
		{"lost while connected ends", []proto.Message{started, answered, connected}, lose, []string{"CallLost", "CallEnded"}, nil},
		{"lost while dialling fails", []proto.Message{started, answered}, lose, []string{"CallLost", "DialFailed"}, nil},
		{"lost with a party closes the party", []proto.Message{started, connected, &mediav1.PartyRinging{}}, lose,
			[]string{"CallLost", "PartyLeft", "CallEnded"}, nil},
		{"lost after the end is nothing", []proto.Message{started, connected, &mediav1.CallEnded{}}, lose, nil, nil},
		{"its own holder cannot lose it", []proto.Message{started}, Lose{By: "b", Holder: "b/1", Generation: 3}, nil, ErrNotLost},
		{"the same instance restarted loses it", []proto.Message{started}, Lose{By: "b", Holder: "b/2", Generation: 1},
			[]string{"CallLost", "DialFailed"}, nil},
		{"unknown call is not lost", nil, lose, nil, nil},
		{"forward to a live call", []proto.Message{started}, Forward{Via: "a", EventID: "e1"}, []string{"ControlForwarded"}, nil},
		{"no forward to an ended call", []proto.Message{started, &mediav1.DialFailed{}}, Forward{Via: "a", EventID: "e1"}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			var names []string
			for _, e := range got {
				names = append(names, catalog.Short(catalog.TypeName(e)))
			}
			if !slices.Equal(names, c.want) {
				t.Fatalf("got %v, want %v", names, c.want)
			}
		})
	}
}

func TestEvolveKeepsTheLegsUp(t *testing.T) {
	agentLeg := &mediav1.LegDialog{CallId: "a"}
	contactLeg := &mediav1.LegDialog{CallId: "c"}
	partyLeg := &mediav1.LegDialog{CallId: "p"}
	steps := []struct {
		e    proto.Message
		want []string
	}{
		{&mediav1.DialStarted{CallId: "k1", Instance: "b", Generation: 1}, nil},
		{&mediav1.AgentAnswered{AgentLeg: agentLeg}, []string{"agent"}},
		{&mediav1.CallConnected{ContactLeg: contactLeg}, []string{"agent", "contact"}},
		{&mediav1.PartyRinging{}, []string{"agent", "contact"}},
		{&mediav1.PartyConnected{PartyLeg: partyLeg}, []string{"agent", "contact", "party"}},
		{&mediav1.CallTransferred{}, []string{"contact", "party"}},
		{&mediav1.PartyLeft{}, []string{"contact"}},
		{&mediav1.CallEnded{}, nil},
	}
	s := State{}
	for i, st := range steps {
		s = Evolve(s, st.e)
		var got []string
		for role := range s.Legs() {
			got = append(got, role)
		}
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Fatalf("after step %d (%s): legs %v, want %v", i, catalog.Short(catalog.TypeName(st.e)), got, st.want)
		}
	}
	if s.Generation != 1 || s.Instance != "b" {
		t.Fatalf("owner %s/%d, want b/1", s.Instance, s.Generation)
	}
}

func TestLostTo(t *testing.T) {
	s := Evolve(State{}, &mediav1.DialStarted{CallId: "k1", Instance: "b", Generation: 2, Holder: "b/1"})
	if s.LostTo("b/1") || !s.LostTo("a/1") || !s.LostTo("b/2") {
		t.Fatal("a call is lost to any process but the one that placed it")
	}
	if Evolve(s, &mediav1.CallEnded{}).LostTo("a/1") {
		t.Fatal("an ended call is never lost")
	}
}
