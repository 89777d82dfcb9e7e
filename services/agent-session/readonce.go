package agentsession

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// readOnce is the interaction one request read, kept for the rest of the
// request (issue 13, "one read per command"): the entitlement loads it to
// check whose it is, the handler presents it or decides the command from
// it, and the command's append is guarded by that read's revision, so a
// write meanwhile conflicts and the stream is read again. A write clears
// it: what the request reads after its own command is read afresh.
type readOnce struct {
	id     string
	loaded eventstore.Loaded[interaction.State]
	ok     bool
}

type readOnceKey struct{}

// withReadOnce is the Scope of the interaction routes.
func withReadOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnceKey{}, &readOnce{})
}

func readOnceOf(ctx context.Context) *readOnce {
	m, _ := ctx.Value(readOnceKey{}).(*readOnce)
	return m
}

// scoped gives every route on an interaction (its id in the path) a
// request-wide read.
func scoped(table []agentauth.Route) []agentauth.Route {
	for i, rt := range table {
		if strings.Contains(rt.Pattern, "/v1/interactions/{id}") {
			table[i].Scope = withReadOnce
		}
	}
	return table
}

// load reads interaction id, or answers what this request read of it.
func (s *Service) load(ctx context.Context, id string) (eventstore.Loaded[interaction.State], error) {
	m := readOnceOf(ctx)
	if m != nil && m.ok && m.id == id {
		return m.loaded, nil
	}
	l, err := eventstore.Load(ctx, s.deps.Store, interaction.Stream(id), interactions)
	if err != nil {
		return l, err
	}
	if m != nil && l.State.Phase != interaction.None {
		*m = readOnce{id: id, loaded: l, ok: true}
	}
	return l, nil
}

func (s *Service) loadInteraction(ctx context.Context, id string) (interaction.State, error) {
	if _, err := uuid.Parse(id); err != nil {
		return interaction.State{}, notFound(id)
	}
	l, err := s.load(ctx, id)
	if err != nil {
		return interaction.State{}, err
	}
	if l.State.Phase == interaction.None {
		return interaction.State{}, notFound(id)
	}
	return l.State, nil
}

func (s *Service) onInteraction(ctx context.Context, id string, cause eventstore.Cause, cmd interaction.Command) (eventstore.Outcome[interaction.State], error) {
	decide := func(st interaction.State) ([]proto.Message, error) { return interaction.Decide(st, cmd) }
	stream := interaction.Stream(id)
	if m := readOnceOf(ctx); m != nil && m.ok && m.id == id {
		first := m.loaded
		*m = readOnce{} // the request's later reads see its own write
		return eventstore.ExecuteFrom(ctx, s.deps.Store, first, stream, interactions, cause, decide)
	}
	return eventstore.Execute(ctx, s.deps.Store, stream, interactions, cause, decide)
}
