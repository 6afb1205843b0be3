package migrate

// The runner executes a plan's steps on a live database, one journaled
// step at a time (locks.md §3). Every choice here answers a failure seen in
// prior art: pgroll lost data after a crash (we journal and resume), set its
// lock_timeout on one pooled connection (we SET LOCAL inside each step's own
// transaction), retried forever (we cap attempts and time), swallowed
// errors (every error fails the step and is recorded), contracted
// non-atomically (each step is one transaction), and trusted CONCURRENTLY
// blindly (we check indisvalid and clean up).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/migrate-tool/migrate/lint"
)

// Runner defaults (locks.md §3.1, §3.3, §3.5).
const (
	DefaultRetries          = 10
	DefaultRetryBase        = time.Second
	DefaultRetryCap         = 30 * time.Second
	DefaultRetryDeadline    = 10 * time.Minute
	DefaultMaxXactAge       = 2 * time.Minute
	DefaultPreflightTimeout = 5 * time.Minute
	// IdleInTransactionTimeout is set on every runner session: a runner
	// that hangs inside a transaction must not hold its locks for long.
	IdleInTransactionTimeout = 60 * time.Second
	// SessionTransactionTimeout bounds any runner transaction on
	// PostgreSQL 17+; steps with unbounded scans lift it with SET LOCAL.
	SessionTransactionTimeout = 10 * time.Minute
)

// RunConfig tunes a Runner. Zero values pick the defaults.
type RunConfig struct {
	StateSchema string
	// LockTimeout is the lock_timeout of every transactional step.
	LockTimeout time.Duration
	// Retries caps the attempts of one step on lock timeouts (and
	// deadlocks where the step can be re-run); RetryDeadline caps the time.
	Retries                  int
	RetryBase, RetryCap      time.Duration
	RetryDeadline            time.Duration
	MaxXactAge               time.Duration
	PreflightTimeout         time.Duration
	PreflightPoll            time.Duration // how often the gate looks again (1s)
	PreflightReport          time.Duration // how often a waiting gate says why (5s)
	IdleInTransactionGrace   time.Duration // idle-in-transaction sessions younger than this are ignored (1s)
	Complete                 bool          // run breaking steps too
	Backfill                 BackfillConfig
	Logger                   *slog.Logger
	Out                      io.Writer // one line per step for people; nil discards
	Sleep                    func(ctx context.Context, d time.Duration) error
	Jitter                   func(max time.Duration) time.Duration // full jitter: uniform in [0, max)
	BlockerPoll              time.Duration                         // how often a waiting step looks up its blockers (200ms)
	ApplicationName          string                                // of the runner's sessions, to tell them from the app's
	ServerVersion            int                                   // major version; read from the server when 0
	BeforeStep, AfterStep    func(*StepState)                      // test hooks
	ConcurrentCleanupTimeout time.Duration                         // for dropping invalid indexes after a failure (2m)
}

// BackfillConfig carries the backfill flags to package backfill.
type BackfillConfig struct {
	Batch       int
	Rate        float64
	MaxLag      time.Duration
	MaxThrottle time.Duration
	ReplicaDSNs []string
	Progress    func(backfill.Progress)
}

