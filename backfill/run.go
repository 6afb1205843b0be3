package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

// Run runs job on the primary behind pool until it is done, and returns what
// this call did. It resumes a job that has a state row, and does nothing for
// one that is done.
//
// Cancelling ctx stops the job after the batch in flight commits; Run then
// returns an error wrapping ctx.Err(), and running the job again resumes it.
// Other errors: ErrInvalidJob, ErrSpecChanged, ErrLocked,
// ErrThrottledTooLong (and any other error of the gate), and *BatchError.
// Only ErrInvalidJob and ErrSpecChanged are returned before anything changed.
func Run(ctx context.Context, pool *pgxpool.Pool, job Job, opts ...Option) (Stats, error) {
	o := options{sleep: sleepCtx, progressEvery: time.Second, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	job = job.withDefaults()
	r := &runner{pool: pool, job: job, opts: o, start: o.now()}
	r.stats = Stats{JobID: job.ID, Delete: job.Delete, Retries: map[string]int64{}}
	st, err := r.run(ctx)
	st.Elapsed = o.now().Sub(r.start)
	return st, err
}

type runner struct {
	pool  *pgxpool.Pool
	job   Job
	opts  options
	start time.Time
	stats Stats

	store    stateStore
	lockConn *pgx.Conn
	tbl      *table
	key      []keyCol // nil: ctid ranges
	intKey   bool     // one integer key column: progress by key space
	keyRange string   // the condition bounding the walk on the key's leading column; "" for none
	sets     []assignment
	pred     string // idempotency predicate
	spec     spec
	sizer    *sizer
	limiter  *rate.Limiter
	metrics  *metrics
	sql      statements
	cutNext  atomic.Bool // the gate closed: halve the size before the next batch

	// The job's position; the progress reporter reads it under mu.
	mu        sync.Mutex
	cursor    *position
	hi        bounds
	rowsDone  int64
	scanned   int64
	batches   int64
	throttled time.Duration
	waitSince time.Time // when the current gate wait began; zero when not waiting
	finished  bool
	size      int // the sizer's current size, for the reporter
	total     int64
	sweepRows int64
}

type statements struct {
	boundary, boundaryFirst string // keyset: the key n rows ahead
	update, updateFirst     string // keyset: one key range
	count, countFirst       string // keyset: keys left in the last range
	hi, lo                  string
	pages                   string // ctid: one page range
	sweepLock, sweep        string // ctid: rows the page ranges missed
	checkpoint              string
}

func (r *runner) run(ctx context.Context) (Stats, error) {
	job := r.job
	if err := job.validate(); err != nil {
		return r.stats, err
	}
	if !job.Delete {
		sets, err := parseSet(job.Set)
		if err != nil {
			return r.stats, invalidf("SET: %v", err)
		}
		r.sets = sets
	}
	var err error
	r.store = newStateStore(job.StateSchema)
	r.sizer = newSizer(job.Batch, job.BatchMin, job.BatchMax, job.TargetBatchTime, job.BatchFixed)
	r.limiter = newLimiter(job.Rate, job.BatchMax)
	if r.metrics, err = newMetrics(r.opts.registry, job.ID); err != nil {
		return r.stats, err
	}

	if err := r.describe(ctx); err != nil {
		return r.stats, err
	}
	if err := r.store.ensure(ctx, r.pool); err != nil {
		return r.stats, fmt.Errorf("creating the state table %s: %w", r.store.ident, err)
	}
	if err := r.lock(ctx); err != nil {
		return r.stats, err
	}
	defer r.unlock()

	done, err := r.loadOrStart(ctx)
	if err != nil || done {
		return r.stats, err
	}
	if g, ok := r.opts.gate.(interface{ OnThrottle(func(string)) }); ok {
		g.OnThrottle(func(string) { r.cutNext.Store(true) })
	}

	r.publishSize()
	stop := r.report(ctx)
	err = r.loop(ctx)
	stop()
	r.stats.BatchSize = r.sizer.Size()
	r.mu.Lock()
	r.stats.TotalRows = r.rowsDone
	r.mu.Unlock()
	return r.stats, err
}

// describe reads the table from the catalog, chooses the key and checks the
// statements on the server without running them.
func (r *runner) describe(ctx context.Context) error {
	tbl, err := loadTable(ctx, r.pool, r.job.Table)
	if err != nil {
		return err
	}
	r.tbl = tbl
	r.stats.Table = tbl.name
	var prefer []string
	for _, k := range r.job.Ranges {
		prefer = append(prefer, k.Column)
	}
	key, err := chooseKey(ctx, r.pool, tbl, r.job.Key, prefer)
	if err != nil {
		return err
	}
	r.key = key
	if key != nil {
		for _, k := range r.job.Ranges {
			if k.Column == key[0].name {
				r.keyRange = k.condition(tbl.ident + "." + key[0].ident)
				break
			}
		}
	}
	r.stats.KeyRange = r.keyRange
	if key == nil {
		if tbl.kind != 'r' {
			return invalidf("%s is partitioned and has no primary key or unique NOT NULL index: give a key", tbl.name)
		}
		v, err := serverVersion(ctx, r.pool)
		if err != nil {
			return err
		}
		if v < 140000 {
			// Before 14 a ctid range is a sequential scan: every batch would read the whole table.
			return invalidf("%s has no primary key or unique NOT NULL index, and ctid ranges need PostgreSQL 14 or later", tbl.name)
		}
	}
	r.intKey = len(key) == 1 && tbl.columns[key[0].name].integer

	types := map[string]string{}
	textCmp := map[string]bool{}
	for _, a := range r.sets {
		c, ok := tbl.columns[a.Name]
		if !ok {
			return invalidf("SET: %s is not a column of %s", a.Column, tbl.name)
		}
		for _, k := range key {
			if k.name == c.name {
				// Moving a row's key would move it across the cursor.
				return invalidf("SET: %s is a key column; use another key", a.Column)
			}
		}
		types[a.Name] = c.typ
		textCmp[a.Name] = !c.hasEq
	}
	if !r.job.Delete {
		r.pred = idempotencyPredicate(r.sets, types, textCmp)
	}

	names := []string{"ctid"}
	if key != nil {
		names = make([]string, len(key))
		for i, k := range key {
			names[i] = k.name
		}
	}
	r.spec = spec{Table: tbl.name, Key: names, Set: strings.TrimSpace(r.job.Set), Where: strings.TrimSpace(r.job.Where), Delete: r.job.Delete,
		Range: r.keyRange}
	r.stats.KeyColumns = names
	r.sql = r.buildSQL()

	err = r.explain(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42883" && !r.job.Delete {
		// No = operator for some column's type after all: compare as text.
		for k := range textCmp {
			textCmp[k] = true
		}
		r.pred = idempotencyPredicate(r.sets, types, textCmp)
		r.sql = r.buildSQL()
		err = r.explain(ctx)
	}
	if err != nil {
		if errors.As(err, &pgErr) {
			return invalidf("the server rejects the batch statement: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		}
		return err
	}
	return nil
}

// explain plans the batch statements, which reports unknown columns, type
// errors and bad syntax in Set and Where before any state is written.
func (r *runner) explain(ctx context.Context) error {
	if r.key == nil {
		if _, err := r.pool.Exec(ctx, "EXPLAIN "+r.sql.pages, "(0,0)", "(1,0)"); err != nil {
			return err
		}
		if _, err := r.pool.Exec(ctx, "EXPLAIN "+r.sql.sweepLock, 1); err != nil {
			return err
		}
		_, err := r.pool.Exec(ctx, "EXPLAIN "+r.sql.sweep, []string{"(0,1)"})
		return err
	}
	args := make([]any, 0, 2*len(r.key))
	for range 2 * len(r.key) {
		args = append(args, nil)
	}
	_, err := r.pool.Exec(ctx, "EXPLAIN "+r.sql.update, args...)
	return err
}

func (r *runner) buildSQL() statements {
	var s statements
	s.checkpoint = r.store.checkpointSQL()
	// Every fragment from the user ends with a newline: a trailing -- comment
	// in it must not comment out the key range that follows (an UPDATE
	// without it would cover the whole table).
	var conds []string
	if w := strings.TrimSpace(r.job.Where); w != "" {
		conds = append(conds, "("+w+"\n)")
	}
	if r.pred != "" {
		conds = append(conds, "("+r.pred+")")
	}
	// A delete job without a predicate has no filter at all; "AND true"
	// keeps the statements below uniform without changing their plans.
	filter := "true"
	if len(conds) > 0 {
		filter = strings.Join(conds, " AND ")
	}
	update := "UPDATE " + r.tbl.ident + " SET " + r.job.Set + "\n WHERE "
	if r.job.Delete {
		update = "DELETE FROM " + r.tbl.ident + " WHERE "
	}
	if r.key == nil {
		s.pages = update + "ctid >= $1::text::tid AND ctid < $2::text::tid AND " + filter
		// The sweep locks its rows first and updates (or deletes) them in a
		// second statement: locking follows a row that was updated meanwhile
		// to its newest version, and the second statement's snapshot sees
		// that version. One statement would skip such a row (its ctid no
		// longer matches on recheck) and could end the sweep too early. For
		// the same reason the lock waits instead of using SKIP LOCKED: a
		// skipped row would let an empty batch end the sweep while rows
		// that match are still there.
		s.sweepLock = "SELECT ctid::text FROM " + r.tbl.ident + " WHERE " + filter + " LIMIT $1 FOR UPDATE"
		s.sweep = update + "ctid = ANY ($1::text[]::tid[]) AND " + filter
		return s
	}
	cols := make([]string, len(r.key))
	texts := make([]string, len(r.key))
	desc := make([]string, len(r.key))
	for i, k := range r.key {
		// Qualified, because in ORDER BY a bare name would mean the output
		// column of the same name, the key cast to text, and sort as text.
		cols[i] = r.tbl.ident + "." + k.ident
		texts[i] = cols[i] + "::text"
		desc[i] = cols[i] + " DESC"
	}
	row := "(" + strings.Join(cols, ", ") + ")"
	params := func(first int) string {
		p := make([]string, len(r.key))
		for i, k := range r.key {
			p[i] = fmt.Sprintf("$%d::%s", first+i, k.typ)
		}
		return "(" + strings.Join(p, ", ") + ")"
	}
	n := len(r.key)
	order := strings.Join(cols, ", ")
	sel := "SELECT " + strings.Join(texts, ", ") + " FROM " + r.tbl.ident
	// The upper bound comes first in the parameter list so that the first
	// batch (no lower bound) and the others share numbering.
	upTo := row + " <= " + params(1)
	after := row + " > " + params(n+1)
	// Every statement of the walk stays inside the key range, so the first
	// batch starts at its start and the frozen bound is its largest key.
	inRange, whereRange := "", ""
	if r.keyRange != "" {
		inRange, whereRange = " AND "+r.keyRange, " WHERE "+r.keyRange
	}
	upTo += inRange
	s.boundaryFirst = sel + " WHERE " + upTo + " ORDER BY " + order + fmt.Sprintf(" OFFSET $%d LIMIT 1", n+1)
	s.boundary = sel + " WHERE " + upTo + " AND " + after + " ORDER BY " + order + fmt.Sprintf(" OFFSET $%d LIMIT 1", 2*n+1)
	s.updateFirst = update + upTo + " AND " + filter
	s.update = update + upTo + " AND " + after + " AND " + filter
	s.countFirst = "SELECT count(*) FROM " + r.tbl.ident + " WHERE " + upTo
	s.count = "SELECT count(*) FROM " + r.tbl.ident + " WHERE " + upTo + " AND " + after
	s.hi = sel + whereRange + " ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1"
	s.lo = sel + whereRange + " ORDER BY " + order + " LIMIT 1"
	return s
}

// lock takes the job's advisory lock on a connection of its own, so that it
// is held for the whole run whatever happens to the pool's connections.
func (r *runner) lock(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connecting for the job lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockSpace, r.job.ID).Scan(&got); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("taking the job lock: %w", err)
	}
	if !got {
		who := lockHolder(ctx, conn, r.job.ID)
		conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("%w: job %s is held by %s", ErrLocked, r.job.ID, who)
	}
	r.lockConn = conn
	return nil
}

// lockHolder describes the session holding the job's lock, for ErrLocked.
func lockHolder(ctx context.Context, conn *pgx.Conn, id string) string {
	var pid int
	var app, client string
	var since time.Time
	err := conn.QueryRow(ctx, `
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)
LIMIT 1`, lockSpace, id).Scan(&pid, &app, &client, &since)
	if err != nil {
		// The holder may have gone between the two queries.
		return "another session (it could not be identified)"
	}
	return fmt.Sprintf("pid %d, application_name %q, client %s, connected since %s",
		pid, app, client, since.Format(time.RFC3339))
}

func (r *runner) unlock() {
	if r.lockConn == nil {
		return
	}
	// Closing the session releases the lock; no need to unlock first.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.lockConn.Close(ctx)
}

// relock checks the lock connection after a connection failure and takes
// the lock again on a new one if the session was lost.
func (r *runner) relock(ctx context.Context) error {
	if r.lockConn != nil && r.lockConn.Ping(ctx) == nil {
		return nil
	}
	r.unlock()
	r.lockConn = nil
	return r.lock(ctx)
}

// loadOrStart reads the job's state row, or writes one with the bounds
// frozen now. It reports whether the job is already done.
func (r *runner) loadOrStart(ctx context.Context) (bool, error) {
	row, err := r.store.load(ctx, r.pool, r.job.ID)
	if err != nil {
		return false, err
	}
	if row != nil && r.job.Restart {
		if err := r.store.delete(ctx, r.pool, r.job.ID); err != nil {
			return false, err
		}
		row = nil
	}
	if row != nil {
		if row.specHash != r.spec.hash() {
			return false, fmt.Errorf("%w: job %s was started as %s; now it is %s (restart it to discard its progress, or give it another ID)",
				ErrSpecChanged, r.job.ID, row.spec, r.spec)
		}
		r.stats.Resumed = true
		r.cursor, r.hi = row.cursor, row.hi
		r.rowsDone, r.scanned, r.batches = row.rowsDone, row.rowsScanned, row.batchesDone
		r.stats.TotalRows = row.rowsDone
		if row.status == statusDone {
			r.stats.Done = true
			return true, nil
		}
		if !r.job.BatchFixed && row.batchSize > 0 {
			r.sizer = newSizer(row.batchSize, r.job.BatchMin, r.job.BatchMax, r.job.TargetBatchTime, false)
		}
	} else {
		b, err := r.freeze(ctx)
		if err != nil {
			return false, err
		}
		r.hi = b
		if err := r.store.insert(ctx, r.pool, r.job.ID, r.spec, b, r.sizer.Size(), statusRunning); err != nil {
			return false, fmt.Errorf("writing the state of job %s: %w", r.job.ID, err)
		}
	}
	r.total = int64(math.Max(0, r.tbl.reltuple))
	if r.total == 0 && r.tbl.reltuple < 0 && r.tbl.pages > 0 {
		// Never analyzed: guess from the size at a typical 100 rows a page.
		r.total = r.tbl.pages * 100
	}
	if r.keyRange != "" {
		// The walk covers the range only: the planner's estimate of the
		// rows in it is the better total.
		if n, ok := r.estimateRows(ctx, r.keyRange); ok {
			r.total = n
		}
	}
	return false, nil
}

// estimateRows is the planner's row estimate for a condition on the table.
func (r *runner) estimateRows(ctx context.Context, cond string) (int64, bool) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw []byte
	if err := r.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT FROM "+r.tbl.ident+" WHERE "+cond).Scan(&raw); err != nil {
		return 0, false
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
		return 0, false
	}
	return int64(plan[0].Plan.Rows), true
}

