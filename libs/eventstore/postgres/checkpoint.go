package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ringback/ringback/libs/eventstore"
)

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	if s.closing.Err() != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, eventstore.ErrClosed)
	}
	var commit, prepare string
	err := s.pool.QueryRow(ctx,
		"SELECT commit_position::text, prepare_position::text FROM eventstore.checkpoints WHERE name = $1",
		name).Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, s.failed(ctx, err))
	}
	var p eventstore.Position
	if p.Commit, err = strconv.ParseUint(commit, 10, 64); err == nil {
		p.Prepare, err = strconv.ParseUint(prepare, 10, 64)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return p, nil
}

// SaveCheckpoint implements eventstore.Checkpoints. The comparison with the
// stored position happens in the upsert, under the row's lock, so two
// replicas saving at once cannot take the checkpoint back either.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, p eventstore.Position) error {
	if s.closing.Err() != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, eventstore.ErrClosed)
	}
	if name == "" || !validText(name) {
		return fmt.Errorf("save checkpoint %q: name must be non-empty UTF-8 text without NUL", name)
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO eventstore.checkpoints AS c (name, commit_position, prepare_position)
VALUES ($1, $2::text::numeric, $3::text::numeric)
ON CONFLICT (name) DO UPDATE
   SET commit_position = excluded.commit_position, prepare_position = excluded.prepare_position, saved_at = now()
 WHERE (c.commit_position, c.prepare_position) < (excluded.commit_position, excluded.prepare_position)`,
		name, strconv.FormatUint(p.Commit, 10), strconv.FormatUint(p.Prepare, 10))
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, s.failed(ctx, err))
	}
	return nil
}
