package router

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/leader"
)

// leaseName is the dispatcher's lease in the store; never renamed.
const leaseName = "router-dispatcher"

// lead runs the dispatcher on whichever replica holds the dispatcher lease;
// the others stand by and one of them takes over once it expires or is
// released (libs/leader). Every write the dispatcher makes carries the
// lease as a fence, so a leader that paused past its lease, and was
// replaced, has its writes refused by the store: of two dispatchers, only
// the current one's decisions land. Replicas all run the inbox and the
// read model, so any of them records an agent's answer.
func (s *Service) lead(ctx context.Context) error {
	leases, ok := s.deps.Store.(eventstore.Leases)
	if !ok {
		return fmt.Errorf("router: the %T store grants no leases", s.deps.Store)
	}
	holder := s.cfg.InstanceID
	if holder == "" {
		holder = uuid.NewString()
	}
	return leader.Run(ctx, leader.Config{Leases: leases, Name: leaseName, Holder: holder, TTL: s.cfg.LeaseTTL, Log: s.deps.Log,
		OnChange: func(leading bool, _ eventstore.Lease) {
			if leading {
				s.takeovers.Inc()
				s.leader.Set(1)
			} else {
				s.leader.Set(0)
			}
		}}, s.dispatch)
}