// freeze reads the bounds the job will stop at: rows inserted after this
// are the business of whatever inserts them (a default, a trigger).
func (r *runner) freeze(ctx context.Context) (bounds, error) {
	if r.key == nil {
		return bounds{Pages: r.tbl.pages, Empty: r.tbl.pages == 0}, nil
	}
	hi, err := r.scanKey(ctx, r.sql.hi)
	if err != nil {
		return bounds{}, fmt.Errorf("reading the largest key of %s: %w", r.tbl.name, err)
	}
	if hi == nil {
		return bounds{Empty: true}, nil
	}
	lo, err := r.scanKey(ctx, r.sql.lo)
	if err != nil {
		return bounds{}, fmt.Errorf("reading the smallest key of %s: %w", r.tbl.name, err)
	}
	return bounds{Hi: hi, Lo: lo}, nil
}

func (r *runner) scanKey(ctx context.Context, q string, args ...any) ([]string, error) {
	vals := make([]string, len(r.key))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := r.pool.QueryRow(ctx, q, args...).Scan(ptrs...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return vals, err
}

// newLimiter returns the rows-per-second limiter. Its burst is at least the
// largest batch, because WaitN fails outright for more than the burst.
func newLimiter(rowsPerSec float64, batchMax int) *rate.Limiter {
	if rowsPerSec <= 0 {
		return rate.NewLimiter(rate.Inf, batchMax)
	}
	l := rate.NewLimiter(rate.Limit(rowsPerSec), max(batchMax, int(math.Ceil(rowsPerSec))))
	// A new limiter starts with a full bucket, which would let the first
	// burst (a whole BatchMax of rows) through at full speed.
	l.AllowN(time.Now(), l.Burst())
	return l
}

// batchResult is what one committed batch did.
type batchResult struct {
	size     int // the size it was run at, for the sizer
	rows     int64
	scanned  int64
	next     *position
	done     bool
	duration time.Duration
	from, to string
}

func (r *runner) loop(ctx context.Context) error {
	if r.hi.Empty && r.key != nil {
		return r.finish(ctx)
	}
	for {
		if err := ctx.Err(); err != nil {
			return r.interrupted(ctx, err)
		}
		if r.cutNext.Swap(false) {
			r.sizer.Cut(2)
			r.publishSize()
		}
		if err := r.waitGate(ctx); err != nil {
			return err
		}
		n := min(r.sizer.Size(), r.limiter.Burst())
		if err := r.limiter.WaitN(ctx, n); err != nil {
			if ctx.Err() != nil {
				return r.interrupted(ctx, ctx.Err())
			}
			return err
		}
		res, err := r.batch(ctx)
		if err != nil {
			return err
		}
		r.stats.Rows += res.rows
		r.stats.Batches++
		r.sizer.Feedback(res.size, res.duration)
		r.publishSize()
		r.metrics.batch(res.rows, res.duration, r.sizer.Size())
		if res.done {
			r.stats.Done = true
			return nil
		}
	}
}

// publishSize shares the sizer's size with the reporter goroutine; the
// sizer itself belongs to the batch loop.
func (r *runner) publishSize() {
	r.mu.Lock()
	r.size = r.sizer.Size()
	r.mu.Unlock()
}

// waitGate blocks while the gate is closed, recording the wait in the
// state row so that the table shows why the job is not moving.
func (r *runner) waitGate(ctx context.Context) error {
	g := r.opts.gate
	if g == nil {
		return nil
	}
	if st := g.Status(); st.Throttled {
		_ = r.store.setStatus(ctx, r.pool, r.job.ID, statusPaused, "throttled: "+st.Reason)
	}
	t0 := r.opts.now()
	r.mu.Lock()
	r.waitSince = t0
	r.mu.Unlock()
	err := g.Wait(ctx)
	d := r.opts.now().Sub(t0)
	r.mu.Lock()
	r.waitSince = time.Time{}
	r.throttled += d
	r.mu.Unlock()
	r.stats.Throttled += d
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return r.interrupted(ctx, ctx.Err())
	}
	_ = r.store.setStatus(ctx, r.pool, r.job.ID, statusPaused, err.Error())
	return fmt.Errorf("backfill %s stopped between batches (resumable): %w", r.job.ID, err)
}

