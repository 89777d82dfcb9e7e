package personal

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres keeps blobs in a table of the shared PostgreSQL database, so
// every replica sees one set of keys: a key made by one is used by all, and
// a key deleted is gone for all (beyond each replica's CacheTTL). A deleted
// row lives on in dead tuples, the WAL and backups until they are vacuumed
// and expire; the master key, kept out of the database, is what protects
// those copies meanwhile.
type Postgres struct{ pool *pgxpool.Pool }

const pgSchema = `
CREATE SCHEMA IF NOT EXISTS personal;
CREATE TABLE IF NOT EXISTS personal.blobs (
	ns    text NOT NULL,
	name  text NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (ns, name)
);`

// OpenPostgres connects to url and makes the table if missing. Close
// releases the connections.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("key store url: %w", err)
	}
	cfg.MaxConns = 4 // a few keys per callback, mostly cached: the store's pool does the work
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	// Replicas starting together race on CREATE ... IF NOT EXISTS, which
	// is not atomic in PostgreSQL: an advisory lock serialises them.
	_, err = pool.Exec(ctx, `SELECT pg_advisory_lock(7160916); `+pgSchema+` SELECT pg_advisory_unlock(7160916);`)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("key store schema: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close implements io.Closer.
func (p *Postgres) Close() error { p.pool.Close(); return nil }

// Get implements Blobs.
func (p *Postgres) Get(ctx context.Context, ns, name string) ([]byte, error) {
	var v []byte
	err := p.pool.QueryRow(ctx, `SELECT value FROM personal.blobs WHERE ns = $1 AND name = $2`, ns, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", ns, err)
	}
	return v, nil
}

// PutIfAbsent implements Blobs.
func (p *Postgres) PutIfAbsent(ctx context.Context, ns, name string, v []byte) ([]byte, error) {
	// The no-op update makes RETURNING give the row that won a race too.
	var out []byte
	err := p.pool.QueryRow(ctx, `INSERT INTO personal.blobs (ns, name, value) VALUES ($1, $2, $3)
		ON CONFLICT (ns, name) DO UPDATE SET ns = EXCLUDED.ns RETURNING value`, ns, name, v).Scan(&out)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", ns, err)
	}
	return out, nil
}

// Delete implements Blobs.
func (p *Postgres) Delete(ctx context.Context, ns, name string) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM personal.blobs WHERE ns = $1 AND name = $2`, ns, name); err != nil {
		return fmt.Errorf("delete %s: %w", ns, err)
	}
	return nil
}