func (c RunConfig) withDefaults() RunConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.StateSchema == "" {
		c.StateSchema = DefaultStateSchema
	}
	def(&c.LockTimeout, DefaultLockTimeout)
	if c.Retries <= 0 {
		c.Retries = DefaultRetries
	}
	def(&c.RetryBase, DefaultRetryBase)
	def(&c.RetryCap, DefaultRetryCap)
	def(&c.RetryDeadline, DefaultRetryDeadline)
	def(&c.MaxXactAge, DefaultMaxXactAge)
	def(&c.PreflightTimeout, DefaultPreflightTimeout)
	def(&c.PreflightPoll, time.Second)
	def(&c.PreflightReport, 5*time.Second)
	def(&c.IdleInTransactionGrace, time.Second)
	def(&c.BlockerPoll, 200*time.Millisecond)
	def(&c.ConcurrentCleanupTimeout, 2*time.Minute)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	if c.Jitter == nil {
		c.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ApplicationName is what the runner's sessions call themselves, so that
// operators and the pre-flight gate can tell them from the application.
func ApplicationName(id string) string { return "migrate:" + id }

// PoolConfig parses dsn (empty: the libpq environment) into a pool
// configuration whose sessions carry the runner's name and timeouts. It
// never quotes dsn in its error, which may hold a password.
func PoolConfig(dsn, appName string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("the connection string (--dsn or DATABASE_URL) cannot be parsed")
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["application_name"] = appName
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(IdleInTransactionTimeout.Milliseconds(), 10)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if serverMajor(c.PgConn()) >= 17 {
			_, err := c.Exec(ctx, "SELECT set_config('transaction_timeout', $1, false)", strconv.FormatInt(SessionTransactionTimeout.Milliseconds(), 10))
			return err
		}
		return nil
	}
	cfg.MaxConns = 8
	return cfg, nil
}