func (r *runner) interrupted(ctx context.Context, cause error) error {
	_ = r.store.setStatus(ctx, r.pool, r.job.ID, statusPaused, "interrupted")
	return fmt.Errorf("backfill %s stopped between batches (resumable): %w", r.job.ID, cause)
}

func (r *runner) finish(ctx context.Context) error {
	if err := r.store.setStatus(ctx, r.pool, r.job.ID, statusDone, ""); err != nil {
		return err
	}
	r.mu.Lock()
	r.finished = true
	r.mu.Unlock()
	r.stats.Done = true
	return nil
}

// batch runs the next batch, retrying transient failures.
func (r *runner) batch(ctx context.Context) (batchResult, error) {
	first := r.opts.now()
	for attempt := 1; ; attempt++ {
		size := r.sizer.Size()
		// The batch must not be cut off half way by the caller's
		// cancellation: it either commits or is rolled back by the server
		// (statement_timeout), never abandoned mid-flight.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx),
			2*r.job.StatementTimeout+r.job.LockTimeout+30*time.Second)
		res, err := r.attempt(bctx, size)
		cancel()
		if err == nil {
			return res, nil
		}
		act, label := classify(err)
		if act == actAbort {
			return batchResult{}, r.abort(ctx, res, label, attempt, err)
		}
		if attempt >= r.job.Retries || r.opts.now().Sub(first) >= r.job.Deadline {
			return batchResult{}, r.abort(ctx, res, label, attempt,
				fmt.Errorf("retries exhausted: %w", err))
		}
		r.stats.Retries[label]++
		r.metrics.retry(label)
		switch act {
		case actShrink:
			r.sizer.Cut(2)
			r.publishSize()
		case actReconnect, actFailover:
			committed, err := r.recover(ctx, res)
			if err != nil {
				return batchResult{}, err
			}
			if committed != nil {
				return *committed, nil
			}
		}
		if err := r.opts.sleep(ctx, backoff(attempt-1, backoffBase, backoffLimit, r.opts.rnd)); err != nil {
			return batchResult{}, r.interrupted(ctx, err)
		}
	}
}

