package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions, in order; version i+1 is
// migrations[i]. Never edit one that has shipped: append a new one.
var migrations = []string{
	// 1: the first schema.
	`
-- One row per stream: its last revision, and the transaction that wrote it.
-- Appends lock this row and only this row.
CREATE TABLE eventstore.streams (
	name     text   PRIMARY KEY,
	revision bigint NOT NULL,
	tx       xid8   NOT NULL
);

-- The events. (tx, id) is the global order: see the package doc for why a
-- subscriber must read it only below the transaction horizon.
CREATE TABLE eventstore.events (
	id         bigint      GENERATED ALWAYS AS IDENTITY,
	tx         xid8        NOT NULL DEFAULT pg_current_xact_id(),
	stream     text        NOT NULL,
	revision   bigint      NOT NULL,
	event_id   uuid        NOT NULL,
	type       text        NOT NULL,
	data       bytea       NOT NULL,
	-- json, not jsonb: jsonb refuses \u0000, which a metadata value may hold.
	metadata   json,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT events_pkey PRIMARY KEY (tx, id),
	CONSTRAINT events_stream_revision_key UNIQUE (stream, revision),
	-- An id names one event of a stream, as in EventStoreDB; the idempotency
	-- check and the conflict on a reused id both rest on it.
	CONSTRAINT events_stream_event_id_key UNIQUE (stream, event_id)
);

-- Named positions (eventstore.Checkpoints). numeric(20) holds any uint64.
CREATE TABLE eventstore.checkpoints (
	name             text        PRIMARY KEY,
	commit_position  numeric(20) NOT NULL,
	prepare_position numeric(20) NOT NULL,
	saved_at         timestamptz NOT NULL DEFAULT now()
);

-- Leases (eventstore.Leases). generation is the fencing token: fenced appends
-- check it in their own transaction.
CREATE TABLE eventstore.leases (
	name       text        PRIMARY KEY,
	holder     text        NOT NULL,
	generation bigint      NOT NULL,
	expires    timestamptz NOT NULL
);

-- append decides and writes a batch of appends, in order, in the caller's
-- transaction: append k writes p_counts[k] events, the next ones of the event
-- arrays, at the end of p_streams[k] if its last revision is p_expected[k]
-- (-1: no stream). One row per append, in order; outcome is
--   'ok'       written; last_* locate its last event
--   'replay'   these ids already sit right after the expected revision:
--              nothing written, last_* locate the last of them (a retry after
--              a lost answer)
--   'conflict' nothing written; last_revision is the stream's revision
--   'retry'    nothing written; append again in a new transaction (the stream
--              was created, or last written, by a transaction with a later
--              id than ours: see below)
--   'fenced'   nothing written: the append was made under lease
--              p_fence_names[k] at generation p_fence_gens[k] (both NULL for
--              none), and the lease has passed to a newer generation
-- No outcome raises an error, so one append's conflict leaves the others of
-- the batch alone. Ids are looked up one by one (LATERAL ... LIMIT 1, which
-- the planner cannot flatten): a generic plan would otherwise scan the whole
-- stream, and a stream can be long. Callers lock streams in a consistent order (by name), so
-- two batches never wait for each other in a cycle.
CREATE FUNCTION eventstore.append(
	p_streams text[], p_expected bigint[], p_counts int[], p_fence_names text[], p_fence_gens bigint[],
	p_ids uuid[], p_types text[], p_data bytea[], p_meta text[])
RETURNS TABLE (outcome text, last_revision bigint, last_tx xid8, last_id bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	me       constant xid8 := pg_current_xact_id();
	off      int := 0;
	v_stream text;
	v_expected bigint;
	n        int;
	ids      uuid[];
	cur      bigint;
	found_n  bigint;
	placed_n bigint;
BEGIN
	-- The leases appends are fenced by, locked before any stream and in name
	-- order: a takeover (AcquireLease updates the row) waits until this
	-- transaction ends, so the check below holds until the commit, and no
	-- batch waits for a lease while it holds a stream another batch wants.
	PERFORM FROM eventstore.leases l WHERE l.name = ANY (p_fence_names) ORDER BY l.name FOR SHARE;
	FOR k IN 1 .. cardinality(p_streams) LOOP
		v_stream := p_streams[k]; v_expected := p_expected[k]; n := p_counts[k];
		ids := p_ids[off + 1 : off + n];
		outcome := NULL; last_revision := NULL; last_tx := NULL; last_id := NULL;
		<<decide>>
		BEGIN
			IF p_fence_names[k] IS NOT NULL AND NOT EXISTS (
				SELECT FROM eventstore.leases l WHERE l.name = p_fence_names[k] AND l.generation = p_fence_gens[k])
			THEN
				outcome := 'fenced';
				EXIT decide;
			END IF;
			-- Fast path: the expectation holds. The update locks the stream's
			-- row: writers of one stream queue here, writers of others do not.
			--
			-- The tx condition keeps each stream's revisions in the global
			-- order: our transaction id was handed out before we got the lock,
			-- so it may be older than the one of the append that held the
			-- lock, and our events would sort before those they follow. Only a
			-- writer that guessed the revision without reading it, or a batch
			-- that waited for an earlier stream, gets here that way; it retries.
			-- (tx = me: a stream twice in one batch.)
			UPDATE eventstore.streams SET revision = v_expected + n, tx = me
			 WHERE name = v_stream AND revision = v_expected AND tx <= me;
			IF FOUND THEN
				-- Ids already in the stream cannot be a replay here (nothing
				-- follows the expected revision): a conflict.
				IF EXISTS (SELECT FROM unnest(ids) AS u(id), LATERAL (
						SELECT FROM eventstore.events e WHERE e.stream = v_stream AND e.event_id = u.id LIMIT 1) e) THEN
					UPDATE eventstore.streams SET revision = v_expected WHERE name = v_stream;
					outcome := 'conflict'; last_revision := v_expected;
					EXIT decide;
				END IF;
			ELSE
				SELECT s.revision INTO cur FROM eventstore.streams s WHERE s.name = v_stream FOR UPDATE;
				IF NOT FOUND THEN
					IF v_expected <> -1 THEN
						outcome := 'conflict'; last_revision := -1;
						EXIT decide;
					END IF;
					INSERT INTO eventstore.streams (name, revision, tx) VALUES (v_stream, n - 1, me)
					ON CONFLICT (name) DO NOTHING;
					IF NOT FOUND THEN -- created by an append that committed while we waited
						outcome := 'retry';
						EXIT decide;
					END IF;
				ELSE
					-- EventStoreDB's rule, as the embedded store applies it: ids
					-- already in the stream, in the same order, right after the
					-- expected revision, are this same append arriving again;
					-- any other known id is a conflict, never a second copy.
					SELECT count(*), count(*) FILTER (WHERE e.revision = v_expected + u.i)
					  INTO found_n, placed_n
					  FROM unnest(ids) WITH ORDINALITY AS u(id, i), LATERAL (
					       SELECT e.revision FROM eventstore.events e
					        WHERE e.stream = v_stream AND e.event_id = u.id LIMIT 1) e;
					IF placed_n = n THEN
						outcome := 'replay'; last_revision := v_expected + n;
						SELECT e.tx, e.id INTO last_tx, last_id FROM eventstore.events e
						 WHERE e.stream = v_stream AND e.revision = v_expected + n;
						EXIT decide;
					END IF;
					IF found_n > 0 OR cur <> v_expected THEN
						outcome := 'conflict'; last_revision := cur;
						EXIT decide;
					END IF;
					outcome := 'retry'; -- the expectation holds: refused for the tx order
					EXIT decide;
				END IF;
			END IF;

			-- ORDER BY: row ids are drawn in this order, so a stream's
			-- revisions and its positions grow together.
			WITH ins AS (
				INSERT INTO eventstore.events (stream, revision, event_id, type, data, metadata)
				SELECT v_stream, v_expected + u.i, u.id, u.type, coalesce(u.data, ''::bytea), nullif(u.meta, '')::json
				  FROM unnest(ids, p_types[off + 1 : off + n], p_data[off + 1 : off + n], p_meta[off + 1 : off + n])
				       WITH ORDINALITY AS u(id, type, data, meta, i)
				 ORDER BY u.i
				RETURNING id)
			SELECT max(id) INTO last_id FROM ins;
			outcome := 'ok'; last_revision := v_expected + n; last_tx := me;
		END decide;
		off := off + n;
		RETURN NEXT;
	END LOOP;
END
$fn$;
`,
}