func serverMajor(c *pgconn.PgConn) int {
	v := c.ParameterStatus("server_version")
	if i := strings.IndexAny(v, ". "); i >= 0 {
		v = v[:i]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// ErrBusy is returned by Open when another runner works on the database.
var ErrBusy = errors.New("another migrate runner holds the lock on this database")

// ErrPreflight is wrapped by a step that waited longer than
// PreflightTimeout for the database to become safe.
var ErrPreflight = errors.New("pre-flight: the database did not become safe in time")

// ErrIrreversible is returned by Rollback when a done step cannot be undone.
var ErrIrreversible = errors.New("rollback: some done steps cannot be undone")

// StepError is a step that failed; the database is consistent (the step's
// transaction rolled back, or its leftovers were dropped) and a re-run
// resumes at it.
type StepError struct {
	Step     *StepState
	Attempts int
	Err      error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d (%s) failed after %d attempt(s): %s", e.Step.ID, e.Step.Description, e.Attempts, errText(e.Err))
}
func (e *StepError) Unwrap() error { return e.Err }

// Runner runs migrations on one database, holding the runner lock.
type Runner struct {
	pool *pgxpool.Pool
	cfg  RunConfig
	st   store
	lock *pgxpool.Conn
	log  *slog.Logger
	gate *throttle.Gate
}

// The runner's advisory lock: one per database, whatever the state schema,
// since two runners changing one database could undo each other's
// assumptions. The backfiller's locks use another first key ("migr").
const (
	lockSpace = 0x6d696773 // "migs"
	lockKey   = 1
)

// Open takes the runner lock on a dedicated session (held until Close) and
// creates the journal tables when missing. A second runner gets ErrBusy,
// naming the session that holds the lock.
func Open(ctx context.Context, pool *pgxpool.Pool, cfg RunConfig) (*Runner, error) {
	cfg = cfg.withDefaults()
	r := &Runner{pool: pool, cfg: cfg, st: newStore(cfg.StateSchema), log: cfg.Logger}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if r.cfg.ServerVersion == 0 {
		r.cfg.ServerVersion = serverMajor(conn.Conn().PgConn())
	}
	if r.cfg.ApplicationName == "" {
		r.cfg.ApplicationName = conn.Conn().PgConn().ParameterStatus("application_name")
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(lockSpace), int32(lockKey)).Scan(&ok); err != nil {
		conn.Release()
		return nil, err
	}
	if !ok {
		holder := lockHolder(ctx, conn, int32(lockKey))
		conn.Release()
		return nil, fmt.Errorf("%w: %s", ErrBusy, holder)
	}
	r.lock = conn
	r.endOrphans(ctx)
	if err := r.st.ensure(ctx, conn); err != nil {
		r.Close()
		return nil, fmt.Errorf("creating the state tables in schema %s: %w", cfg.StateSchema, err)
	}
	return r, nil
}

func lockHolder(ctx context.Context, conn *pgxpool.Conn, key int32) string {
	var pid int
	var app, addr string
	var start time.Time
	err := conn.QueryRow(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 2
LIMIT 1`, int64(lockSpace), int64(key)).Scan(&pid, &app, &addr, &start)
	if err != nil {
		return "the holder could not be identified (" + err.Error() + ")"
	}
	return fmt.Sprintf("held by pid %d, application_name %q, client %s, connected since %s",
		pid, app, addr, start.Format(time.RFC3339))
}

// endOrphans ends sessions a dead runner of the same migration left
// behind: a statement in flight when the runner was killed keeps running
// on the server, holding its locks, until it notices the client is gone.
// Holding the runner lock proves they are not a live runner's.
func (r *Runner) endOrphans(ctx context.Context) {
	if r.cfg.ApplicationName == "" {
		return
	}
	ours := []int32{int32(r.lock.Conn().PgConn().PID())}
	for _, c := range r.pool.AcquireAllIdle(ctx) {
		ours = append(ours, int32(c.Conn().PgConn().PID()))
		c.Release()
	}
	rows, err := r.pool.Query(ctx, `SELECT a.pid, coalesce(a.state, ''), left(coalesce(a.query, ''), 200), pg_terminate_backend(a.pid)
FROM pg_stat_activity a WHERE a.application_name = $1 AND a.datname = current_database() AND NOT a.pid = ANY ($2) AND a.pid <> pg_backend_pid()`,
		r.cfg.ApplicationName, ours)
	if err != nil {
		r.log.Warn("could not look for sessions left by an earlier run", "error", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		var state, query string
		var ok bool
		if rows.Scan(&pid, &state, &query, &ok) == nil {
			r.log.Warn("ended a session left by an earlier run of this migration", "pid", pid, "state", state, "query", oneLine(query), "terminated", ok)
		}
	}
}

// Close releases the runner lock and stops the lag gate.
func (r *Runner) Close() {
	if r.gate != nil {
		r.gate.Close()
		r.gate = nil
	}
	if r.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := r.lock.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(lockSpace), int32(lockKey)); err != nil {
			// A session we cannot unlock must not go back to the pool
			// still holding the lock.
			r.lock.Conn().Close(ctx)
		}
		r.lock.Release()
		r.lock = nil
	}
}

// Load returns the journal of a migration, or nil when it has none.
func (r *Runner) Load(ctx context.Context, id string) (*Migration, error) {
	return r.st.load(ctx, r.pool, id)
}

// Unfinished lists migrations that are running, failed or expanded.
func (r *Runner) Unfinished(ctx context.Context) ([]*Migration, error) {
	all, err := r.st.list(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	var out []*Migration
	for _, m := range all {
		if m.Unfinished() {
			out = append(out, m)
		}
	}
	return out, nil
}

// Create journals a new migration (or a rolled-back one planned again)
// with every step pending.
func (r *Runner) Create(ctx context.Context, id string, files []string, plan *Plan) (*Migration, error) {
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		return r.st.replace(ctx, tx, id, files, plan)
	})
	if err != nil {
		return nil, err
	}
	return r.Load(ctx, id)
}

// ListMigrations reads the journal without taking the runner lock or
// creating anything: nil when the state tables do not exist.
func ListMigrations(ctx context.Context, q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, stateSchema string) ([]*Migration, error) {
	s := newStore(stateSchema)
	ok, err := s.exists(ctx, q)
	if err != nil || !ok {
		return nil, err
	}
	return s.list(ctx, q)
}

// Outcome is what Run achieved.
type Outcome struct {
	Status  string       // completed or expanded
	Ran     int          // steps run by this call
	Waiting []*StepState // steps held back for `migrate complete`
	Elapsed time.Duration
}

// Run runs the migration's unfinished steps in order. It stops before the
// first breaking step unless RunConfig.Complete is set (Outcome.Status
// expanded). On error the migration is marked failed; running again
// resumes at the failed step. When the failed step belongs to a
// transaction of the source and failed on its data, the transaction's done
// steps are undone first and the error is a *GroupError (run_group.go).
func (r *Runner) Run(ctx context.Context, m *Migration) (*Outcome, error) {
	start := time.Now()
	out := &Outcome{}
	if m.Status == MigrationCompleted {
		out.Status = MigrationCompleted
		return out, nil
	}
	if err := r.st.setMigration(ctx, r.pool, m.ID, MigrationRunning, ""); err != nil {
		return nil, err
	}
	for i, s := range m.Steps {
		if s.Status == StepDone {
			continue
		}
		if s.Breaking && !r.cfg.Complete {
			out.Waiting = m.Steps[i:]
			out.Status = MigrationExpanded
			out.Elapsed = time.Since(start)
			m.Status = MigrationExpanded
			return out, r.st.setMigration(ctx, r.pool, m.ID, MigrationExpanded, "")
		}
		if r.cfg.BeforeStep != nil {
			r.cfg.BeforeStep(s)
		}
		t0 := time.Now()
		fmt.Fprintf(r.cfg.Out, "step %d/%d [%s] %s ...\n", s.ID, len(m.Steps), s.Phase, s.Description)
		if err := r.runStep(ctx, m, s); err != nil {
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if jerr := r.st.setMigration(bg, r.pool, m.ID, MigrationFailed, err.Error()); jerr != nil {
				r.log.Error("could not record the failure in the journal", "migration", m.ID, "error", jerr)
			}
			cancel()
			m.Status = MigrationFailed
			if gerr := r.rollbackGroup(ctx, m, s, err); gerr != nil {
				err = gerr
			}
			out.Elapsed = time.Since(start)
			return out, err
		}
		s.Status = StepDone
		out.Ran++
		fmt.Fprintf(r.cfg.Out, "step %d/%d done in %s\n", s.ID, len(m.Steps), time.Since(t0).Round(time.Millisecond))
		if r.cfg.AfterStep != nil {
			r.cfg.AfterStep(s)
		}
	}
	out.Status = MigrationCompleted
	out.Elapsed = time.Since(start)
	m.Status = MigrationCompleted
	return out, r.st.setMigration(ctx, r.pool, m.ID, MigrationCompleted, "")
}

func (r *Runner) runStep(ctx context.Context, m *Migration, s *StepState) error {
	switch {
	case s.Backfill != nil:
		return r.runBackfill(ctx, m, s)
	case !s.InTransaction:
		return r.runAutocommit(ctx, m, s, s.SQL, StepDone)
	default:
		return r.runTx(ctx, m, s, s.SQL, StepDone)
	}
}

// lockTimeout is the step's lock_timeout: the caller's, which may differ
// from the one the plan was built with (a resumed run takes the new flag).
func (r *Runner) lockTimeout(s *StepState) time.Duration {
	if s.LockTimeout == 0 && !s.InTransaction {
		return 0 // CONCURRENTLY: a short lock timeout leaves invalid indexes
	}
	return r.cfg.LockTimeout
}

// needsPreflight: every step taking a strong lock, and every step that
// runs outside a transaction (CONCURRENTLY waits for old snapshots).
func needsPreflight(s *StepState) bool {
	if s.Backfill != nil {
		return false
	}
	if !s.InTransaction {
		return true
	}
	for _, l := range s.Locks {
		if lint.IsStrong(l.Mode) {
			return true
		}
	}
	return false
}

// runTx runs sql as one transaction with SET LOCAL timeouts and the
// journal update inside, retrying the whole transaction on lock timeouts.
func (r *Runner) runTx(ctx context.Context, m *Migration, s *StepState, sql, doneStatus string) error {
	idem := idempotentSQL(sql)
	return r.withRetries(ctx, m, s, idem, func(ctx context.Context) error {
		conn, err := r.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		stop := r.watchBlockers(ctx, conn.Conn().PgConn().PID(), s, false)
		err = r.txAttempt(ctx, conn, m, s, sql, doneStatus)
		blockers := stop()
		if isLockTimeout(err) {
			if len(blockers) == 0 {
				blockers = r.lockHolders(ctx, s)
			}
			r.logBlockers(s, blockers, "lock timeout")
		}
		return err
	})
}

func (r *Runner) txAttempt(ctx context.Context, conn *pgxpool.Conn, m *Migration, s *StepState, sql, doneStatus string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		tx.Rollback(bg)
	}()
	lt, stt := r.lockTimeout(s), s.StatementTimeout
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
		msText(lt), msText(stt)); err != nil {
		return err
	}
	if r.cfg.ServerVersion >= 17 {
		txt := time.Duration(0)
		if stt > 0 {
			txt = stt + lt + 10*time.Second
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('transaction_timeout', $1, true)`, msText(txt)); err != nil {
			return err
		}
	}
	// No arguments: pgx sends the step as one simple-protocol query, so a
	// multi-statement step runs statement by statement inside tx.
	if _, err := tx.Exec(ctx, sql); err != nil {
		return err
	}
	if err := r.st.finishStep(ctx, tx, m.ID, s.ID, doneStatus, ""); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func msText(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// withRetries runs attempt (pre-flight first where needed) until it
// succeeds, fails with an error that is not worth retrying, or runs out of
// attempts or time. The step is journaled running before the first
// attempt and failed after the last.
func (r *Runner) withRetries(ctx context.Context, m *Migration, s *StepState, retryDeadlock bool, attempt func(context.Context) error) error {
	deadline := time.Now().Add(r.cfg.RetryDeadline)
	start, count, fail := r.st.startStep, r.st.countAttempt, func(ctx context.Context, errText string) error {
		s.Status = StepFailed
		return r.st.finishStep(ctx, r.pool, m.ID, s.ID, StepFailed, errText)
	}
	if s.undoing {
		start, count, fail = r.st.startUndo, r.st.countUndoAttempt, func(ctx context.Context, errText string) error {
			return r.st.failUndo(ctx, r.pool, m.ID, s.ID, errText)
		}
	}
	if err := start(ctx, r.pool, m.ID, s.ID); err != nil {
		return err
	}
	for n := 1; ; n++ {
		var err error
		if needsPreflight(s) {
			err = r.preflight(ctx, s)
		}
		if err == nil {
			err = attempt(ctx)
		}
		if err == nil {
			return nil
		}
		code := sqlState(err)
		retry := code == "55P03" || (code == "40P01" && retryDeadlock)
		if retry && n < r.cfg.Retries && time.Now().Before(deadline) && ctx.Err() == nil {
			backoff := r.cfg.Jitter(min(r.cfg.RetryCap, r.cfg.RetryBase<<min(n-1, 20)))
			r.log.Warn("step will be retried", "migration", m.ID, "step", s.ID, "attempt", n, "of", r.cfg.Retries,
				"sqlstate", code, "error", errText(err), "backoff", backoff.Round(time.Millisecond).String())
			if jerr := count(ctx, r.pool, m.ID, s.ID, err.Error()); jerr != nil {
				return jerr
			}
			if serr := r.cfg.Sleep(ctx, backoff); serr != nil {
				err = serr
			} else {
				continue
			}
		}
		if retry && ctx.Err() == nil {
			err = fmt.Errorf("gave up after %d attempts within %s: %w", n, r.cfg.RetryDeadline, err)
		}
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if jerr := fail(bg, errText(err)); jerr != nil {
			r.log.Error("could not record the step failure in the journal", "step", s.ID, "error", jerr)
		}
		cancel()
		return &StepError{Step: s, Attempts: n, Err: err}
	}
}

// errText is an error with the server's detail and hint, which often name
// the row or object at fault (the duplicate key of a unique build).
func errText(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	msg := err.Error()
	if pe.Detail != "" {
		msg += "; DETAIL: " + pe.Detail
	}
	if pe.Hint != "" {
		msg += "; HINT: " + pe.Hint
	}
	return msg
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isLockTimeout(err error) bool { return sqlState(err) == "55P03" }

// idempotentSQL reports whether re-running a transaction that deadlocked
// is harmless: schema changes are (the rolled-back transaction changed
// nothing), data changes may have effects beyond the database (sequences,
// triggers calling out) and are not retried on 40P01.
func idempotentSQL(sql string) bool {
	up := strings.ToUpper(sql)
	for _, kw := range []string{"INSERT ", "UPDATE ", "DELETE ", "MERGE ", "COPY ", "NEXTVAL("} {
		if strings.Contains(up, kw) {
			return false
		}
	}
	return true
}

// runBackfill hands a backfill step to package backfill, whose checkpoint
// commits with each batch: a crash loses at most the batch in flight.
func (r *Runner) runBackfill(ctx context.Context, m *Migration, s *StepState) error {
	b := s.Backfill
	if err := r.st.startStep(ctx, r.pool, m.ID, s.ID); err != nil {
		return err
	}
	fail := func(err error) error {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if jerr := r.st.finishStep(bg, r.pool, m.ID, s.ID, StepFailed, errText(err)); jerr != nil {
			r.log.Error("could not record the step failure in the journal", "step", s.ID, "error", jerr)
		}
		s.Status = StepFailed
		return &StepError{Step: s, Attempts: 1, Err: err}
	}
	if r.gate == nil {
		g, err := throttle.Start(ctx, r.pool, throttle.Config{MaxLag: r.cfg.Backfill.MaxLag,
			MaxThrottle: r.cfg.Backfill.MaxThrottle, ReplicaDSNs: r.cfg.Backfill.ReplicaDSNs})
		if err != nil {
			return fail(fmt.Errorf("starting the lag gate: %w", err))
		}
		r.gate = g
	}
	suppress, err := r.backfillTriggerMode(ctx, s)
	if err != nil {
		return fail(err)
	}
	job := backfill.Job{ID: m.ID + "/" + strconv.Itoa(s.ID), Table: b.Table, Set: b.Set, Where: b.Where, Key: b.Key, Delete: b.Delete, Ranges: b.Ranges,
		Batch: r.cfg.Backfill.Batch, Rate: r.cfg.Backfill.Rate, LockTimeout: r.cfg.LockTimeout, StateSchema: r.cfg.StateSchema,
		SuppressTriggers: suppress}
	opts := []backfill.Option{backfill.WithGate(r.gate)}
	if r.cfg.Backfill.Progress != nil {
		opts = append(opts, backfill.WithProgress(r.cfg.Backfill.Progress))
	}
	stats, err := backfill.Run(ctx, r.pool, job, opts...)
	if err != nil {
		return fail(err)
	}
	r.log.Info("backfill done", "step", s.ID, "job", stats.JobID, "rows", stats.Rows, "total_rows", stats.TotalRows,
		"batches", stats.Batches, "elapsed", stats.Elapsed.Round(time.Millisecond).String(), "throttled", stats.Throttled.Round(time.Millisecond).String())
	return r.st.finishStep(ctx, r.pool, m.ID, s.ID, StepDone, "")
}

// Rollback undoes an unfinished migration's steps in reverse order. It
// only runs each step's Undo, which drops what the expand added, so rows
// the application wrote meanwhile stay; it refuses (ErrIrreversible)
// when a done step has no undo and changed the schema, such as a
// column swap that already dropped the old column.
func (r *Runner) Rollback(ctx context.Context, m *Migration) error {
	if m.Status == MigrationCompleted || m.Status == MigrationRolledBack {
		return fmt.Errorf("migration %s is %s: only an unfinished migration can be rolled back", m.ID, m.Status)
	}
	var irreversible []string
	for _, s := range m.Steps {
		if s.Status == StepDone && s.Undo == "" && s.Backfill == nil && !validationOnly(s.SQL) && !readOnlyCheck(s.SQL) {
			irreversible = append(irreversible, fmt.Sprintf("step %d (%s)", s.ID, s.Description))
		}
	}
	if len(irreversible) > 0 {
		return fmt.Errorf("%w: %s", ErrIrreversible, strings.Join(irreversible, "; "))
	}
	if err := r.st.setMigration(ctx, r.pool, m.ID, MigrationRunning, ""); err != nil {
		return err
	}
	for i := len(m.Steps) - 1; i >= 0; i-- {
		s := m.Steps[i]
		if err := r.undoStep(ctx, m, s); err != nil {
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			r.st.setMigration(bg, r.pool, m.ID, MigrationFailed, "rollback: "+err.Error())
			cancel()
			return err
		}
	}
	// The backfill checkpoints belong to columns that are gone; a later
	// apply must start its jobs over.
	jobs := pgx.Identifier{r.cfg.StateSchema, "backfill_jobs"}.Sanitize()
	var exists bool
	if err := r.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, jobs).Scan(&exists); err != nil {
		return err
	}
	if exists {
		if _, err := r.pool.Exec(ctx, `DELETE FROM `+jobs+` WHERE job_id LIKE $1 || '/%'`, m.ID); err != nil {
			return err
		}
	}
	m.Status = MigrationRolledBack
	return r.st.setMigration(ctx, r.pool, m.ID, MigrationRolledBack, "")
}

// undoStep reverses one step, whatever state it is in: a pending or undone
// step needs nothing, a transactional step that never committed nothing
// either, a done one runs its Undo the way the step ran (in a transaction
// or not). A step with nothing to undo is only marked undone.
func (r *Runner) undoStep(ctx context.Context, m *Migration, s *StepState) error {
	var err error
	switch {
	case s.Status == StepPending || s.Status == StepUndone:
		return nil
	case s.Backfill != nil:
		switch {
		case s.Status == StepDone && s.Backfill.Delete:
			r.log.Warn("a batched delete cannot be undone; its rows stay deleted", "step", s.ID, "table", s.Backfill.Table)
		case s.Status == StepDone && s.Backfill.Where == "":
			r.log.Warn("a batched data change cannot be undone; its rows keep their new values", "step", s.ID, "table", s.Backfill.Table)
		}
		err = r.st.finishStep(ctx, r.pool, m.ID, s.ID, StepUndone, "")
	case s.InTransaction && s.Status != StepDone:
		// Its transaction never committed: nothing to undo.
		err = r.st.finishStep(ctx, r.pool, m.ID, s.ID, StepUndone, "")
	case s.Undo == "":
		err = r.st.finishStep(ctx, r.pool, m.ID, s.ID, StepUndone, "")
	default:
		fmt.Fprintf(r.cfg.Out, "undo step %d [%s] %s ...\n", s.ID, s.Phase, s.Description)
		undo := *s
		undo.SQL, undo.undoing = s.Undo, true
		if s.InTransaction {
			err = r.runTx(ctx, m, &undo, s.Undo, StepUndone)
		} else {
			err = r.runAutocommit(ctx, m, &undo, s.Undo, StepUndone)
		}
	}
	if err != nil {
		return err
	}
	s.Status = StepUndone
	return nil
}

// validationOnly reports whether sql only validates constraints or checks
// data (a narrowing's fit check), which changes nothing and needs no undo.
func validationOnly(sql string) bool {
	if lint.IsFitCheck(sql) {
		return true
	}
	for _, stmt := range strings.Split(sql, ";") {
		stmt = strings.TrimSpace(stmt)
		if stmt != "" && !strings.Contains(strings.ToUpper(stmt), "VALIDATE CONSTRAINT") {
			return false
		}
	}
	return true
}
