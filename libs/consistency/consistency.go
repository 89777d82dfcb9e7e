// Package consistency gives HTTP clients read-your-writes across replicas
// and services (issue 13): a write answers the store position of its last
// event as a token (header Ringback-Position); a later read or command,
// on any replica of any service, sends it back (header Ringback-After, or
// the query parameter after) and is answered only once that service's
// read model has read the store that far, for a bounded time.
//
// A token orders what is in one shared store: everything written before
// it, by any service, is in the view. A fact that another service writes
// only after it consumes the client's event from the bus (agent-session's
// copy of a disposition) is not ordered by it: such a command waits for
// the fact itself (see agent-session's Done).
package consistency

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
)

// Header carries a write's token in its answer; AfterHeader carries it
// back in a request (or the query parameter AfterParam, for links and
// EventSource, which cannot set headers).
const (
	Header      = "Ringback-Position"
	AfterHeader = "Ringback-After"
	AfterParam  = "after"
)

// DefaultWait bounds how long a request waits for its token: far above a
// healthy replica's lag (milliseconds), short enough that a client is told
// of a lagging replica rather than left hanging.
const DefaultWait = 5 * time.Second

// Token is pos as a client carries it: opaque, URL-safe, 24 characters or
// fewer.
func Token(pos eventstore.Position) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], pos.Commit)
	binary.BigEndian.PutUint64(b[8:], pos.Prepare)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrToken: the token is not one this platform gave.
var ErrToken = errors.New("not a consistency token")

// Parse reads a Token.
func Parse(tok string) (eventstore.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 16 {
		return eventstore.Position{}, ErrToken
	}
	return eventstore.Position{Commit: binary.BigEndian.Uint64(b[:8]), Prepare: binary.BigEndian.Uint64(b[8:])}, nil
}

// Set answers pos as the write's token.
func Set(w http.ResponseWriter, pos eventstore.Position) {
	if pos != (eventstore.Position{}) {
		w.Header().Set(Header, Token(pos))
	}
}

// Waiter is a read model that can wait until it has read the store up to
// a position (readmodel.Projection).
type Waiter interface {
	WaitPosition(ctx context.Context, pos eventstore.Position) error
}

// Await waits, at most maxWait, until view has read the store up to the
// request's token; a request without one returns at once. A bad token is
// a 400 naming it; a view that does not get there in time is a 503 with
// Retry-After, and the request changes nothing.
func Await(r *http.Request, view Waiter, maxWait time.Duration) error {
	tok, field := r.Header.Get(AfterHeader), AfterHeader
	if tok == "" {
		tok, field = r.URL.Query().Get(AfterParam), AfterParam
	}
	if tok == "" {
		return nil
	}
	pos, err := Parse(tok)
	if err != nil {
		return httpx.BadField(field, "is not a token this platform gave (the "+Header+" header of a write)")
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxWait)
	defer cancel()
	if err := view.WaitPosition(ctx, pos); err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		p := httpx.Unavailable("this replica has not caught up with the write the token names yet; retry")
		p.Field, p.RetryAfter = field, 1
		return p
	}
	return nil
}

// Routes are routes that honour a client's token before anything, the
// entitlement's read included: every route of a service with a read model
// the same way.
func Routes(view Waiter, maxWait time.Duration, routes []agentauth.Route) []agentauth.Route {
	out := make([]agentauth.Route, len(routes))
	for i, rt := range routes {
		handle, entitle := rt.Handle, rt.Entitle
		rt.Handle = func(w http.ResponseWriter, r *http.Request) error {
			if err := Await(r, view, maxWait); err != nil {
				return err
			}
			return handle(w, r)
		}
		// The entitlement reads too, so it waits as well; it does not run on
		// an open platform, so the handler always waits (at once, the
		// second time).
		if entitle != nil {
			rt.Entitle = func(r *http.Request, p agentauth.Principal) error {
				if err := Await(r, view, maxWait); err != nil {
					return err
				}
				return entitle(r, p)
			}
		}
		out[i] = rt
	}
	return out
}