// migrationLock is the advisory lock key that serialises schema changes of
// pods starting at once: CREATE ... IF NOT EXISTS is not safe against a
// concurrent CREATE of the same name (it can fail on a catalog unique index).
// The value is arbitrary; it only has to be the same in every version.
const migrationLock int64 = 0x72696e6762616b31 // "ringbak1"

// migrate brings the schema to the last version. The usual case, a schema
// already current, costs one query and takes no lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	current, err := schemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	if current >= len(migrations) {
		return nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate schema: lock: %w", err)
	}
	// Another pod may have migrated while we waited for the lock.
	if current, err = schemaVersion(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
CREATE SCHEMA IF NOT EXISTS eventstore;
CREATE TABLE IF NOT EXISTS eventstore.schema_versions (
	version    int         PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	for v := current + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO eventstore.schema_versions (version) VALUES ($1)", v); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate schema: commit: %w", err)
	}
	log.Info("event store schema migrated", "from", current, "to", len(migrations))
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion is the last version applied, 0 for an empty database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	// The catalog is read as a table, in the statement's snapshot: to_regclass
	// would answer from this session's catalog cache, which may not have
	// heard yet of the table another pod created while we waited for the
	// lock.
	var exists bool
	if err := q.QueryRow(ctx, `
SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'eventstore' AND c.relname = 'schema_versions')`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM eventstore.schema_versions").Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
