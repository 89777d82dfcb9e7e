// Package ratelimit is a keyed token-bucket limiter with bounded memory:
// one bucket per key (a client address, a phone number, a service), in
// memory, so per process. The keys are kept in least-recently-used order
// and at most MaxKeys of them: a flood of distinct keys (addresses) evicts
// the oldest buckets instead of growing memory without bound.
//
// Evicting a bucket forgets what its key spent. The least recently used
// goes first, which is almost always one that has refilled since its last
// use and so is the same as none: evicting it costs nothing. One still
// short of tokens is evicted only when MaxKeys other keys were used since
// it was, and its key then starts afresh with a full burst. That is the price of a bound, and it is small: an attacker
// who owns more addresses than MaxKeys already has more than MaxKeys
// bursts. Evictions of short buckets are counted (Stats) so the bound can
// be raised when they happen.
package ratelimit

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringback/ringback/libs/clock"
)

// Limit is a token bucket's shape: Count tokens every Per, at most Burst
// held. The zero Limit is no limit.
type Limit struct {
	Count int
	Per   time.Duration
	Burst int
}

// Off says whether l limits nothing.
func (l Limit) Off() bool { return l.Count <= 0 || l.Per <= 0 }

// interval is the time one token takes to come back.
func (l Limit) interval() time.Duration { return l.Per / time.Duration(l.Count) }

// tolerance is how far ahead of now a bucket's theoretical arrival time
// may run: the burst less the token being taken.
func (l Limit) tolerance() time.Duration {
	b := l.Burst
	if b < 1 {
		b = 1
	}
	return time.Duration(b-1) * l.interval()
}

// String writes l the way Parse reads it.
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s:%d", l.Count, shortDuration(l.Per), l.Burst)
}

// Set makes *Limit a flag.Value.
func (l *Limit) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

func shortDuration(d time.Duration) string {
	s := d.String()
	for _, z := range []string{"0s", "0m"} {
		if strings.HasSuffix(s, "m"+z) || strings.HasSuffix(s, "h"+z) {
			s = strings.TrimSuffix(s, z)
		}
	}
	return s
}

// ErrSyntax is the error of a limit Parse cannot read.
var ErrSyntax = errors.New(`a limit is "COUNT/PERIOD:BURST" such as "10/1m:5" (10 a minute, 5 at once), or "off"`)

// Parse reads "COUNT/PERIOD:BURST" ("10/1m:5": ten a minute, five at
// once; ":BURST" left out is a burst of COUNT), or "off" / "0" for no limit.
func Parse(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" || s == "" {
		return Limit{}, nil
	}
	rate, burst, hasBurst := strings.Cut(s, ":")
	count, per, ok := strings.Cut(rate, "/")
	if !ok {
		return Limit{}, fmt.Errorf("limit %q: %w", s, ErrSyntax)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 1_000_000_000 {
		return Limit{}, fmt.Errorf("limit %q: count must be 1..10^9: %w", s, ErrSyntax)
	}
	if per != "" && !strings.ContainsAny(per[:1], "0123456789") {
		per = "1" + per // "10/m"
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Millisecond || d > 31*24*time.Hour {
		return Limit{}, fmt.Errorf("limit %q: period must be 1ms..744h: %w", s, ErrSyntax)
	}
	b := n
	if hasBurst {
		if b, err = strconv.Atoi(burst); err != nil || b < 1 || b > 1_000_000_000 {
			return Limit{}, fmt.Errorf("limit %q: burst must be 1..10^9: %w", s, ErrSyntax)
		}
	}
	return Limit{Count: n, Per: d, Burst: b}, nil
}

// AllowAfter says whether l lets one more through at now, given the times
// (oldest first) of those it let through before, each of which took a
// token: the bucket replayed from a record rather than kept in memory, so
// that every replica reading the same record decides the same (a claim
// stream in the shared store). The times older than the bucket's memory
// (a full bucket forgets) weigh nothing, so the last few suffice.
func (l Limit) AllowAfter(taken []time.Time, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.Off() {
		return true, 0
	}
	var tat time.Time
	for _, t := range taken {
		if tat.Before(t) {
			tat = t
		}
		tat = tat.Add(l.interval())
	}
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > l.tolerance() {
		// A record far past the limit (taken under a looser one, or
		// adopted regardless) holds one period at most.
		return false, min(ahead-l.tolerance(), l.Per)
	}
	return true, 0
}

// DefaultMaxKeys bounds a Limiter's buckets unless told otherwise: at
// about 150 bytes a bucket (key, map entry, list element), 100,000 keys
// are some 15 MB.
const DefaultMaxKeys = 100_000

// Limiter holds the buckets of many keys. Safe for concurrent use.
type Limiter struct {
	clock   clock.Clock
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
	evicted uint64                   // buckets evicted while short of tokens
}

// bucket is a token bucket kept as its theoretical arrival time (the
// generic cell rate algorithm): the time at which it would be full again.
// One integer instead of a count and a time, and exact: no float drift in
// the Retry-After.
type bucket struct {
	key string
	tat time.Time
}

// New is a Limiter keeping at most maxKeys buckets (0: DefaultMaxKeys).
func New(c clock.Clock, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{clock: c, maxKeys: maxKeys, buckets: map[string]*list.Element{}}
}

// Allow takes a token from key's bucket of shape l. When there is none it
// takes nothing and says how long until there is one. An Off limit allows
// everything and keeps nothing.
func (lm *Limiter) Allow(key string, l Limit) (ok bool, retryAfter time.Duration) {
	if l.Off() {
		return true, 0
	}
	now := lm.clock.Now()
	lm.mu.Lock()
	defer lm.mu.Unlock()
	var b *bucket
	if e, found := lm.buckets[key]; found {
		b = e.Value.(*bucket)
		lm.lru.MoveToFront(e)
	} else {
		lm.makeRoom(now)
		b = &bucket{key: key, tat: now}
		lm.buckets[key] = lm.lru.PushFront(b)
	}
	tat := b.tat
	if tat.Before(now) {
		tat = now // full: what it saved beyond the burst is not kept
	}
	if ahead := tat.Sub(now); ahead > l.tolerance() {
		return false, ahead - l.tolerance()
	}
	b.tat = tat.Add(l.interval())
	return true, 0
}

// makeRoom evicts the least recently used bucket when the limiter is full.
func (lm *Limiter) makeRoom(now time.Time) {
	if len(lm.buckets) < lm.maxKeys {
		return
	}
	e := lm.lru.Back()
	b := e.Value.(*bucket)
	if now.Before(b.tat) {
		lm.evicted++
	}
	lm.lru.Remove(e)
	delete(lm.buckets, b.key)
}

// Stats are what a Limiter holds.
type Stats struct {
	Keys int
	// EvictedShort counts buckets evicted before they had refilled: their
	// keys got a fresh burst early. Non-zero means MaxKeys is too small
	// for the traffic.
	EvictedShort uint64
}

// Stats reports the limiter's size and evictions.
func (lm *Limiter) Stats() Stats {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	return Stats{Keys: len(lm.buckets), EvictedShort: lm.evicted}
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1, as
// HTTP's Retry-After wants it.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}
