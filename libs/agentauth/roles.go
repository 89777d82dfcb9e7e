package agentauth

import (
	"context"
	"slices"
	"strings"
)

// Role is a set of the roles of issue 16. A route declares the roles that
// may call it (Route.Roles); a credential carries the roles of whoever holds
// it (Principal.Roles). A route whose Roles is empty answers nobody, so a
// route added without thinking about who calls it is closed, not open.
type Role uint8

const (
	// RoleVisitor is the anonymous web visitor: a request without any
	// credential. They create a callback and may cancel it; nothing
	// personal is shown to them afterwards.
	RoleVisitor Role = 1 << iota
	// RoleAgent is an agent: their own session, the interactions offered
	// to or accepted by them, and the contact they are handling.
	RoleAgent
	// RoleSupervisor reads everything of their services (Principal.Services)
	// and may end a callback an agent is handling. A supervisor is an agent
	// too and handles calls as one.
	RoleSupervisor
	// RoleClient is a service account of an integration (a CRM, a web
	// shop): it creates, reads and cancels callbacks and reads histories of
	// its services, with a key, never an agent's session.
	RoleClient
	// RoleOperator runs the platform: metrics and admin commands, never
	// a contact's data.
	RoleOperator
)

// Everyone is every role, anonymous visitors included: the public routes
// (the web form, the desktop's static files).
const Everyone = RoleVisitor | RoleAgent | RoleSupervisor | RoleClient | RoleOperator

// Roles lists each single role, in a stable order, for route × role tests
// and the OpenAPI document.
func Roles() []Role {
	return []Role{RoleVisitor, RoleAgent, RoleSupervisor, RoleClient, RoleOperator}
}

var roleNames = map[Role]string{RoleVisitor: "visitor", RoleAgent: "agent", RoleSupervisor: "supervisor",
	RoleClient: "client", RoleOperator: "operator"}

// Names are the roles of the set by name, in Roles order.
func (r Role) Names() []string {
	var out []string
	for _, one := range Roles() {
		if r&one != 0 {
			out = append(out, roleNames[one])
		}
	}
	return out
}

func (r Role) String() string {
	if r == 0 {
		return "nobody"
	}
	return strings.Join(r.Names(), "|")
}

// MarshalText writes the set as "agent|supervisor", as /admin/routes lists it.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Principal is who a request acts as, once its credential is checked.
type Principal struct {
	// ID is the agent's, client's or operator's id; "" for a visitor.
	ID    string
	Roles Role
	// Services bounds a supervisor's and a client's reach; nil is every
	// service (a supervisor of the whole site).
	Services []string
}

// Has says whether the principal holds role r.
func (p Principal) Has(r Role) bool { return p.Roles&r != 0 }

// IsAgent says whether the principal is agent id acting as an agent.
func (p Principal) IsAgent(id string) bool { return id != "" && p.Has(RoleAgent) && p.ID == id }

// Covers says whether the principal may see everything of service as a
// supervisor or a client: only those two roles have a reach beyond what is
// theirs, bounded by their services.
func (p Principal) Covers(service string) bool {
	if !p.Has(RoleSupervisor | RoleClient) {
		return false
	}
	return p.Services == nil || slices.Contains(p.Services, service)
}

type principalKey struct{}

// Who is the principal of a request a guarded route serves: a visitor (no
// ID) when anonymous; the zero Principal on an open platform.
func Who(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Agent is the agent a request acts as, set by a guarded route: "" for an
// anonymous request, a client, an operator, and on an open platform.
func Agent(ctx context.Context) string {
	if p := Who(ctx); p.Has(RoleAgent) {
		return p.ID
	}
	return ""
}

// WithPrincipal is ctx acting as p; for tests and for the in-process callers
// that act on a principal's behalf (the single sign-on callback).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}