// recover reconnects after a connection failure. If the failure hid a
// commit that went through (the COMMIT's reply was lost), the state row
// shows it, and the batch is reported as done instead of being run again.
func (r *runner) recover(ctx context.Context, tried batchResult) (*batchResult, error) {
	r.pool.Reset()
	var inRecovery bool
	if err := r.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || inRecovery {
		// Still down, or a standby behind the address: the next attempt
		// fails the same way and backs off further.
		return nil, nil
	}
	if err := r.relock(ctx); err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, nil
	}
	row, err := r.store.load(ctx, r.pool, r.job.ID)
	if err != nil || row == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if row.batchesDone == r.batches+1 && tried.next != nil && row.cursor != nil &&
		slices.Equal(row.cursor.Key, tried.next.Key) && row.cursor.Page == tried.next.Page &&
		row.cursor.Sweep == tried.next.Sweep {
		r.cursor = row.cursor
		r.rowsDone, r.scanned, r.batches = row.rowsDone, row.rowsScanned, row.batchesDone
		tried.done = row.status == statusDone
		r.finished = tried.done
		tried.size = -1 // its duration is unknown; keep it from the sizer
		return &tried, nil
	}
	return nil, nil
}

// abort marks the job aborted and describes the failed batch.
func (r *runner) abort(ctx context.Context, res batchResult, state string, attempts int, err error) error {
	be := &BatchError{From: res.from, To: res.to, SQLState: state, Attempts: attempts, Err: err}
	if be.From == "" {
		be.From, be.To = r.rangeText(nil)
	}
	_ = r.store.setStatus(ctx, r.pool, r.job.ID, statusAborted, be.Error())
	return be
}

