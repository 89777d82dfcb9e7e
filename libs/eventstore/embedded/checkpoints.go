package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ringback/ringback/libs/eventstore"
)

// checkpointDir holds one small JSON file per named checkpoint, beside the
// log: the checkpoint lives and dies with the events it points into, so a
// store copied or restored elsewhere takes its checkpoints along.
const checkpointDir = "checkpoints"

// checkpointName keeps a name usable as a file name on every system.
var checkpointName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	if !checkpointName.MatchString(name) {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %q: invalid name", name)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	return s.loadCheckpoint(name)
}

func (s *Store) loadCheckpoint(name string) (eventstore.Position, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, checkpointDir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	var p eventstore.Position
	if err := json.Unmarshal(b, &p); err != nil {
		// Written by rename after a sync, a checkpoint cannot be torn; one
		// that does not parse was damaged by hand. Starting over costs a
		// replay, which consumers absorb; refusing to start costs an outage.
		s.log.Warn("checkpoint unreadable, starting it over", "name", name, "err", err)
		return eventstore.Position{}, nil
	}
	return p, nil
}

// SaveCheckpoint implements eventstore.Checkpoints: the file is replaced
// atomically (temporary file, sync, rename, sync of the directory), and
// never by an older position.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, p eventstore.Position) error {
	if !checkpointName.MatchString(name) {
		return fmt.Errorf("save checkpoint %q: invalid name", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.ioMu.RLock()
	defer s.ioMu.RUnlock()
	if s.closed {
		return fmt.Errorf("save checkpoint %s: %w", name, eventstore.ErrClosed)
	}
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	cur, err := s.loadCheckpoint(name)
	if err != nil {
		return err
	}
	if !cur.Less(p) {
		return nil
	}
	dir := filepath.Join(s.dir, checkpointDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	b, _ := json.Marshal(p)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = syncData(tmp)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(dir, name+".json"))
	}
	if werr == nil {
		werr = syncDir(dir)
	}
	if werr != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, werr)
	}
	return nil
}

var _ eventstore.Checkpoints = (*Store)(nil)

// Head implements eventstore.HeadReader: the last durable event, the last
// one a subscription delivers now.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	s.mu.RLock()
	seq := s.durableSeq
	s.mu.RUnlock()
	return eventstore.Position{Commit: seq, Prepare: seq}, nil
}

var _ eventstore.HeadReader = (*Store)(nil)
