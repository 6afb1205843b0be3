package migrate

// The runner's journal lives in the database it changes (DESIGN.md,
// "State"): any machine can resume a migration, and a transactional step
// records its own completion in the transaction that makes its change, so
// no crash can separate the two.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/migrate-tool/migrate/lint"
)

// Migration statuses.
const (
	MigrationRunning    = "running"
	MigrationExpanded   = "expanded" // waiting for `migrate complete`
	MigrationCompleted  = "completed"
	MigrationRolledBack = "rolled_back"
	MigrationFailed     = "failed"
)

// Step statuses.
const (
	StepPending = "pending"
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"
	StepUndone  = "undone"
)

// DefaultStateSchema holds the runner's tables unless --state-schema says
// otherwise; the backfiller keeps its job table in the same schema.
const DefaultStateSchema = "migrate"

// File is one migration input as the ID sees it.
type File struct {
	Path    string
	Content []byte
}

// MigrationID identifies a migration by its files' names and contents, so
// the same files resume the same migration from any machine or directory,
// and an edited file is a different migration.
func MigrationID(files []File) string {
	h := sha256.New()
	for _, f := range files {
		name := filepath.Base(f.Path)
		fmt.Fprintf(h, "%d:%s\n%d:", len(name), name, len(f.Content))
		h.Write(f.Content)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Migration is a migration as the journal records it.
type Migration struct {
	ID         string       `json:"id"`
	Files      []string     `json:"files"`
	Status     string       `json:"status"`
	Error      string       `json:"error,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
	Steps      []*StepState `json:"steps"`
}

// Unfinished reports whether the migration still has work (or an undo)
// ahead of it.
func (m *Migration) Unfinished() bool {
	return m.Status == MigrationRunning || m.Status == MigrationExpanded || m.Status == MigrationFailed
}

// StepState is a planned step with its journal entry.
type StepState struct {
	Step
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	Error      string     `json:"error,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// The undo is journaled beside the run, so that status after a
	// rollback still shows how long the step ran and in how many
	// attempts. UndoneAt is set when the step became undone, whether or
	// not it had an undo to run.
	UndoAttempts  int        `json:"undo_attempts"`
	UndoStartedAt *time.Time `json:"undo_started_at,omitempty"`
	UndoneAt      *time.Time `json:"undone_at,omitempty"`
	UndoError     string     `json:"undo_error,omitempty"`
	// undoing marks the copy of a step whose Undo the runner is running.
	undoing bool
}

// stepRecord is what the journal keeps of a Step beyond its own columns:
// everything the runner needs to resume without re-planning, because a
// plan built after some steps ran would see a different schema.
type stepRecord struct {
	InTransaction      bool          `json:"in_transaction"`
	Locks              []lint.Lock   `json:"locks,omitempty"`
	LockTimeoutMS      int64         `json:"lock_timeout_ms"`
	StatementTimeoutMS int64         `json:"statement_timeout_ms"`
	Breaking           bool          `json:"breaking,omitempty"`
	Unsafe             string        `json:"unsafe,omitempty"`
	Backfill           *BackfillSpec `json:"backfill,omitempty"`
	Source             Source        `json:"source"`
	Group              int           `json:"group,omitempty"`
	Split              string        `json:"split,omitempty"`
	Order              int           `json:"order,omitempty"`
	GroupFrom          *Source       `json:"group_from,omitempty"`
	GroupKind          string        `json:"group_kind,omitempty"`
}

// store reads and writes the journal tables of one state schema.
type store struct {
	schema     string
	migrations string // quoted schema.migrations
	steps      string // quoted schema.steps
}

func newStore(schema string) store {
	return store{
		schema:     schema,
		migrations: pgx.Identifier{schema, "migrations"}.Sanitize(),
		steps:      pgx.Identifier{schema, "steps"}.Sanitize(),
	}
}

// querier is what both a connection and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ensure creates the schema and tables when missing. The caller holds the
// runner lock, so two runners cannot race on CREATE.
func (s store) ensure(ctx context.Context, q querier) error {
	_, err := q.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()+`;
CREATE TABLE IF NOT EXISTS `+s.migrations+` (
    id          text PRIMARY KEY,
    files       jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'expanded', 'completed', 'rolled_back', 'failed')),
    error       text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS `+s.steps+` (
    migration_id text NOT NULL REFERENCES `+s.migrations+` ON DELETE CASCADE,
    step_id      integer NOT NULL,
    phase        text NOT NULL,
    description  text NOT NULL,
    sql          text NOT NULL,
    undo         text NOT NULL,
    plan         jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'undone')),
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (migration_id, step_id)
)`)
	if err != nil {
		return err
	}
	// Journals created before the undo was recorded apart get its columns;
	// looked up first, since ALTER TABLE locks the table even when IF NOT
	// EXISTS makes it change nothing.
	var have bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'undo_error' AND NOT attisdropped)`,
		s.steps).Scan(&have); err != nil || have {
		return err
	}
	_, err = q.Exec(ctx, `ALTER TABLE `+s.steps+`
    ADD COLUMN IF NOT EXISTS undo_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS undo_started_at timestamptz,
    ADD COLUMN IF NOT EXISTS undone_at timestamptz,
    ADD COLUMN IF NOT EXISTS undo_error text`)
	return err
}

// exists reports whether the journal tables are there (status must not
// create them: it only reads).
func (s store) exists(ctx context.Context, q querier) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL`, s.migrations, s.steps).Scan(&ok)
	return ok, err
}

