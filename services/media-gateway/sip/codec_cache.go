package sip

import (
	"sync/atomic"

	"github.com/emiago/diago/media"
)

// codecCache keeps what codecsOf read from a leg's media session, so that
// the bridge, which needs both legs' codecs for every packet it forwards,
// does not walk the codec lists (and lower-case codec names) 100 times a
// second per call. The cache is keyed by the media session itself: diago
// replaces the session on a re-INVITE (ours or the phone's) and never
// mutates a negotiated one, so a new pointer is a new negotiation. The
// entry holds the session it was read from, which therefore cannot be
// freed and its address reused while it is cached.
//
// It is safe for concurrent use: both directions of a bridge and the call
// controls (DTMF, hold tone) read it.
type codecCache struct {
	last atomic.Pointer[codecEntry]
}

type codecEntry struct {
	ms *media.MediaSession
	c  codecs
}

// get returns codecsOf(ms), from the cache when ms is the session last
// seen.
func (cc *codecCache) get(ms *media.MediaSession) codecs {
	if e := cc.last.Load(); e != nil && e.ms == ms {
		return e.c
	}
	c := codecsOf(ms)
	cc.last.Store(&codecEntry{ms: ms, c: c})
	return c
}
