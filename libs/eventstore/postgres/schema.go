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

-- append writes events at the end of a stream if its last revision is
-- p_expected (-1: no stream), in the caller's transaction. outcome is
--   'ok'       written; last_* locate the last event
--   'replay'   these ids already sit right after p_expected: nothing written,
--              last_* locate the last of them (a retry after a lost answer)
--   'conflict' last_revision is the stream's actual revision
--   'retry'    nothing written, call again in a new transaction (a concurrent
--              append created the stream, or wrote its last event with a later
--              transaction id than ours, see below)
-- A known id elsewhere than right after p_expected is a conflict; on the fast
-- path it surfaces as a unique violation of events_stream_event_id_key, which
-- aborts the transaction: the caller maps it to a conflict at p_expected.
CREATE FUNCTION eventstore.append(
	p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_data bytea[], p_meta text[],
	OUT outcome text, OUT last_revision bigint, OUT last_tx xid8, OUT last_id bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	n   constant bigint := cardinality(p_ids);
	cur bigint;
	rev bigint;
BEGIN
	-- Fast path: the expectation holds. The update locks the stream's row, so
	-- writers of one stream queue here and writers of others do not wait.
	--
	-- The tx condition keeps each stream's revisions in the global order:
	-- our transaction id was handed out before we got the lock, so it may be
	-- older than the one of the append that held the lock; our events would
	-- then sort before the events they follow. Only a writer that guessed the
	-- revision without reading it can get here that way; it retries.
	UPDATE eventstore.streams
	   SET revision = p_expected + n, tx = pg_current_xact_id()
	 WHERE name = p_stream AND revision = p_expected AND tx < pg_current_xact_id();
	IF NOT FOUND THEN
		SELECT s.revision INTO cur FROM eventstore.streams s WHERE s.name = p_stream FOR UPDATE;
		IF NOT FOUND THEN
			IF p_expected <> -1 THEN
				outcome := 'conflict'; last_revision := -1;
				RETURN;
			END IF;
			INSERT INTO eventstore.streams (name, revision, tx)
			VALUES (p_stream, n - 1, pg_current_xact_id())
			ON CONFLICT (name) DO NOTHING;
			IF NOT FOUND THEN
				-- Created by an append that committed while we waited.
				outcome := 'retry';
				RETURN;
			END IF;
		ELSE
			-- EventStoreDB's rule, as the embedded store applies it: ids already
			-- in the stream, in the same order, starting right after the
			-- expected revision, are this same append arriving again.
			SELECT e.revision INTO rev FROM eventstore.events e
			 WHERE e.stream = p_stream AND e.event_id = p_ids[1];
			IF FOUND THEN
				IF rev = p_expected + 1 AND n = (
					SELECT count(*) FROM unnest(p_ids) WITH ORDINALITY AS u(id, i)
					  JOIN eventstore.events e
					    ON e.stream = p_stream AND e.event_id = u.id AND e.revision = rev + u.i - 1)
				THEN
					outcome := 'replay'; last_revision := rev + n - 1;
					SELECT e.tx, e.id INTO last_tx, last_id FROM eventstore.events e
					 WHERE e.stream = p_stream AND e.revision = rev + n - 1;
					RETURN;
				END IF;
				outcome := 'conflict'; last_revision := cur;
				RETURN;
			END IF;
			IF cur <> p_expected OR EXISTS (
				SELECT 1 FROM eventstore.events e WHERE e.stream = p_stream AND e.event_id = ANY (p_ids))
			THEN
				outcome := 'conflict'; last_revision := cur;
				RETURN;
			END IF;
			-- The expectation holds: the fast path refused for the tx order.
			outcome := 'retry';
			RETURN;
		END IF;
	END IF;

	-- ORDER BY: row ids are drawn in this order, so a stream's revisions and
	-- its positions grow together.
	WITH ins AS (
		INSERT INTO eventstore.events (stream, revision, event_id, type, data, metadata)
		SELECT p_stream, p_expected + u.i, u.id, u.type, coalesce(u.data, ''::bytea), nullif(u.meta, '')::json
		  FROM unnest(p_ids, p_types, p_data, p_meta) WITH ORDINALITY AS u(id, type, data, meta, i)
		 ORDER BY u.i
		RETURNING id)
	SELECT max(id) INTO last_id FROM ins;
	outcome := 'ok'; last_revision := p_expected + n; last_tx := pg_current_xact_id();
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