// insert records a new migration and its plan, all steps pending.
func (s store) insert(ctx context.Context, tx pgx.Tx, id string, files []string, plan *Plan) error {
	fj, _ := json.Marshal(files)
	if _, err := tx.Exec(ctx, `INSERT INTO `+s.migrations+` (id, files, status) VALUES ($1, $2, 'running')`, id, fj); err != nil {
		return err
	}
	for _, st := range plan.Steps {
		var from *Source
		if st.Group != 0 {
			from = &st.groupFrom
		}
		rec, err := json.Marshal(stepRecord{GroupFrom: from, InTransaction: st.InTransaction, Locks: st.Locks,
			LockTimeoutMS: st.LockTimeout.Milliseconds(), StatementTimeoutMS: st.StatementTimeout.Milliseconds(),
			Breaking: st.Breaking, Unsafe: st.Unsafe, Backfill: st.Backfill, Source: st.Source,
			Group: st.Group, Split: st.Split, Order: st.Order, GroupKind: st.groupKind})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.steps+` (migration_id, step_id, phase, description, sql, undo, plan, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')`, id, st.ID, string(st.Phase), st.Description, st.SQL, st.Undo, rec); err != nil {
			return err
		}
	}
	return nil
}

// replace discards a rolled-back migration's journal so it can be planned
// again on the schema it restored.
func (s store) replace(ctx context.Context, tx pgx.Tx, id string, files []string, plan *Plan) error {
	if _, err := tx.Exec(ctx, `DELETE FROM `+s.migrations+` WHERE id = $1`, id); err != nil {
		return err
	}
	return s.insert(ctx, tx, id, files, plan)
}

const migrationColumns = `id, files, status, coalesce(error, ''), created_at, updated_at, finished_at`

