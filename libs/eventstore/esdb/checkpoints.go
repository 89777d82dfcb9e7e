package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// Checkpoints live in streams of their own, one per name, each event a
// position; the last event is the checkpoint. The event type starts with
// "$" so that SubscribeAll, which delivers no system events, never hands a
// checkpoint to a relay or a read model, and the server's filter drops it
// before it crosses the network.
const (
	checkpointPrefix = "ringback-checkpoint-"
	checkpointType   = "$ringback-checkpoint"
)

// checkpointName is the name rule of the embedded adapter, so that a name
// valid on one store is valid on every store.
var checkpointName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// maxCheckpointAttempts bounds the retries of a save that keeps losing to
// other replicas' saves of the same name; each retry re-reads, and stops
// as soon as the stored checkpoint is at or past the position to save.
const maxCheckpointAttempts = 16

// checkpointData is a checkpoint event's JSON body, readable in the
// server's UI.
type checkpointData struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	if !checkpointName.MatchString(name) {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %q: invalid name", name)
	}
	if s.closed.Err() != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, eventstore.ErrClosed)
	}
	p, _, _, err := s.lastCheckpoint(ctx, checkpointPrefix+name)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return p, nil
}

// SaveCheckpoint implements eventstore.Checkpoints: it appends p to the
// name's stream at the revision it read, so of two replicas saving at once
// one wins and the other re-reads, and saves only if p is still ahead.
//
// The stream's metadata gets $maxCount=1 when the stream is created, so the
// server keeps one event of it after a scavenge instead of every save.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, p eventstore.Position) error {
	if !checkpointName.MatchString(name) {
		return fmt.Errorf("save checkpoint %q: invalid name", name)
	}
	if s.closed.Err() != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, eventstore.ErrClosed)
	}
	stream := checkpointPrefix + name
	data, err := json.Marshal(checkpointData{Commit: p.Commit, Prepare: p.Prepare})
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	for attempt := 1; ; attempt++ {
		cur, rev, found, err := s.lastCheckpoint(ctx, stream)
		if err != nil {
			return fmt.Errorf("save checkpoint %s: %w", name, err)
		}
		if !cur.Less(p) {
			return nil // never backwards; the zero position needs no event
		}
		var want esdb.ExpectedRevision = esdb.NoStream{}
		if found {
			want = esdb.Revision(rev)
		} else if err := s.limitCheckpointStream(ctx, stream); err != nil {
			return fmt.Errorf("save checkpoint %s: %w", name, err)
		}
		_, err = do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
			return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: want}, esdb.EventData{
				EventID:     uuid.New(),
				EventType:   checkpointType,
				ContentType: esdb.ContentTypeJson,
				Data:        data,
			})
		})
		if err == nil {
			return nil
		}
		// Translate before wrapping: esdb.FromError sees only the client's
		// own error (DESIGN.md, section 3).
		if e, _ := esdb.FromError(err); e.Code() == esdb.ErrorCodeWrongExpectedVersion {
			if attempt < maxCheckpointAttempts {
				continue // another replica saved meanwhile: re-read
			}
			err = fmt.Errorf("%d attempts lost to concurrent saves: %w", attempt, eventstore.ErrConflict)
		} else {
			err = s.translate(ctx, err)
		}
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
}

// lastCheckpoint reads the last event of a checkpoint stream: its position,
// its revision, and whether there is one.
func (s *Store) lastCheckpoint(ctx context.Context, stream string) (eventstore.Position, uint64, bool, error) {
	evs, err := s.readRaw(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil || len(evs) == 0 {
		return eventstore.Position{}, 0, false, err
	}
	e := evs[0]
	if e.EventType != checkpointType {
		return eventstore.Position{}, 0, false, fmt.Errorf("%s@%d: event type %q is not a checkpoint", stream, e.EventNumber, e.EventType)
	}
	var d checkpointData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return eventstore.Position{}, 0, false, fmt.Errorf("%s@%d: %w", stream, e.EventNumber, err)
	}
	return eventstore.Position{Commit: d.Commit, Prepare: d.Prepare}, e.EventNumber, true, nil
}

// limitCheckpointStream sets $maxCount=1 on a checkpoint stream about to be
// created. Another replica doing the same at once is no error.
func (s *Store) limitCheckpointStream(ctx context.Context, stream string) error {
	var meta esdb.StreamMetadata
	meta.SetMaxCount(1)
	_, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
		return c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, meta)
	})
	if err == nil {
		return nil
	}
	if e, _ := esdb.FromError(err); e.Code() == esdb.ErrorCodeWrongExpectedVersion {
		return nil
	}
	return fmt.Errorf("metadata of %s: %w", stream, s.translate(ctx, err))
}

// headPage is how many events Head reads backwards at a time while it
// skips system events.
const headPage = 64

// Head implements eventstore.HeadReader: the position of the last event of
// $all that SubscribeAll delivers, found by reading $all backwards past the
// system events (checkpoints, stream metadata, the server's own), because a
// head a subscription never reaches would keep a read model from ever
// counting itself caught up. The zero Position when there is none.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if s.closed.Err() != nil {
		return eventstore.Position{}, fmt.Errorf("head: %w", eventstore.ErrClosed)
	}
	var from esdb.AllPosition = esdb.End{}
	for {
		p, oldest, n, err := s.headPage(ctx, from)
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("head: %w", err)
		}
		if p != nil {
			return *p, nil
		}
		if n < headPage {
			return eventstore.Position{}, nil // the start of $all
		}
		from = oldest // backwards from a position excludes the event there
	}
}

// headPage reads up to headPage events of $all backwards from from and
// returns the position of the first delivered one, if any, the position of
// the oldest event read and how many were read.
func (s *Store) headPage(ctx context.Context, from esdb.AllPosition) (*eventstore.Position, esdb.Position, int, error) {
	type page struct {
		found  *eventstore.Position
		oldest esdb.Position
		n      int
	}
	pg, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) (page, error) {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, headPage)
		if err != nil {
			return page{}, err
		}
		defer rs.Close()
		var pg page
		for ; ; pg.n++ {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return pg, nil
			}
			if err != nil {
				return page{}, err
			}
			e := ev.OriginalEvent()
			if e == nil {
				continue
			}
			pg.oldest = e.Position
			if delivered(e) {
				pg.found = &eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
				pg.n++
				return pg, nil
			}
		}
	})
	if err != nil {
		return nil, esdb.Position{}, 0, s.translate(ctx, err)
	}
	return pg.found, pg.oldest, pg.n, nil
}

// delivered says whether SubscribeAll hands e to its handler: only what
// was appended through the port, never system events ("$" types: stream
// metadata, links, the server's own, checkpoints) nor anything in a
// checkpoint stream.
func delivered(e *esdb.RecordedEvent) bool {
	return !strings.HasPrefix(e.EventType, "$") && !strings.HasPrefix(e.StreamID, checkpointPrefix)
}

var _ eventstore.Checkpoints = (*Store)(nil)
