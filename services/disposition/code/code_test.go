package code

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func fold(events ...proto.Message) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	cat, err := ParseCatalogue("resolved,callback-again,wrong-number")
	if err != nil {
		t.Fatal(err)
	}
	opened := &dispositionv1.DispositionOpened{InteractionId: "i1", AgentId: "a1", Service: "support", CallbackId: "c1"}
	set := &dispositionv1.DispositionSet{InteractionId: "i1", AgentId: "a1", Code: "resolved"}
	closed := &dispositionv1.DispositionClosed{InteractionId: "i1", Code: "resolved"}
	open := Open{InteractionID: "i1", CallbackID: "c1", AgentID: "a1", Service: "support", At: t0}
	setTo := func(code string) Set { return Set{Code: code, At: t0, Catalogue: cat} }
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    proto.Message // nil: no event
		wantErr error
	}{
		{"open", nil, open, opened, nil},
		{"open again", []proto.Message{opened}, open, nil, nil},
		{"taken over by another agent", []proto.Message{opened}, Open{InteractionID: "i1", AgentID: "a2"},
			&dispositionv1.DispositionOpened{InteractionId: "i1", AgentId: "a2"}, nil},
		{"open after done records the agent", []proto.Message{closed}, open, opened, nil},
		{"set", []proto.Message{opened}, setTo("resolved"), set, nil},
		{"set same code again", []proto.Message{opened, set}, setTo("resolved"), nil, nil},
		{"change code", []proto.Message{opened, set}, setTo("wrong-number"),
			&dispositionv1.DispositionSet{InteractionId: "i1", AgentId: "a1", Code: "wrong-number"}, nil},
		{"set by a supervisor", []proto.Message{opened}, Set{Code: "resolved", AgentID: "sup", Catalogue: cat},
			&dispositionv1.DispositionSet{InteractionId: "i1", AgentId: "sup", Code: "resolved"}, nil},
		{"unknown code", []proto.Message{opened}, setTo("great"), nil, ErrUnknownCode},
		{"empty code", []proto.Message{opened}, setTo(""), nil, ErrUnknownCode},
		{"set before accept", nil, setTo("resolved"), nil, ErrNotFound},
		{"set after done", []proto.Message{opened, set, closed}, setTo("wrong-number"), nil, ErrClosed},
		{"set after done without accept", []proto.Message{closed}, setTo("resolved"), nil, ErrClosed},
		{"close keeps the set code", []proto.Message{opened, set}, Close{InteractionID: "i1"}, closed, nil},
		{"close with Done's code", []proto.Message{opened}, Close{InteractionID: "i1", Code: "resolved"}, closed, nil},
		{"close twice", []proto.Message{opened, closed}, Close{InteractionID: "i1"}, nil, nil},
		{"close before open", nil, Close{InteractionID: "i1"}, &dispositionv1.DispositionClosed{InteractionId: "i1"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			if c.name == "unknown command" {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if c.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			// Times are the command's; compare the rest.
			g := proto.Clone(got[0])
			g.ProtoReflect().Clear(g.ProtoReflect().Descriptor().Fields().ByName("at"))
			if !proto.Equal(g, c.want) {
				t.Fatalf("got %v, want %v", g, c.want)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	s := fold(&dispositionv1.DispositionOpened{InteractionId: "i1", AgentId: "a1", Service: "support", CallbackId: "c1"},
		&dispositionv1.DispositionSet{Code: "callback-again"}, &dispositionv1.DispositionClosed{InteractionId: "i1"})
	want := State{InteractionID: "i1", CallbackID: "c1", AgentID: "a1", Service: "support", Code: "callback-again",
		Opened: true, Closed: true}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
}

func TestParseCatalogue(t *testing.T) {
	cases := []struct {
		spec    string
		want    []Code
		wantErr bool
	}{
		{"resolved,callback-again", []Code{{"resolved", "Resolved"}, {"callback-again", "Callback again"}}, false},
		{" resolved , sale=Sale made ,", []Code{{"resolved", "Resolved"}, {"sale", "Sale made"}}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"Resolved", nil, true},
		{"a b", nil, true},
		{"resolved,resolved", nil, true},
		{"resolved=", nil, true},
	}
	for _, c := range cases {
		cat, err := ParseCatalogue(c.spec)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err %v", c.spec, err)
			continue
		}
		got := cat.Codes()
		if len(got) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.spec, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: got %v, want %v", c.spec, got, c.want)
			}
		}
	}
	cat, _ := ParseCatalogue("resolved")
	if !cat.Has("resolved") || cat.Has("other") || cat.Has("") {
		t.Fatal("Has")
	}
}
