package intake

// Stand-ins for the methods branch i12-api adds (Callback, CancelCallback,
// RescheduleCallback), so the self-service routes build before it lands;
// this file goes at the merge.

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/intake/callback"
)

func (s *Service) Callback(ctx context.Context, id string) (callback.State, error) {
	return s.load(ctx, id)
}

func (s *Service) CancelCallback(ctx context.Context, id string, cmd callback.Cancel) (callback.State, error) {
	out, err := s.execute(ctx, id, eventstore.Cause{ID: uuid.NewString(), Correlation: id}, cmd)
	if errors.Is(err, callback.ErrInProgress) || errors.Is(err, callback.ErrFinal) {
		return out.State, httpx.Conflict(err.Error())
	}
	if err != nil {
		return out.State, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return out.State, s.release(ctx, out.State, cmd.Reason)
}

func (s *Service) RescheduleCallback(ctx context.Context, id string, desired time.Time, by, reason string) (callback.State, error) {
	return callback.State{}, httpx.Conflict("rescheduling is not available yet")
}
