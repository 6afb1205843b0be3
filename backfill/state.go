package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Job statuses stored in the state row.
const (
	statusRunning = "running"
	statusPaused  = "paused"  // stopped between batches: interrupted or throttled too long
	statusAborted = "aborted" // stopped by an error; resumable once it is fixed
	statusDone    = "done"
)

// Advisory lock keys: lockSpace is the first key of every lock this package
// takes, so they do not collide with an application's one-argument locks.
const (
	lockSpace      = 0x6d696772 // "migr"
	lockStateTable = 0
)

// spec is what a job does; its hash decides whether a state row belongs to
// the job being run. Tuning and the frozen bounds are deliberately left out.
type spec struct {
	Table string   `json:"table"`
	Key   []string `json:"key"`
	Set   string   `json:"set"`
	Where string   `json:"where,omitempty"`
	// omitempty keeps the hash of every update job what it was before
	// delete jobs existed, so their state rows still resume.
	Delete bool `json:"delete,omitempty"`
	// Range is the key range the walk is limited to; omitempty keeps the
	// hash of unbounded jobs what it was.
	Range string `json:"range,omitempty"`
}

func (s spec) hash() string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s spec) String() string {
	out := fmt.Sprintf("table %s, key (%s), set %q", s.Table, strings.Join(s.Key, ", "), s.Set)
	if s.Delete {
		out = fmt.Sprintf("table %s, key (%s), delete", s.Table, strings.Join(s.Key, ", "))
	}
	if s.Where != "" {
		out += fmt.Sprintf(", where %q", s.Where)
	}
	if s.Range != "" {
		out += fmt.Sprintf(", key range %q", s.Range)
	}
	return out
}

// position is where a job stands: the last key done (keyset), or the next
// page to do and whether the final sweep has started (ctid).
type position struct {
	Key   []string `json:"key,omitempty"`
	Page  int64    `json:"page,omitempty"`
	Sweep bool     `json:"sweep,omitempty"`
}

// bounds are frozen when the job first starts: the largest key (or the page
// count) then, and the smallest key, used for key-space progress.
type bounds struct {
	Hi    []string `json:"hi,omitempty"`
	Lo    []string `json:"lo,omitempty"`
	Pages int64    `json:"pages,omitempty"`
	Empty bool     `json:"empty,omitempty"`
}

type stateRow struct {
	specHash    string
	spec        spec
	cursor      *position
	hi          bounds
	batchSize   int
	rowsDone    int64
	rowsScanned int64
	batchesDone int64
	status      string
	reason      string
	startedAt   time.Time
}

type stateStore struct {
	ident string // quoted schema.backfill_jobs
	sch   string
}

func newStateStore(schema string) stateStore {
	return stateStore{
		ident: pgx.Identifier{schema, "backfill_jobs"}.Sanitize(),
		sch:   pgx.Identifier{schema}.Sanitize(),
	}
}

// ensure creates the state table. Concurrent first runs of different jobs
// would race on CREATE ... IF NOT EXISTS (it is not atomic), so creation is
// serialized with a transaction-level advisory lock.
func (s stateStore) ensure(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockSpace, lockStateTable); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.ident).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.sch)
		if err != nil {
			return err
		}
		// fillfactor 70 leaves room on the page so that the per-batch
		// checkpoint updates stay HOT.
		_, err = tx.Exec(ctx, `CREATE TABLE `+s.ident+` (
    job_id       text PRIMARY KEY,
    spec_hash    text NOT NULL,
    spec         jsonb NOT NULL,
    key_columns  text[] NOT NULL,
    cursor       jsonb,
    hi           jsonb NOT NULL,
    batch_size   integer NOT NULL,
    rows_done    bigint NOT NULL DEFAULT 0,
    rows_scanned bigint NOT NULL DEFAULT 0,
    batches_done bigint NOT NULL DEFAULT 0,
    status       text NOT NULL CHECK (status IN ('running', 'paused', 'aborted', 'done')),
    reason       text,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 70)`)
		return err
	})
}

func (s stateStore) load(ctx context.Context, pool *pgxpool.Pool, id string) (*stateRow, error) {
	var r stateRow
	var specJSON, hiJSON []byte
	var curJSON []byte
	var reason *string
	err := pool.QueryRow(ctx, `
SELECT spec_hash, spec, cursor, hi, batch_size, rows_done, rows_scanned, batches_done, status, reason, started_at
FROM `+s.ident+` WHERE job_id = $1`, id).Scan(&r.specHash, &specJSON, &curJSON, &hiJSON,
		&r.batchSize, &r.rowsDone, &r.rowsScanned, &r.batchesDone, &r.status, &reason, &r.startedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state of job %s: %w", id, err)
	}
	if reason != nil {
		r.reason = *reason
	}
	if err := json.Unmarshal(specJSON, &r.spec); err != nil {
		return nil, fmt.Errorf("job %s: bad spec in state row: %w", id, err)
	}
	if err := json.Unmarshal(hiJSON, &r.hi); err != nil {
		return nil, fmt.Errorf("job %s: bad hi in state row: %w", id, err)
	}
	if curJSON != nil {
		r.cursor = new(position)
		if err := json.Unmarshal(curJSON, r.cursor); err != nil {
			return nil, fmt.Errorf("job %s: bad cursor in state row: %w", id, err)
		}
	}
	return &r, nil
}

func (s stateStore) insert(ctx context.Context, pool *pgxpool.Pool, id string, sp spec, b bounds, size int, status string) error {
	_, err := pool.Exec(ctx, `
INSERT INTO `+s.ident+` (job_id, spec_hash, spec, key_columns, hi, batch_size, status)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, sp.hash(), sp, sp.Key, b, size, status)
	return err
}

func (s stateStore) delete(ctx context.Context, pool *pgxpool.Pool, id string) error {
	_, err := pool.Exec(ctx, `DELETE FROM `+s.ident+` WHERE job_id = $1`, id)
	return err
}

// setStatus records why the job stands where it does. It runs outside any
// batch and must work even after the caller's context was cancelled.
func (s stateStore) setStatus(ctx context.Context, pool *pgxpool.Pool, id, status, reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := pool.Exec(ctx, `
UPDATE `+s.ident+` SET status = $2, reason = NULLIF($3, ''), updated_at = clock_timestamp()
WHERE job_id = $1`, id, status, reason)
	return err
}

// checkpointSQL advances the job inside the batch's transaction. The
// batches_done guard fences off a runner that lost its advisory lock without
// noticing: its checkpoint then matches no row and its batch rolls back.
func (s stateStore) checkpointSQL() string {
	return `
UPDATE ` + s.ident + `
SET cursor = $2, rows_done = rows_done + $3, rows_scanned = rows_scanned + $4,
    batches_done = batches_done + 1, batch_size = $5, status = $6, reason = NULL,
    updated_at = clock_timestamp()
WHERE job_id = $1 AND batches_done = $7`
}
