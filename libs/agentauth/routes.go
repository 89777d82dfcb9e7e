package agentauth

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/ringback/ringback/libs/httpx"
)

// Access is who may call a route once the agents file is on (issue 16).
// Without it (a nil Directory) the platform is open: every route answers
// anyone, for development and the demo only.
type Access int

const (
	// Anyone: the anonymous visitor too (create a callback, the web form).
	Anyone Access = iota
	// AnyAgent: an agent with a valid token; nothing personal is shown.
	AnyAgent
	// Entitled: an agent with a valid token who is entitled to what the
	// request names: an interaction offered to or accepted by them, or the
	// contact of one. Anyone else gets the answer of an unknown id.
	Entitled
)

func (a Access) String() string {
	switch a {
	case Anyone:
		return "anyone"
	case AnyAgent:
		return "agent"
	case Entitled:
		return "entitled agent"
	}
	return "unknown"
}

// Route is one row of a service's route table: the pattern, who may call
// it, and the handler. Every route of a service is one row, so the table
// is the service's whole authorisation model.
type Route struct {
	Pattern string // http.ServeMux pattern, "GET /v1/callbacks/{id}"
	Access  Access
	// Entitle, for Access Entitled: nil if agent may have what r names,
	// else the error the route answers for an unknown id (a 404), so that
	// "not yours" and "does not exist" cannot be told apart.
	Entitle func(r *http.Request, agent string) error
	Handle  httpx.Func
}

// Register adds the routes of table to mux, each behind its access rule:
// a route for agents answers 401 problem+json before its handler runs when
// the request carries no valid token, and 404 when the agent is not
// entitled. The handler finds the agent with Agent(r.Context()).
func Register(mux *http.ServeMux, log *slog.Logger, dir *Directory, table []Route) {
	for _, rt := range table {
		mux.HandleFunc(rt.Pattern, httpx.Handle(log, dir.guard(rt)))
	}
}

type agentKey struct{}

// Agent is the agent a request acts as, set by a guarded route: "" for an
// anonymous request and on an open platform.
func Agent(ctx context.Context) string {
	id, _ := ctx.Value(agentKey{}).(string)
	return id
}

func (f *Directory) guard(rt Route) httpx.Func {
	if rt.Access == Entitled && rt.Entitle == nil {
		panic("agentauth: route " + rt.Pattern + " is for entitled agents but has no Entitle")
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if f == nil || rt.Access == Anyone {
			// Anyone may call it; a token, if valid, still names the agent.
			if f != nil && r.Header.Get("Authorization") != "" {
				if a, ok := f.bearer(r); ok {
					r = r.WithContext(context.WithValue(r.Context(), agentKey{}, a))
				}
			}
			return rt.Handle(w, r)
		}
		who, err := f.Who(w, r)
		if err != nil {
			return err
		}
		if rt.Access == Entitled {
			if err := rt.Entitle(r, who); err != nil {
				return err
			}
		}
		return rt.Handle(w, r.WithContext(context.WithValue(r.Context(), agentKey{}, who)))
	}
}

// Open says whether the platform runs without an agents file.
func (f *Directory) Open() bool { return f == nil }

// WarnOpen logs, once per service, that its routes answer anyone.
func WarnOpen(log *slog.Logger, dir *Directory) {
	if dir == nil {
		log.Warn("OPEN PLATFORM: no agents file (--agents), so every route answers anyone without a token, " +
			"personal data included; for development and --demo only")
	}
}
