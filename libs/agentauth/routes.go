package agentauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ringback/ringback/libs/httpx"
)

// Route is one row of a service's route table: the pattern, the roles that
// may call it, and the handler. Every route of a service is one row, so the
// table is the service's whole authorisation model (issue 16); the binary
// lists every table at GET /admin/routes and api/openapi.yaml states the same
// per operation (x-roles).
type Route struct {
	Pattern string // http.ServeMux pattern, "GET /v1/callbacks/{id}"
	// Roles may call the route; empty: nobody (the route is closed, and the
	// route × role test fails until it says who).
	Roles Role
	// Entitle, if set, runs after the role check with the principal reduced
	// to the roles the route grants: nil if p may have what r names, else
	// the error the route answers for an unknown id (a 404), so that "not
	// yours" and "does not exist" cannot be told apart. It decides per role:
	// an agent's own interaction (Principal.IsAgent), a supervisor's or a
	// client's service (Principal.Covers).
	Entitle func(r *http.Request, p Principal) error
	Handle  httpx.Func
	// Scope, if set, gives each request a context of its own before
	// Entitle runs, shared by Entitle and Handle: what the entitlement
	// read (the interaction it checked) reaches the handler, so a command
	// reads its stream once.
	Scope func(context.Context) context.Context
}

// Register adds the routes of table to mux, each behind its roles: with the
// agents file on, a request whose credential is missing or unknown answers
// 401 problem+json before the handler runs, a principal without any of the
// route's roles 403 (or, if visitors may call it, acts as one), and one not
// entitled to what the path names the route's 404. The handler finds the
// principal with Who(r.Context()).
func Register(mux *http.ServeMux, log *slog.Logger, dir *Directory, table []Route) {
	for _, rt := range table {
		if rt.Roles == 0 {
			// Closed, not open: the route answers 403 to everyone until its
			// row names its roles; say so at start rather than at the call.
			log.Error("route declares no roles: it answers nobody", "route", rt.Pattern)
		}
		mux.HandleFunc(rt.Pattern, httpx.Handle(log, dir.guard(rt)))
	}
}

// Authorize is the check Register puts before a handler: the request's
// principal (a visitor without a credential), reduced to the roles of rt,
// or the problem to answer. It does not run rt.Handle.
func (f *Directory) Authorize(w http.ResponseWriter, r *http.Request, rt Route) (Principal, error) {
	if f == nil {
		return Principal{}, nil // open platform: development and --demo only
	}
	p, err := f.authenticate(r)
	if err != nil {
		if pr := (*httpx.Problem)(nil); errors.As(err, &pr) && pr.Status == http.StatusUnauthorized {
			challenge(w, err)
		}
		return Principal{}, err
	}
	allowed := p.Roles & rt.Roles
	switch {
	case rt.Roles == 0:
		return Principal{}, credential(httpx.Forbidden("this route declares no roles, so it answers nobody"))
	case allowed == 0 && rt.Roles&RoleVisitor != 0:
		// A credential never lets its holder do less than anyone: on a
		// visitor's route, one whose roles the route does not grant acts
		// as a visitor (an agent cancelling from the web form).
		p, allowed = Principal{Roles: RoleVisitor}, RoleVisitor
	case allowed == 0 && p.Roles == RoleVisitor:
		challenge(w, nil)
		return Principal{}, credential(httpx.Unauthorized("a bearer token or a session is required"))
	case allowed == 0:
		return Principal{}, credential(httpx.Forbidden("this route is for " + rt.Roles.String() + ", not " + p.Roles.String()))
	}
	p.Roles = allowed
	if rt.Entitle != nil {
		if err := rt.Entitle(r.WithContext(WithPrincipal(r.Context(), p)), p); err != nil {
			return Principal{}, err
		}
	}
	return p, nil
}

func (f *Directory) guard(rt Route) httpx.Func {
	return func(w http.ResponseWriter, r *http.Request) error {
		if rt.Scope != nil {
			r = r.WithContext(rt.Scope(r.Context()))
		}
		p, err := f.Authorize(w, r, rt)
		if err != nil {
			return err
		}
		return rt.Handle(w, r.WithContext(WithPrincipal(r.Context(), p)))
	}
}

// credential names the request's credential as the field at fault of a
// refusal by role: the Authorization header (or the session cookie).
func credential(p *httpx.Problem) *httpx.Problem {
	p.Field = "Authorization"
	return p
}

// challenge sets the RFC 6750 WWW-Authenticate header of a 401.
func challenge(w http.ResponseWriter, err error) {
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringback", error="invalid_token"`)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="ringback"`)
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
