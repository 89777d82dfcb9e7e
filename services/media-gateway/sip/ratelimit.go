package sip

import (
	"log/slog"
	"sync"
	"time"
)

// Flood protection for out-of-dialog requests (DESIGN.md 3: sipgo has none).
// Every new INVITE, OPTIONS, CANCEL, stray BYE, unknown method ... costs a
// transaction and a response; above Config.SourceRate requests per second
// from one source IP they are dropped without an answer, so a flood of calls
// from outside costs us no more than reading it and gives the sender nothing
// to measure. REGISTER has its own limits (lockout.go); requests inside a
// dialog (To tag) and ACKs are never limited: they belong to calls we placed.

const (
	// DefaultSourceRate is out-of-dialog requests per second accepted from
	// one source IP: far above what a trunk's keep-alive or a phone sends.
	DefaultSourceRate = 50
	// sourceBurst: a source may send this many seconds' worth at once.
	sourceBurst = 2
	// dropLogEvery: one warning per flooding source per interval, with the
	// count dropped, so that the flood does not flood the log.
	dropLogEvery = time.Minute
	// maxSources bounds the per-source records.
	maxSources = 10000
)

// sourceLimiter is a token bucket per source IP. It is safe for concurrent
// use.
type sourceLimiter struct {
	rate  float64 // tokens per second; <= 0 disables
	burst float64
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time // of the last refill
	dropped int       // since the last warning
	warned  time.Time
}

func newSourceLimiter(rate int, log *slog.Logger) *sourceLimiter {
	return &sourceLimiter{
		rate:    float64(rate),
		burst:   float64(rate) * sourceBurst,
		log:     log,
		now:     time.Now,
		buckets: make(map[string]*bucket),
	}
}

// allow takes a token from source's bucket, or counts a drop.
func (l *sourceLimiter) allow(source string) bool {
	if l.rate <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[source]
	if !ok {
		if len(l.buckets) >= maxSources {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[source] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	b.dropped++
	if now.Sub(b.warned) >= dropLogEvery {
		l.log.Warn("sip: source over its request rate, dropping", "source", source,
			"dropped", b.dropped, "rate", l.rate, "next_log_in", dropLogEvery)
		b.warned, b.dropped = now, 0
	}
	return false
}

// pruneLocked forgets the buckets that have refilled (idle sources), then,
// still full under a flood from many addresses, any.
func (l *sourceLimiter) pruneLocked(now time.Time) {
	idle := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= idle && now.Sub(b.warned) >= dropLogEvery {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxSources {
			break
		}
		delete(l.buckets, k)
	}
}
