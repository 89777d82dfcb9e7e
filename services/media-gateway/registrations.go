package mediagateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/streams"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Registrations of the agents' phones, shared by every instance: a
// REGISTER taken by one instance is recorded in stream
// media-registration-<aor> (contact, expiry, the instance), and every
// instance folds those streams into the view Dial looks phones up in. The
// SIP adapter still authenticates and answers the REGISTER itself.

const registrationPrefix = streams.MediaRegistration

// registrationStream names an agent phone's registrations.
func registrationStream(aor string) string { return registrationPrefix + aor }

type binding struct {
	contact string
	expires time.Time
}

// registrations is the view of every instance's registrations.
type registrations struct {
	mu sync.Mutex
	m  map[string]binding
}

func newRegistrations() *registrations { return &registrations{m: map[string]binding{}} }

func (r *registrations) apply(e proto.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := e.(type) {
	case *mediav1.PhoneRegistered:
		r.m[e.Aor] = binding{contact: e.Contact, expires: e.ExpiresAt.AsTime()}
	case *mediav1.PhoneUnregistered:
		delete(r.m, e.Aor)
	}
}

func (r *registrations) lookup(aor string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[aor]
	return b, ok
}

// registrationState is what a registration stream folds to: nothing; every
// REGISTER is recorded, its cause (Call-ID and CSeq) makes a retransmission
// a no-op.
type registrationState struct{}

var registrations_ = eventstore.Aggregate[registrationState]{
	Evolve: func(s registrationState, _ proto.Message) registrationState { return s },
}

// registry is the sip.Registry the service gives its SIP adapter.
type registry struct{ s *Service }

// Bind implements sip.Registry: it records the binding, and applies it to
// this instance's view at once (read your writes; the projection brings
// the same event a moment later).
func (r registry) Bind(ctx context.Context, aor, contact string, expires time.Time, cause string) error {
	s := r.s
	if s.crashed.Load() {
		return errCrashed
	}
	now := s.deps.Clock.Now()
	var ev proto.Message = &mediav1.PhoneUnregistered{Aor: aor, Instance: s.instance, At: timestamppb.New(now)}
	if contact != "" {
		ev = &mediav1.PhoneRegistered{Aor: aor, Contact: contact, ExpiresAt: timestamppb.New(expires), Instance: s.instance,
			At: timestamppb.New(now)}
	}
	stream := registrationStream(aor)
	// A stream per phone, read through the cache: a phone re-registering
	// every minute makes a long stream, read once then only its tail.
	_, err := eventstore.ExecuteCached(s.fence(ctx), s.deps.Store, s.regCache, stream, registrations_, eventstore.Cause{ID: cause},
		func(registrationState) ([]proto.Message, error) { return []proto.Message{ev}, nil })
	if err != nil {
		return fmt.Errorf("record registration of %s: %w", aor, err)
	}
	s.regs.apply(ev)
	return nil
}

// Lookup implements sip.Registry.
func (r registry) Lookup(aor string) (string, time.Time, bool) {
	b, ok := r.s.regs.lookup(strings.TrimSpace(aor))
	return b.contact, b.expires, ok
}
