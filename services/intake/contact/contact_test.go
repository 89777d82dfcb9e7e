package contact

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func fold(events ...proto.Message) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

func claim(id string) *callbackv1.ContactClaimed {
	return &callbackv1.ContactClaimed{Holder: id, At: timestamppb.New(t0)}
}

func release(id string) *callbackv1.ContactReleased {
	return &callbackv1.ContactReleased{Holder: id, At: timestamppb.New(t0)}
}

func TestDecide(t *testing.T) {
	open := Holder{Requested: true, Open: true, SameContact: true}
	cases := []struct {
		name       string
		given      []proto.Message
		when       any
		wantHolder string // holder after the events decided; "" with none
		wantErr    error
		pending    bool
	}{
		{"claim a free number", nil, Claim{CallbackID: "c1", At: t0}, "c1", nil, false},
		{"claim after release", []proto.Message{claim("c0"), release("c0")}, Claim{CallbackID: "c1", At: t0}, "c1", nil, false},
		{"claim own again is a no-op", []proto.Message{claim("c1")}, Claim{CallbackID: "c1", At: t0}, "c1", nil, false},
		{"open holder refuses", []proto.Message{claim("c0")}, Claim{CallbackID: "c1", At: t0, Holder: open}, "c0", ErrHeld, false},
		{"pending holder refuses", []proto.Message{claim("c0")}, Claim{CallbackID: "c1", At: t0}, "c0", ErrHeld, true},
		{"ended holder whose release was lost", []proto.Message{claim("c0")},
			Claim{CallbackID: "c1", At: t0, Holder: Holder{Requested: true, SameContact: true}}, "c1", nil, false},
		{"voided holder", []proto.Message{claim("c0")}, Claim{CallbackID: "c1", At: t0, Holder: Holder{Voided: true}}, "c1", nil, false},
		{"holder of another contact", []proto.Message{claim("c0")},
			Claim{CallbackID: "c1", At: t0, Holder: Holder{Requested: true, Open: true}}, "c1", nil, false},
		{"claim without id", nil, Claim{At: t0}, "", errors.New("any"), false},
		{"release by holder", []proto.Message{claim("c1")}, Release{CallbackID: "c1", At: t0}, "", nil, false},
		{"release by another is a no-op", []proto.Message{claim("c1")}, Release{CallbackID: "c0", At: t0}, "c1", nil, false},
		{"release twice is a no-op", []proto.Message{claim("c1"), release("c1")}, Release{CallbackID: "c1", At: t0}, "", nil, false},
		{"late release of a replaced holder is a no-op", []proto.Message{claim("c0"), claim("c1")},
			Release{CallbackID: "c0", At: t0}, "c1", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fold(c.given...)
			got, err := Decide(s, c.when)
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("err %v", err)
			case c.wantErr == ErrHeld && !errors.Is(err, ErrHeld):
				t.Fatalf("err %v, want ErrHeld", err)
			case c.wantErr != nil && err == nil:
				t.Fatalf("no error, want %v", c.wantErr)
			}
			var he *HeldError
			if errors.As(err, &he) && (he.Pending != c.pending || he.Holder != s.Holder) {
				t.Fatalf("held error %+v", he)
			}
			if s = fold(append(c.given, got...)...); s.Holder != c.wantHolder {
				t.Fatalf("holder %q, want %q (events %v)", s.Holder, c.wantHolder, got)
			}
		})
	}
}

func TestAbandoned(t *testing.T) {
	const grace = 30 * time.Second
	held := fold(claim("c0"))
	cases := []struct {
		name string
		s    State
		h    Holder
		now  time.Time
		want bool
	}{
		{"free", State{}, Holder{}, t0.Add(time.Hour), false},
		{"within grace", held, Holder{}, t0.Add(grace - time.Millisecond), false},
		{"grace over, never requested", held, Holder{}, t0.Add(grace), true},
		{"grace over, requested", held, Holder{Requested: true, Open: true}, t0.Add(time.Hour), false},
		{"grace over, voided already", held, Holder{Voided: true}, t0.Add(time.Hour), false},
	}
	for _, c := range cases {
		if got := Abandoned(c.s, c.h, c.now, grace); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestStreamHidesTheNumber(t *testing.T) {
	k1, k2 := make([]byte, KeySize), make([]byte, KeySize)
	k2[0] = 1
	a := Stream(k1, "support", "+14155550123")
	switch {
	case !strings.HasPrefix(a, StreamPrefix) || strings.Contains(a, "4155550123"):
		t.Fatalf("stream %q", a)
	case a != Stream(k1, "support", "+14155550123"):
		t.Fatal("not deterministic")
	case a == Stream(k1, "sales", "+14155550123") || a == Stream(k1, "support", "+14155550124"):
		t.Fatal("service or number not in the name")
	case a == Stream(k2, "support", "+14155550123"):
		t.Fatal("key not in the name")
	case Stream(k1, "support\x00+1", "") == Stream(k1, "support", "+1"):
		t.Fatal("service and number run together")
	case a == KeyStream:
		t.Fatal("claim stream named as the key stream")
	}
}

func TestKey(t *testing.T) {
	k := make([]byte, KeySize)
	if got, err := DecideKey(nil, k, t0); err != nil || len(got) != 1 {
		t.Fatalf("first key: %v %v", got, err)
	}
	if got, err := DecideKey(k, k, t0); err != nil || len(got) != 0 {
		t.Fatalf("second key: %v %v", got, err)
	}
	if _, err := DecideKey(nil, k[:5], t0); err == nil {
		t.Fatal("short key accepted")
	}
	first := &callbackv1.ContactKeyCreated{Key: []byte("first")}
	if got := KeyOf(KeyOf(nil, first), &callbackv1.ContactKeyCreated{Key: []byte("second")}); string(got) != "first" {
		t.Fatalf("key %q", got)
	}
}
