// Package backfill updates the rows of a live table in short, throttled,
// resumable batches, so that a data change that would be one giant UPDATE
// neither locks the table's rows for minutes nor floods the replicas.
//
// A job walks the table in key order (its primary key, another unique NOT
// NULL index, or physical ctid ranges when it has neither) up to a bound
// frozen when the job first starts. Each batch is one short transaction
// that updates the rows of one key range and records the range as done in
// the job's state row, so a crash loses nothing and repeats nothing; every
// UPDATE also carries an idempotency predicate, so running a range twice
// changes nothing. Between batches the job waits for a lag gate (package
// throttle) and a rate limiter, and it adapts the batch size to a target
// batch time.
package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

// Job describes one backfill. Only Table and Set (or Delete) are required;
// zero tuning fields take the defaults documented on each.
type Job struct {
	// ID names the job's state row. Running a job whose ID has a state row
	// resumes it. Default: DefaultID(Table, Set, Where), which for a delete
	// job (whose Set is empty, unlike any update job's) is DefaultID(Table, "", Where).
	ID string

	Table string   // table to update, optionally schema-qualified, as SQL would name it
	Set   string   // "col = expr[, col2 = expr2]": what an UPDATE's SET list would say; empty with Delete
	Where string   // optional: only rows matching this SQL predicate are updated (or deleted)
	Key   []string // columns to walk the table by; empty: the primary key, else a unique NOT NULL index, else ctid ranges

	// Ranges are bounds that Where implies on single columns (id < 100).
	// The walk covers only the range on the leading column of its key:
	// its first batch starts at the range's start and its frozen upper
	// bound is min(max(key), the range's end). With no Key given, a key
	// led by a column that has a range is preferred. A range on no key
	// column changes nothing; Where alone decides which rows change, so a
	// range wider than Where is harmless and a narrower one a bug.
	Ranges []KeyRange

	// Delete makes the job delete the rows matching Where instead of
	// updating them, by the same walk. No Where deletes every row that
	// existed when the job started. A deleted row cannot match again, so
	// no idempotency predicate is needed: a repeated range deletes nothing.
	// On a table walked by ctid ranges the final sweep also deletes
	// matching rows inserted while the job ran, since without a key they
	// cannot be told from rows that moved behind the cursor.
	Delete bool

	Batch           int           // initial rows per batch (1000)
	BatchMin        int           // smallest adaptive batch (10)
	BatchMax        int           // largest adaptive batch (50000)
	TargetBatchTime time.Duration // the batch duration the size adapts to (250ms)
	BatchFixed      bool          // keep Batch; no adaptation

	LockTimeout      time.Duration // lock_timeout per batch (2s)
	StatementTimeout time.Duration // statement_timeout per batch (max(5 × TargetBatchTime, 5s))
	Retries          int           // attempts per batch for transient errors (10)
	Deadline         time.Duration // time one batch may spend retrying (5m)

	Rate float64 // rows per second over all batches; 0 means unlimited

	// SuppressTriggers runs each batch with SET LOCAL
	// session_replication_role = replica: ordinary (ENABLE ORIGIN) row and
	// statement triggers and rules do not fire, ENABLE ALWAYS and ENABLE
	// REPLICA ones do, and foreign keys are not checked for the rows the
	// batch writes.
	// For a job that only fills columns no constraint or application
	// trigger reads yet. It needs superuser or, on PostgreSQL 15+, the SET
	// privilege on the parameter; without it every batch fails with 42501.
	SuppressTriggers bool

	StateSchema string // schema of the backfill_jobs state table ("migrate")
	Restart     bool   // discard the job's state row and start over
}

// KeyRange is an interval of one column's values. Lower and Upper are
// SQL expressions the server compares the column with, as the WHERE
// clause they come from would (constants: '2024-01-01', 100); an empty
// one leaves that side open.
type KeyRange struct {
	Column                         string // as the catalog spells it, unquoted
	Lower, Upper                   string
	LowerInclusive, UpperInclusive bool
}

