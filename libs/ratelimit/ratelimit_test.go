package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/clock"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Limit
		err  bool
	}{
		{in: "10/1m:5", want: Limit{Count: 10, Per: time.Minute, Burst: 5}},
		{in: "10/m:5", want: Limit{Count: 10, Per: time.Minute, Burst: 5}},
		{in: "3/1h", want: Limit{Count: 3, Per: time.Hour, Burst: 3}},
		{in: "200/1s:400", want: Limit{Count: 200, Per: time.Second, Burst: 400}},
		{in: "off"},
		{in: "0"},
		{in: "10", err: true},
		{in: "0/1m", err: true},
		{in: "10/1m:0", err: true},
		{in: "10/fortnight", err: true},
		{in: "-1/1m", err: true},
		{in: "10/1ns", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrSyntax", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if back, err := Parse(got.String()); err != nil || back != got {
				t.Fatalf("Parse(String()) = %v, %v; want %v", back, err, got)
			}
		})
	}
}

// step is one request in a table: after advancing the clock by wait,
// Allow(key) must answer ok, and when refused, retryAfter.
type step struct {
	wait  time.Duration
	key   string
	ok    bool
	retry time.Duration
}

func TestAllow(t *testing.T) {
	perMin := Limit{Count: 10, Per: time.Minute, Burst: 5} // a token every 6 s
	for _, tc := range []struct {
		name  string
		limit Limit
		steps []step
	}{
		{name: "burst then refused until a token", limit: perMin, steps: []step{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true},
			{key: "a", retry: 6 * time.Second},
			{wait: 2 * time.Second, key: "a", retry: 4 * time.Second},
			{wait: 4 * time.Second, key: "a", ok: true},
			{key: "a", retry: 6 * time.Second},
		}},
		{name: "keys are apart", limit: Limit{Count: 1, Per: time.Hour, Burst: 1}, steps: []step{
			{key: "a", ok: true}, {key: "a", retry: time.Hour}, {key: "b", ok: true}, {key: "b", retry: time.Hour},
		}},
		{name: "refill stops at the burst", limit: Limit{Count: 1, Per: time.Second, Burst: 2}, steps: []step{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", retry: time.Second},
			{wait: time.Hour, key: "a", ok: true}, {key: "a", ok: true}, {key: "a", retry: time.Second},
		}},
		{name: "refused requests take nothing", limit: Limit{Count: 1, Per: 10 * time.Second, Burst: 1}, steps: []step{
			{key: "a", ok: true}, {key: "a", retry: 10 * time.Second}, {wait: 5 * time.Second, key: "a", retry: 5 * time.Second},
			{key: "a", retry: 5 * time.Second}, {wait: 5 * time.Second, key: "a", ok: true},
		}},
		{name: "off allows all", limit: Limit{}, steps: []step{
			{key: "a", ok: true}, {key: "a", ok: true}, {key: "a", ok: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			lm := New(c, 0)
			taken := map[string][]time.Time{} // what each key let through: the record AllowAfter replays
			for i, s := range tc.steps {
				c.Advance(s.wait)
				ok, retry := lm.Allow(s.key, tc.limit)
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d (%s): Allow = %v, %s; want %v, %s", i, s.key, ok, retry, s.ok, s.retry)
				}
				// The bucket replayed from its record decides the same.
				if ok, retry := tc.limit.AllowAfter(taken[s.key], c.Now()); ok != s.ok || retry != s.retry {
					t.Fatalf("step %d (%s): AllowAfter = %v, %s; want %v, %s", i, s.key, ok, retry, s.ok, s.retry)
				}
				if ok {
					taken[s.key] = append(taken[s.key], c.Now())
				}
			}
		})
	}
}

// A flood of distinct keys keeps at most maxKeys buckets; a key evicted
// after it refilled loses nothing.
func TestBoundedMemory(t *testing.T) {
	c := clock.NewFake(t0)
	lm := New(c, 100)
	l := Limit{Count: 1, Per: time.Second, Burst: 1}
	for i := range 100_000 {
		lm.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), l)
	}
	st := lm.Stats()
	if st.Keys != 100 {
		t.Fatalf("keys = %d, want 100", st.Keys)
	}
	// Every one was evicted within the same instant, short of tokens.
	if st.EvictedShort != 100_000-100 {
		t.Fatalf("evicted short = %d, want %d", st.EvictedShort, 100_000-100)
	}
	// Once refilled, evicting costs nothing and is not counted.
	c.Advance(time.Second)
	for i := range 100 {
		lm.Allow(fmt.Sprintf("b%d", i), l)
	}
	if st := lm.Stats(); st.EvictedShort != 100_000-100 || st.Keys != 100 {
		t.Fatalf("after refill: %+v", st)
	}
}

// A busy key survives a flood of others as long as it keeps being used:
// the least recently used goes.
func TestBusyKeyKept(t *testing.T) {
	c := clock.NewFake(t0)
	lm := New(c, 10)
	l := Limit{Count: 1, Per: time.Hour, Burst: 1}
	if ok, _ := lm.Allow("attacker", l); !ok {
		t.Fatal("first request refused")
	}
	for i := range 1000 {
		lm.Allow(fmt.Sprintf("k%d", i), l)
		if ok, _ := lm.Allow("attacker", l); ok {
			t.Fatalf("attacker allowed again after %d other keys", i+1)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1,
		time.Second + 1: 2, 6 * time.Second: 6, time.Hour: 3600} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}