// rangeText describes the range of the next batch for messages, as far as
// it is known before its end is.
func (r *runner) rangeText(end []string) (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := "start"
	if r.cursor != nil && r.cursor.Key != nil {
		from = keyText(r.cursor.Key)
	}
	to := keyText(r.hi.Hi)
	if end != nil {
		to = keyText(end)
	}
	return from, to
}

func keyText(k []string) string {
	if len(k) == 1 {
		return k[0]
	}
	return "(" + strings.Join(k, ", ") + ")"
}

// attempt runs one batch transaction.
func (r *runner) attempt(ctx context.Context, size int) (res batchResult, err error) {
	res.size = size
	t0 := r.opts.now()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			rbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = tx.Rollback(rbctx)
			cancel()
		}
	}()
	_, err = tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
		msString(r.job.LockTimeout), msString(r.job.StatementTimeout))
	if err != nil {
		return res, err
	}
	if r.job.SuppressTriggers {
		if _, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return res, err
		}
	}
	r.mu.Lock()
	cur := r.cursor
	batches := r.batches
	r.mu.Unlock()

	status := statusRunning
	if r.key != nil {
		err = r.keysetBatch(ctx, tx, cur, size, &res)
	} else {
		err = r.ctidBatch(ctx, tx, cur, size, &res)
	}
	if err != nil {
		return res, err
	}
	if res.done {
		status = statusDone
	}
	tag, err := tx.Exec(ctx, r.sql.checkpoint, r.job.ID, res.next, res.rows, res.scanned, r.sizer.Size(), status, batches)
	if err != nil {
		return res, err
	}
	if tag.RowsAffected() != 1 {
		err = fmt.Errorf("%w: the state row of job %s moved on or vanished under this runner", ErrLocked, r.job.ID)
		return res, err
	}
	if err = tx.Commit(ctx); err != nil {
		return res, err
	}
	res.duration = r.opts.now().Sub(t0)
	r.mu.Lock()
	r.cursor = res.next
	r.rowsDone += res.rows
	r.scanned += res.scanned
	r.batches++
	r.finished = res.done
	r.mu.Unlock()
	return res, nil
}

