package contact

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/ratelimit"
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

func claim(id string) *callbackv1.ContactClaimed { return claimOf(id, "support") }

func claimOf(id, service string) *callbackv1.ContactClaimed {
	return &callbackv1.ContactClaimed{Holder: id, At: timestamppb.New(t0), Service: service}
}

func release(id string) *callbackv1.ContactReleased {
	return &callbackv1.ContactReleased{Holder: id, At: timestamppb.New(t0)}
}

func holders(s State) string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(s.Holders)) {
		out = append(out, id+"="+s.Holders[id].Service)
	}
	return strings.Join(out, ",")
}

func TestDecide(t *testing.T) {
	open := Holder{Requested: true, Open: true, SameContact: true}
	ended := Holder{Requested: true, SameContact: true}
	// claimFor is a claim as intake makes it by default: one per service, at most 3.
	claimFor := func(id, service string, hs map[string]Holder) Claim {
		return Claim{CallbackID: id, Service: service, At: t0, Holders: hs, OnePerService: true, Max: 3}
	}
	three := []proto.Message{claimOf("a", "sales"), claimOf("b", "billing"), claimOf("c", "support")}
	threeGone := append(slices.Clone(three), release("a"), release("b"), release("c"))
	threeAnHour := ratelimit.Limit{Count: 3, Per: time.Hour, Burst: 3}
	cases := []struct {
		name        string
		given       []proto.Message
		when        Command
		wantHolders string // after the events decided
		wantErr     error
		pending     bool
	}{
		{"claim a free number", nil, claimFor("c1", "support", nil), "c1=support", nil, false},
		{"claim after release", []proto.Message{claim("c0"), release("c0")}, claimFor("c1", "support", nil), "c1=support", nil, false},
		{"claim own again is a no-op", []proto.Message{claim("c1")}, claimFor("c1", "support", nil), "c1=support", nil, false},
		{"own claim for another service is moved", []proto.Message{claim("c1")}, claimFor("c1", "sales", nil), "c1=sales", nil, false},
		{"open holder of the service refuses", []proto.Message{claim("c0")},
			claimFor("c1", "support", map[string]Holder{"c0": open}), "c0=support", ErrHeld, false},
		{"pending holder of the service refuses", []proto.Message{claim("c0")},
			claimFor("c1", "support", nil), "c0=support", ErrHeld, true},
		{"open holder of another service: both held", []proto.Message{claimOf("c0", "sales")},
			claimFor("c1", "support", map[string]Holder{"c0": open}), "c0=sales,c1=support", nil, false},
		{"second of a service allowed without the rule", []proto.Message{claim("c0")},
			Claim{CallbackID: "c1", Service: "support", At: t0, Holders: map[string]Holder{"c0": open}, Max: 3}, "c0=support,c1=support", nil, false},
		{"cap reached with open holders", three,
			claimFor("d", "other", map[string]Holder{"a": open, "b": open, "c": open}), "a=sales,b=billing,c=support", ErrCapped, false},
		{"cap reached with pending holders", three,
			claimFor("d", "other", nil), "a=sales,b=billing,c=support", ErrCapped, false},
		{"cap: an ended holder is released and makes room", three,
			claimFor("d", "other", map[string]Holder{"a": open, "b": ended, "c": open}), "a=sales,c=support,d=other", nil, false},
		{"cap: a voided holder is released and makes room", three,
			claimFor("d", "other", map[string]Holder{"a": open, "b": open, "c": {Voided: true}}), "a=sales,b=billing,d=other", nil, false},
		{"cap: a holder of another contact is released", three,
			claimFor("d", "other", map[string]Holder{"a": {Requested: true, Open: true}, "b": open, "c": open}), "b=billing,c=support,d=other", nil, false},
		{"no cap", three, Claim{CallbackID: "d", Service: "other", At: t0}, "a=sales,b=billing,c=support,d=other", nil, false},
		{"adopt past the cap and the rule", three,
			Claim{CallbackID: "d", Service: "support", At: t0, OnePerService: true, Max: 3, Adopt: true,
				Holders: map[string]Holder{"a": open, "b": open, "c": open}}, "a=sales,b=billing,c=support,d=support", nil, false},
		{"rate: a fourth callback within the hour is refused, released or not", threeGone,
			Claim{CallbackID: "d", Service: "other", At: t0.Add(time.Minute), Max: 3, Rate: threeAnHour}, "", ErrRated, false},
		{"rate: the next once a token came back", threeGone,
			Claim{CallbackID: "d", Service: "other", At: t0.Add(20 * time.Minute), Max: 3, Rate: threeAnHour}, "d=other", nil, false},
		{"rate: adopted past it", threeGone,
			Claim{CallbackID: "d", Service: "other", At: t0, Rate: threeAnHour, Adopt: true}, "d=other", nil, false},
		{"claim without id", nil, Claim{At: t0}, "", errors.New("any"), false},
		{"release by holder", []proto.Message{claim("c1")}, Release{CallbackID: "c1", At: t0}, "", nil, false},
		{"release by another is a no-op", []proto.Message{claim("c1")}, Release{CallbackID: "c0", At: t0}, "c1=support", nil, false},
		{"release twice is a no-op", []proto.Message{claim("c1"), release("c1")}, Release{CallbackID: "c1", At: t0}, "", nil, false},
		{"release one of many", three, Release{CallbackID: "b", At: t0}, "a=sales,c=support", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fold(c.given...)
			got, err := Decide(s, c.when)
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("err %v", err)
			case (errors.Is(c.wantErr, ErrHeld) || errors.Is(c.wantErr, ErrCapped) || errors.Is(c.wantErr, ErrRated)) && !errors.Is(err, c.wantErr):
				t.Fatalf("err %v, want %v", err, c.wantErr)
			case c.wantErr != nil && err == nil:
				t.Fatalf("no error, want %v", c.wantErr)
			}
			var he *HeldError
			if errors.As(err, &he) && he.Pending != c.pending {
				t.Fatalf("held error %+v", he)
			}
			if err != nil && len(got) > 0 {
				t.Fatalf("events %v beside error %v", got, err)
			}
			if h := holders(fold(append(c.given, got...)...)); h != c.wantHolders {
				t.Fatalf("holders %q, want %q (events %v)", h, c.wantHolders, got)
			}
		})
	}
}

