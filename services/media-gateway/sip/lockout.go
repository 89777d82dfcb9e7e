package sip

import (
	"log/slog"
	"sync"
	"time"
)

// Lock-outs after failed registrations (issue 16, point 7). Failures are
// counted per account and source address together: a phone with a wrong
// password locks that account from that address, not every phone behind
// the same NAT, nor the same account from another office. A source failing
// for many accounts (a scan of user names, a brute force spread over
// accounts) is stopped by a per-source guard with a higher allowance, so
// guessing stays bounded either way.

const (
	// An (account, source) pair that fails pairFailLimit times within
	// failWindow is refused (403) for blockFor, right password or not.
	pairFailLimit = 5
	// A source that fails sourceFailLimit times within failWindow, whatever
	// the accounts, is refused for blockFor. An office of phones with one
	// mistyped password stays far below; a scan does not.
	sourceFailLimit = 30
	failWindow      = time.Minute
	blockFor        = time.Minute
	// maxFailRecords bounds each table: a flood from many addresses must
	// not grow memory.
	maxFailRecords = 10000
)

// lockout counts failures. It is safe for concurrent use.
type lockout struct {
	log *slog.Logger

	mu      sync.Mutex
	pairs   map[pairKey]*failState
	sources map[string]*failState
}

type pairKey struct{ user, source string }

type failState struct {
	first        time.Time // of the current failure window
	failures     int
	blockedUntil time.Time
}

func newLockout(log *slog.Logger) *lockout {
	return &lockout{log: log, pairs: make(map[pairKey]*failState), sources: make(map[string]*failState)}
}

// blocked reports whether user may not register from source now.
func (l *lockout) blocked(user, source string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sources[source]; ok && now.Before(s.blockedUntil) {
		return true
	}
	s, ok := l.pairs[pairKey{user, source}]
	return ok && now.Before(s.blockedUntil)
}

// fail counts one failed authentication of user from source, blocking the
// pair (or the whole source) past its allowance. A success does not
// reset the count: a guesser behind the phone's NAT would otherwise get five
// more guesses at every refresh of the phone.
func (l *lockout) fail(user, source string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pair := count(l.pairs, pairKey{user, source}, now)
	src := count(l.sources, source, now)
	if pair.failures >= pairFailLimit {
		if !now.Before(pair.blockedUntil) {
			l.log.Warn("sip: registration of an account blocked from a source", "user", maskDigits(user), "source", source,
				"failures", pair.failures, "for", blockFor)
		}
		pair.blockedUntil = now.Add(blockFor)
	}
	if src.failures >= sourceFailLimit {
		if !now.Before(src.blockedUntil) {
			l.log.Warn("sip: registration source blocked", "source", source, "failures", src.failures, "for", blockFor)
		}
		src.blockedUntil = now.Add(blockFor)
	}
}

// count adds a failure to key's record, starting a new window when the last
// one is over.
func count[K comparable](m map[K]*failState, key K, now time.Time) *failState {
	s, ok := m[key]
	if !ok || now.Sub(s.first) > failWindow {
		if !ok && len(m) >= maxFailRecords {
			prune(m, now)
		}
		if ok && now.Before(s.blockedUntil) {
			// A new window, but the block still runs its course.
			s.first, s.failures = now, 0
		} else {
			s = &failState{first: now}
			m[key] = s
		}
	}
	s.failures++
	return s
}

// prune forgets finished windows, then, still full under attack, any record.
func prune[K comparable](m map[K]*failState, now time.Time) {
	for k, s := range m {
		if now.Sub(s.first) > failWindow && !now.Before(s.blockedUntil) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < maxFailRecords {
			break
		}
		delete(m, k)
	}
}