func (r *runner) keysetBatch(ctx context.Context, tx pgx.Tx, cur *position, size int, res *batchResult) error {
	hi := r.hi.Hi
	args := make([]any, 0, 2*len(r.key)+1)
	for _, v := range hi {
		args = append(args, v)
	}
	boundary, update, count := r.sql.boundaryFirst, r.sql.updateFirst, r.sql.countFirst
	res.from = "start"
	if cur != nil {
		for _, v := range cur.Key {
			args = append(args, v)
		}
		boundary, update, count = r.sql.boundary, r.sql.update, r.sql.count
		res.from = keyText(cur.Key)
	}
	res.to = keyText(hi) + " (or less)"

	end := make([]string, len(r.key))
	ptrs := make([]any, len(end))
	for i := range end {
		ptrs[i] = &end[i]
	}
	err := tx.QueryRow(ctx, boundary, append(args, size-1)...).Scan(ptrs...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Fewer than size keys are left: this batch runs to the frozen end.
		if err := tx.QueryRow(ctx, count, args...).Scan(&res.scanned); err != nil {
			return err
		}
		end, res.done = hi, true
	case err != nil:
		return err
	default:
		res.scanned = int64(size)
		res.done = slices.Equal(end, hi)
	}
	res.to = keyText(end)
	updArgs := make([]any, 0, len(args))
	for _, v := range end {
		updArgs = append(updArgs, v)
	}
	updArgs = append(updArgs, args[len(hi):]...)
	tag, err := tx.Exec(ctx, update, updArgs...)
	if err != nil {
		return err
	}
	res.rows = tag.RowsAffected()
	res.next = &position{Key: end}
	return nil
}

