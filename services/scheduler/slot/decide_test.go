package slot

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestDecide(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	taken := func(id string, take int64, renewed bool) *callbackv1.SlotTaken {
		return &callbackv1.SlotTaken{CallbackId: id, Take: take, Renewed: renewed}
	}
	released := func(id string, take int64) *callbackv1.SlotReleased {
		return &callbackv1.SlotReleased{CallbackId: id, Take: take}
	}
	cases := []struct {
		name  string
		given []proto.Message
		cmd   Command
		want  proto.Message // nil: nothing
		err   error
	}{
		{"first place", nil, Take{CallbackID: "a", Capacity: 2, At: at}, taken("a", 1, false), nil},
		{"last place", []proto.Message{taken("a", 1, false)}, Take{CallbackID: "b", Capacity: 2, At: at}, taken("b", 2, false), nil},
		{"full", []proto.Message{taken("a", 1, false), taken("b", 2, false)}, Take{CallbackID: "c", Capacity: 2, At: at}, nil, ErrFull},
		{"closed: no capacity that day", nil, Take{CallbackID: "a", Capacity: 0, At: at}, nil, ErrFull},
		{"a released place is free again", []proto.Message{taken("a", 1, false), taken("b", 2, false), released("a", 1)},
			Take{CallbackID: "c", Capacity: 2, At: at}, taken("c", 3, false), nil},
		{"back before its release: renewed, even when full", []proto.Message{taken("a", 1, false), taken("b", 2, false)},
			Take{CallbackID: "a", Capacity: 2, At: at}, taken("a", 3, true), nil},
		{"release", []proto.Message{taken("a", 1, false)}, Release{CallbackID: "a", Take: 1, At: at}, released("a", 1), nil},
		{"stale release of a renewed place", []proto.Message{taken("a", 1, false), taken("a", 2, true)},
			Release{CallbackID: "a", Take: 1, At: at}, nil, nil},
		{"release twice", []proto.Message{taken("a", 1, false), released("a", 1)}, Release{CallbackID: "a", Take: 1, At: at}, nil, nil},
		{"release all: only the places still held by that take", []proto.Message{taken("a", 1, false), taken("b", 2, false), taken("b", 3, true)},
			ReleaseAll{Places: map[string]int64{"a": 1, "b": 2, "c": 1}, At: at}, released("a", 1), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s State
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.cmd)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			switch {
			case c.want == nil && len(got) != 0:
				t.Fatalf("got %v, want nothing", got)
			case c.want != nil && len(got) != 1:
				t.Fatalf("got %v, want %v", got, c.want)
			case c.want != nil:
				// At is the command's; compare the rest.
				switch g := got[0].(type) {
				case *callbackv1.SlotTaken:
					g.At = nil
				case *callbackv1.SlotReleased:
					g.At = nil
				}
				if !proto.Equal(got[0], c.want) {
					t.Fatalf("got %v, want %v", got[0], c.want)
				}
			}
		})
	}
}