// condition renders the range on the column expression col.
func (k KeyRange) condition(col string) string {
	var parts []string
	if strings.TrimSpace(k.Lower) != "" {
		op := ">"
		if k.LowerInclusive {
			op = ">="
		}
		parts = append(parts, col+" "+op+" ("+k.Lower+"\n)")
	}
	if strings.TrimSpace(k.Upper) != "" {
		op := "<"
		if k.UpperInclusive {
			op = "<="
		}
		parts = append(parts, col+" "+op+" ("+k.Upper+"\n)")
	}
	return strings.Join(parts, " AND ")
}

// Defaults used for zero Job fields.
const (
	DefaultBatch           = 1000
	DefaultBatchMin        = 10
	DefaultBatchMax        = 50000
	DefaultTargetBatchTime = 250 * time.Millisecond
	DefaultLockTimeout     = 2 * time.Second
	DefaultRetries         = 10
	DefaultDeadline        = 5 * time.Minute
	DefaultStateSchema     = "migrate"
)

// withDefaults fills the zero fields of j.
func (j Job) withDefaults() Job {
	if j.Batch <= 0 {
		j.Batch = DefaultBatch
	}
	if j.BatchMin <= 0 {
		j.BatchMin = min(DefaultBatchMin, j.Batch)
	}
	if j.BatchMax <= 0 {
		j.BatchMax = max(DefaultBatchMax, j.Batch)
	}
	if j.TargetBatchTime <= 0 {
		j.TargetBatchTime = DefaultTargetBatchTime
	}
	if j.LockTimeout <= 0 {
		j.LockTimeout = DefaultLockTimeout
	}
	if j.StatementTimeout <= 0 {
		j.StatementTimeout = max(5*j.TargetBatchTime, 5*time.Second)
	}
	if j.Retries <= 0 {
		j.Retries = DefaultRetries
	}
	if j.Deadline <= 0 {
		j.Deadline = DefaultDeadline
	}
	if j.StateSchema == "" {
		j.StateSchema = DefaultStateSchema
	}
	if j.ID == "" {
		j.ID = DefaultID(j.Table, j.Set, j.Where)
	}
	return j
}

func (j Job) validate() error {
	switch {
	case strings.TrimSpace(j.Table) == "":
		return invalidf("no table")
	case j.Delete && strings.TrimSpace(j.Set) != "":
		return invalidf("a delete job has no SET list")
	case !j.Delete && strings.TrimSpace(j.Set) == "":
		return invalidf("no SET list")
	case j.BatchMin > j.BatchMax:
		return invalidf("batch min %d is above batch max %d", j.BatchMin, j.BatchMax)
	case j.Batch < j.BatchMin || j.Batch > j.BatchMax:
		return invalidf("batch %d is outside [%d, %d]", j.Batch, j.BatchMin, j.BatchMax)
	case j.Rate < 0:
		return invalidf("negative rate")
	}
	if err := checkFragment(j.Where); err != nil {
		return invalidf("WHERE: %v", err)
	}
	for _, k := range j.Key {
		if strings.TrimSpace(k) == "" {
			return invalidf("empty key column")
		}
	}
	for _, k := range j.Ranges {
		if strings.TrimSpace(k.Column) == "" || strings.TrimSpace(k.Lower) == "" && strings.TrimSpace(k.Upper) == "" {
			return invalidf("a key range needs a column and at least one bound")
		}
		for _, b := range []string{k.Lower, k.Upper} {
			if err := checkFragment(b); err != nil {
				return invalidf("key range of %s: %v", k.Column, err)
			}
		}
	}
	return nil
}

// DefaultID is the job ID used when Job.ID is empty: the table's name and a
// hash of what the job does, so that re-running the same command finds the
// same job and a different command starts a different one. The key is left
// out on purpose: walking the same change by another key is the same job, and
// Run refuses it with ErrSpecChanged rather than silently starting over.
func DefaultID(table, set, where string) string {
	h := sha256.New()
	for _, s := range []string{set, where} {
		h.Write([]byte(strings.TrimSpace(s)))
		h.Write([]byte{0})
	}
	return strings.TrimSpace(table) + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Errors returned by Run, to be tested with errors.Is.
var (
	// ErrInvalidJob wraps every problem with the job itself: a missing or
	// malformed field, a table or column that does not exist, a SET list or
	// predicate the server rejects. Nothing was changed.
	ErrInvalidJob = errors.New("invalid backfill job")

	// ErrSpecChanged means the job's state row was written by a job that
	// did something else (another table, key, SET list or predicate). Run it
	// with Restart to discard that progress, or give the job another ID.
	ErrSpecChanged = errors.New("backfill job changed since it was started")

	// ErrLocked means another runner holds the job; the error says who.
	ErrLocked = errors.New("backfill job is being run by another process")

	// ErrThrottledTooLong means the lag gate stayed closed for longer than
	// its limit. The job stopped between batches and can be resumed.
	ErrThrottledTooLong = throttle.ErrThrottledTooLong
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidJob, fmt.Sprintf(format, args...))
}