func (r *runner) ctidBatch(ctx context.Context, tx pgx.Tx, cur *position, size int, res *batchResult) error {
	page := int64(0)
	if cur != nil {
		page = cur.Page
	}
	if cur == nil || !cur.Sweep {
		if page < r.hi.Pages {
			perPage := 1.0
			if r.tbl.pages > 0 && r.tbl.reltuple > 0 {
				perPage = math.Max(1, r.tbl.reltuple/float64(r.tbl.pages))
			}
			pages := max(1, int64(math.Ceil(float64(size)/perPage)))
			end := min(page+pages, r.hi.Pages)
			res.from, res.to = tid(page), tid(end)
			tag, err := tx.Exec(ctx, r.sql.pages, res.from, res.to)
			if err != nil {
				return err
			}
			res.rows = tag.RowsAffected()
			res.scanned = int64(float64(end-page) * perPage)
			res.next = &position{Page: end}
			if end < r.hi.Pages {
				return nil
			}
			// The last page range is done; the sweep starts with the next batch.
			res.next.Sweep = true
			return nil
		}
	}
	// The sweep finds the rows the page ranges missed: those that concurrent
	// updates moved behind the cursor or past the frozen end.
	res.from, res.to = "sweep", "sweep"
	rows, err := tx.Query(ctx, r.sql.sweepLock, size)
	if err != nil {
		return err
	}
	tids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	res.next = &position{Page: page, Sweep: true}
	if len(tids) == 0 {
		res.done = true
		return nil
	}
	tag, err := tx.Exec(ctx, r.sql.sweep, tids)
	if err != nil {
		return err
	}
	res.rows = tag.RowsAffected()
	res.scanned = int64(len(tids))
	r.mu.Lock()
	r.sweepRows += res.rows
	swept := r.sweepRows
	r.mu.Unlock()
	if limit := max(2*r.total, 10000); swept > limit {
		if r.job.Delete {
			return fmt.Errorf("the sweep has deleted %d rows and rows still match: is something inserting matching rows as fast as they are deleted?", swept)
		}
		return fmt.Errorf("the sweep has updated %d rows and rows still match: is the SET list volatile or does it depend on the column it sets?", swept)
	}
	return nil
}

func tid(page int64) string { return "(" + strconv.FormatInt(page, 10) + ",0)" }

func msString(d time.Duration) string {
	return strconv.FormatInt(max(1, d.Milliseconds()), 10)
}
