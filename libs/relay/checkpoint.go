package relay

import (
	"context"
	"fmt"

	"github.com/ringback/ringback/libs/eventstore"
)

// InStore keeps the relay's checkpoint in the store it relays, under name
// (one per service): a new pod, with nothing on its own disk, resumes where
// the last one stopped instead of re-publishing everything the service ever
// wrote. Replicas of one service share the name; the store never moves a
// checkpoint backwards, so the furthest published position wins.
func InStore(cp eventstore.Checkpoints, name string) Checkpoints {
	return storeCheckpoints{cp, name}
}

type storeCheckpoints struct {
	cp   eventstore.Checkpoints
	name string
}

func (s storeCheckpoints) Load(ctx context.Context) (eventstore.Position, error) {
	p, err := s.cp.LoadCheckpoint(ctx, s.name)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load relay checkpoint %s: %w", s.name, err)
	}
	return p, nil
}

func (s storeCheckpoints) Save(ctx context.Context, p eventstore.Position) error {
	if err := s.cp.SaveCheckpoint(ctx, s.name, p); err != nil {
		return fmt.Errorf("save relay checkpoint %s: %w", s.name, err)
	}
	return nil
}