func scanMigration(row pgx.Row) (*Migration, error) {
	m := &Migration{}
	var files []byte
	if err := row.Scan(&m.ID, &files, &m.Status, &m.Error, &m.CreatedAt, &m.UpdatedAt, &m.FinishedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(files, &m.Files); err != nil {
		return nil, fmt.Errorf("migration %s: bad files column: %w", m.ID, err)
	}
	return m, nil
}

// load returns the migration with its steps, or nil when there is none.
func (s store) load(ctx context.Context, q querier, id string) (*Migration, error) {
	m, err := scanMigration(q.QueryRow(ctx, `SELECT `+migrationColumns+` FROM `+s.migrations+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m, s.loadSteps(ctx, q, m)
}

// list returns every migration, oldest first, with its steps.
func (s store) list(ctx context.Context, q querier) ([]*Migration, error) {
	rows, err := q.Query(ctx, `SELECT `+migrationColumns+` FROM `+s.migrations+` ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	var out []*Migration
	for rows.Next() {
		m, err := scanMigration(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, m := range out {
		if err := s.loadSteps(ctx, q, m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s store) loadSteps(ctx context.Context, q querier, m *Migration) error {
	// The undo columns are read through to_jsonb so that status, which
	// never changes the journal, also reads one written before they were
	// added.
	rows, err := q.Query(ctx, `SELECT step_id, phase, description, sql, undo, plan, status, attempts, coalesce(error, ''), started_at, finished_at,
    coalesce((to_jsonb(st) ->> 'undo_attempts')::int, 0), (to_jsonb(st) ->> 'undo_started_at')::timestamptz,
    (to_jsonb(st) ->> 'undone_at')::timestamptz, coalesce(to_jsonb(st) ->> 'undo_error', '')
FROM `+s.steps+` st WHERE migration_id = $1 ORDER BY step_id`, m.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	m.Steps = nil
	for rows.Next() {
		st := &StepState{}
		var phase string
		var rec []byte
		if err := rows.Scan(&st.ID, &phase, &st.Description, &st.SQL, &st.Undo, &rec, &st.Status, &st.Attempts, &st.Error, &st.StartedAt, &st.FinishedAt,
			&st.UndoAttempts, &st.UndoStartedAt, &st.UndoneAt, &st.UndoError); err != nil {
			return err
		}
		var r stepRecord
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("migration %s step %d: bad plan column: %w", m.ID, st.ID, err)
		}
		st.Phase = Phase(phase)
		st.InTransaction, st.Locks, st.Breaking, st.Unsafe, st.Backfill, st.Source = r.InTransaction, r.Locks, r.Breaking, r.Unsafe, r.Backfill, r.Source
		st.Group, st.Split, st.Order, st.groupKind = r.Group, r.Split, r.Order, r.GroupKind
		if r.GroupFrom != nil {
			st.groupFrom = *r.GroupFrom
		}
		st.LockTimeout = time.Duration(r.LockTimeoutMS) * time.Millisecond
		st.StatementTimeout = time.Duration(r.StatementTimeoutMS) * time.Millisecond
		m.Steps = append(m.Steps, st)
	}
	return rows.Err()
}

// setMigration changes a migration's status (and error, cleared when "").
func (s store) setMigration(ctx context.Context, q querier, id, status, errText string) error {
	_, err := q.Exec(ctx, `UPDATE `+s.migrations+` SET status = $2, error = nullif($3, ''), updated_at = clock_timestamp(),
    finished_at = CASE WHEN $2 IN ('completed', 'rolled_back') THEN clock_timestamp() END
WHERE id = $1`, id, status, errText)
	return err
}

// startStep marks a step running and counts the attempt; it commits on its
// own, before the step, so that a crash leaves a visible trace.
func (s store) startStep(ctx context.Context, q querier, id string, step int) error {
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET status = 'running', attempts = attempts + 1, error = NULL,
    started_at = clock_timestamp(), finished_at = NULL WHERE migration_id = $1 AND step_id = $2`, id, step)
	return err
}

// finishStep records a step's outcome: done or undone (in the step's own
// transaction where there is one), failed, or back to pending. Undone
// keeps the run's times and error and records when it was undone.
func (s store) finishStep(ctx context.Context, q querier, id string, step int, status, errText string) error {
	if status == StepUndone {
		_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET status = 'undone', undone_at = clock_timestamp(), undo_error = NULL
WHERE migration_id = $1 AND step_id = $2`, id, step)
		return err
	}
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET status = $3, error = nullif($4, ''), finished_at = clock_timestamp()
WHERE migration_id = $1 AND step_id = $2`, id, step, status, errText)
	return err
}

// startUndo counts an attempt at undoing a step. The step stays done until
// its undo commits (finishStep undone), so a crash or a failed undo leaves
// it to be undone again.
func (s store) startUndo(ctx context.Context, q querier, id string, step int) error {
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET undo_attempts = undo_attempts + 1, undo_error = NULL,
    undo_started_at = clock_timestamp(), undone_at = NULL WHERE migration_id = $1 AND step_id = $2`, id, step)
	return err
}

// countUndoAttempt adds a retry of an undo.
func (s store) countUndoAttempt(ctx context.Context, q querier, id string, step int, errText string) error {
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET undo_attempts = undo_attempts + 1, undo_error = nullif($3, '') WHERE migration_id = $1 AND step_id = $2`,
		id, step, errText)
	return err
}

// failUndo records why an undo failed; the step keeps its status.
func (s store) failUndo(ctx context.Context, q querier, id string, step int, errText string) error {
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET undo_error = nullif($3, '') WHERE migration_id = $1 AND step_id = $2`, id, step, errText)
	return err
}

// countAttempt adds a retry to a step that is already marked running.
func (s store) countAttempt(ctx context.Context, q querier, id string, step int, errText string) error {
	_, err := q.Exec(ctx, `UPDATE `+s.steps+` SET attempts = attempts + 1, error = nullif($3, '') WHERE migration_id = $1 AND step_id = $2`,
		id, step, errText)
	return err
}