// BatchError is a batch that failed with an error that is not transient,
// or whose retries ran out. The transaction was rolled back and the job's
// state row marked aborted; once the cause is fixed the job resumes at
// this batch.
type BatchError struct {
	From, To string // the batch's key range (From exclusive, To inclusive), as text
	SQLState string // the server's error code; empty when the error had none
	Attempts int
	Err      error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch (%s, %s]", e.From, e.To)
	if e.SQLState != "" {
		fmt.Fprintf(&b, " SQLSTATE %s", e.SQLState)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *BatchError) Unwrap() error { return e.Err }

// Stats describes what a call to Run did.
type Stats struct {
	JobID      string
	Table      string           // the table as schema.name
	Delete     bool             // the job deletes rows: Rows and TotalRows count deleted rows
	Rows       int64            // rows this run changed
	Batches    int64            // batches this run committed
	Retries    map[string]int64 // retried attempts by SQLSTATE ("connection" when there was none)
	Elapsed    time.Duration
	Throttled  time.Duration // time spent waiting for the lag gate
	Resumed    bool          // the job had a state row and continued from its checkpoint
	Done       bool          // the job has finished (possibly in an earlier run)
	TotalRows  int64         // rows changed by the job over all its runs
	BatchSize  int           // the batch size when the run ended
	KeyColumns []string      // what the table was walked by ("ctid" for page ranges)
	KeyRange   string        // the condition that bounded the walk (from Job.Ranges); empty: the whole key range
}

// Gate is the lag gate a job waits for before each batch. *throttle.Gate
// implements it; if the gate also has an OnThrottle(func(string)) method,
// the job halves its batch size each time the gate closes.
type Gate interface {
	Wait(ctx context.Context) error
	Status() throttle.Status
}

// Progress is a snapshot of a running job, passed to the WithProgress function.
type Progress struct {
	JobID     string
	Table     string
	Done      int64   // rows the job has walked past (scanned), over all runs
	Total     int64   // estimated rows to walk in all (from the planner's statistics)
	Fraction  float64 // how much of the job is done, 0 to 1
	Rows      int64   // rows changed, over all runs
	Batches   int64   // batches committed, over all runs
	Rate      float64 // rows walked per second, averaged over the last ~10 s of unthrottled work
	ETA       time.Duration
	ETAKnown  bool
	BatchSize int
	Elapsed   time.Duration // since this run started
	Throttled time.Duration // time this run spent waiting for the gate
	State     string        // "running", "throttled", "sweeping", "done"
	Reason    string        // why the gate is closed, when throttled
	Lag       time.Duration // worst known replica time lag
	LagKnown  bool
	LagSource string
	Final     bool // the last report of the run
}

// Option configures Run.
type Option func(*options)

type options struct {
	gate          Gate
	progress      func(Progress)
	progressEvery time.Duration
	registry      prometheus.Registerer
	sleep         func(context.Context, time.Duration) error
	rnd           func(int64) int64
	now           func() time.Time
}

// WithGate makes every batch wait for g first.
func WithGate(g Gate) Option { return func(o *options) { o.gate = g } }

// WithProgress calls f about once a second, and once more when Run returns,
// from a single goroutine.
func WithProgress(f func(Progress)) Option { return func(o *options) { o.progress = f } }

// WithProgressInterval changes how often the WithProgress function is called.
func WithProgressInterval(d time.Duration) Option {
	return func(o *options) { o.progressEvery = d }
}

// WithMetrics registers the job's Prometheus metrics with r. Jobs run one
// after another may share r.
func WithMetrics(r prometheus.Registerer) Option { return func(o *options) { o.registry = r } }

// WithSleep replaces the sleep between retries, for tests.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}