// The rate is replayed from the claims the stream keeps: when refused,
// the wait is until a token comes back, and the record stays bounded.
func TestRateFromTheClaims(t *testing.T) {
	var events []proto.Message
	for i := range 3 * keptClaims {
		id := fmt.Sprint("c", i)
		events = append(events, &callbackv1.ContactClaimed{Holder: id, At: timestamppb.New(t0.Add(time.Duration(i) * time.Minute)), Service: "s"},
			release(id))
	}
	s := fold(events...)
	if len(s.Claimed) != keptClaims || !s.Claimed[keptClaims-1].Equal(t0.Add(time.Duration(3*keptClaims-1)*time.Minute)) {
		t.Fatalf("kept %d claims, the last at %v", len(s.Claimed), s.Claimed[len(s.Claimed)-1])
	}
	// One a minute for hours against one every 20 minutes, 3 at once.
	last := t0.Add(time.Duration(3*keptClaims-1) * time.Minute)
	_, err := Decide(s, Claim{CallbackID: "x", Service: "s", At: last, Rate: ratelimit.Limit{Count: 3, Per: time.Hour, Burst: 3}})
	var re *RateError
	if !errors.As(err, &re) || re.RetryAfter <= 0 || re.RetryAfter > time.Hour {
		t.Fatalf("Decide = %v, want a RateError with a wait of an hour at most", err)
	}
	t.Logf("refused: %v", re)
}

func TestEvolveDoesNotChangeItsInput(t *testing.T) {
	s := fold(claim("a"))
	_ = Evolve(s, claim("b"))
	_ = Evolve(s, release("a"))
	if holders(s) != "a=support" {
		t.Fatalf("input changed: %s", holders(s))
	}
}

func TestAbandoned(t *testing.T) {
	const grace = 30 * time.Second
	held := Hold{Service: "support", ClaimedAt: t0}
	cases := []struct {
		name string
		h    Holder
		now  time.Time
		want bool
	}{
		{"within grace", Holder{}, t0.Add(grace - time.Millisecond), false},
		{"grace over, never requested", Holder{}, t0.Add(grace), true},
		{"grace over, requested", Holder{Requested: true, Open: true}, t0.Add(time.Hour), false},
		{"grace over, voided already", Holder{Voided: true}, t0.Add(time.Hour), false},
	}
	for _, c := range cases {
		if got := Abandoned(held, c.h, c.now, grace); got != c.want {
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
	n := NumberStream(k1, "+14155550123")
	switch {
	case !strings.HasPrefix(n, StreamPrefix+"n") || strings.Contains(n, "4155550123"):
		t.Fatalf("number stream %q", n)
	case n != NumberStream(k1, "+14155550123") || n == NumberStream(k1, "+14155550124") || n == NumberStream(k2, "+14155550123"):
		t.Fatal("number stream not a keyed function of the number")
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
