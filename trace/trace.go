// Package trace runs a migration on a disposable scratch database and
// records what each statement really did: the locks it took on every
// relation (not only the one it names), the relations it rewrote (new
// relfilenode, indexes included), the full scans it made (seq_scan deltas)
// and the constraints it created, valid or not. These are the three
// signals of locks.md §0. Nothing is committed: see Run for how.
//
// The result annotates lint findings ("traced: ...") and becomes findings
// of its own where the trace and the static verdict disagree, so the rules
// get fixed.
package trace

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/migrate-tool/migrate/lint"
)

// Options configure a trace run.
type Options struct {
	// DSN is the scratch database. Statements really run there (and are
	// rolled back); statements that cannot run in a transaction are probed
	// for real and may leave traces, which is why Disposable is required.
	DSN        string
	Disposable bool
	// LiveDSN is the --dsn database, if any: the trace refuses to run on it.
	LiveDSN string
	// Lint carries the options the sources were parsed with.
	Lint lint.Config
	// ProbeWait is how long a probed statement may wait on the blocker
	// before it is cancelled (default 2s).
	ProbeWait time.Duration
	// StatementTimeout bounds each traced statement (default 60s).
	StatementTimeout time.Duration
	// Static is the schema model lint started from (the --dsn catalog),
	// for judging whether the trace contradicts lint's lock model; nil is
	// an empty model, as lint has without --dsn. It is updated in place.
	Static *lint.Schema
}

// Lock is one lock a statement held.
type Lock struct {
	Relation string // qualified
	Kind     string // "table", "index", "sequence", "view", "matview", "other"
	Table    string // for an index: its table (qualified)
	Mode     string // "ACCESS EXCLUSIVE", ...
}

// Constraint is a constraint the statement created.
type Constraint struct {
	Name, Table string
	Valid       bool
}

// Statement is what one statement did.
type Statement struct {
	File            string
	Line, Column    int
	EndLine, EndCol int
	SQL             string
	Stmt            *lint.Statement
	Mode            string // "traced", "probed", "untraceable", "failed"
	Note            string
	Locks           []Lock // new locks on relations that existed before the statement
	// Held are the strongest locks earlier statements of the trace
	// transaction already held on the relations this one touched: a lock
	// already held is not taken anew, so it cannot show up in Locks.
	Held             []Lock
	Waiting          []string // probe: what the statement waited for
	Rewritten        []string // relations with a new relfilenode (qualified)
	Scans            map[string]int64
	Constraints      []Constraint
	Err              string
	StaticLocks      []lint.Lock
	PreexistingTouch bool // the statement touched a relation that existed before the migration

	rels map[string]relInfo
}

// relInfo is what the trace knows about a relation named in a Statement.
type relInfo struct {
	kind, table string
	preexisting bool // existed before the migration, not only before the statement
}

func (s *Statement) kindOf(name string) relInfo { return s.rels[name] }

func (s *Statement) note(oid int64, rels, initial map[int64]relation) {
	r, ok := rels[oid]
	if !ok {
		return
	}
	if s.rels == nil {
		s.rels = map[string]relInfo{}
	}
	info := relInfo{kind: kinds[r.kind]}
	if r.table != 0 {
		info.table = rels[r.table].name
	}
	_, info.preexisting = initial[oid]
	s.rels[r.name] = info
}

const (
	ModeTraced      = "traced"
	ModeProbed      = "probed"
	ModeUntraceable = "untraceable"
	ModeFailed      = "failed"
)

// Report is the outcome of a run.
type Report struct {
	Statements []*Statement
}

// Run traces every statement of sources on opts.DSN and merges the result
// into res: traced facts are appended to the findings of each statement,
// and disagreements and untraceable statements become findings.
//
// How it avoids committing anything: all statements run in ONE outer
// transaction, in order, so each sees the schema the earlier ones built
// (a CREATE TABLE followed by an index on it must trace the index). Each
// statement is wrapped in a SAVEPOINT so a failing statement is rolled
// back alone and the trace goes on; its locks, relfilenodes, seq_scan
// counters and new constraints are read in the same transaction just
// before and just after it. The outer transaction is rolled back at the
// end. One consequence: a lock an earlier statement already holds in the
// same mode is not taken anew, so it is not attributed again (the
// message says "new locks").
//
// Statements that cannot run in a transaction block (CONCURRENTLY,
// VACUUM, ...) are probed first, before the outer transaction exists, on
// the committed schema: a blocker session holds ACCESS SHARE on the
// relation, the statement runs in a third session, and pg_locks shows
// what it holds and what it waits for; then it is cancelled. Probing
// needs the relation to exist before the migration; otherwise the
// statement is reported as untraceable. Inside the outer transaction the
// non-concurrent equivalent is applied (unmeasured) so later statements
// see its effect.
func Run(ctx context.Context, sources []*lint.Source, res *lint.Result, opts Options) (*Report, error) {
	if !opts.Disposable {
		return nil, errors.New("the scratch database was not confirmed disposable (--trace-disposable)")
	}
	conn, err := Connect(ctx, opts.DSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := CheckTarget(ctx, conn, opts.DSN, opts.LiveDSN); err != nil {
		return nil, err
	}
	var stmts []*lint.Statement
	for _, src := range sources {
		parsed, perr := lint.Parse(src, opts.Lint.Options)
		if perr != nil {
			continue // already reported by lint
		}
		for _, st := range parsed {
			if st.Context != "" || (st.Down && !opts.Lint.IncludeDown) || st.Node == nil {
				continue
			}
			stmts = append(stmts, st)
		}
	}
	rep, err := Statements(ctx, conn, opts, stmts)
	if err != nil {
		return nil, err
	}
	MergeWith(res, rep, opts.Lint)
	return rep, nil
}

// Connect opens a session on the scratch database. The DSN never appears
// in errors: it may hold a password.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("cannot parse --trace-dsn (not repeated here: it may contain a password)")
	}
	cfg.RuntimeParams["application_name"] = "migrate-trace"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the trace database host=%s port=%d dbname=%s: %s", cfg.Host, cfg.Port, cfg.Database, scrub(err.Error(), cfg.Password))
	}
	return conn, nil
}

func scrub(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "********")
}

// CheckTarget refuses a server in recovery (a standby cannot run DDL, and
// a promoted-looking replica of production is the worst place to try) and
// the database --dsn names: first by host, port and database name, then,
// when both servers answer, by the cluster's identity and database name,
// which also catches two spellings of the same server.
func CheckTarget(ctx context.Context, conn *pgx.Conn, traceDSN, liveDSN string) error {
	var recovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil {
		return fmt.Errorf("checking the trace database: %w", err)
	}
	if recovery {
		return errors.New("the trace database is in recovery (a standby); --trace needs a writable, disposable scratch database")
	}
	if liveDSN == "" {
		return nil
	}
	tc, err1 := pgconn.ParseConfig(traceDSN)
	lc, err2 := pgconn.ParseConfig(liveDSN)
	if err1 == nil && err2 == nil && tc.Host == lc.Host && tc.Port == lc.Port && tc.Database == lc.Database {
		return fmt.Errorf("--trace-dsn and --dsn name the same database (host=%s port=%d dbname=%s); the trace must run on a scratch copy", tc.Host, tc.Port, tc.Database)
	}
	live, err := lint.ConnectCatalog(ctx, liveDSN)
	if err != nil {
		return nil // --dsn itself reports that; the names differ
	}
	defer live.Close(context.Background())
	a, aerr := identity(ctx, conn)
	b, berr := identity(ctx, live)
	if aerr == nil && berr == nil && a == b {
		return errors.New("--trace-dsn and --dsn reach the same database on the same cluster; the trace must run on a scratch copy")
	}
	return nil
}

// identity is the cluster's system identifier (or, without the privilege
// to read it, the postmaster start time and port) plus the database name.
func identity(ctx context.Context, conn *pgx.Conn) (string, error) {
	var id, db string
	err := conn.QueryRow(ctx, "SELECT system_identifier::text, current_database() FROM pg_control_system()").Scan(&id, &db)
	if err == nil {
		return id + "/" + db, nil
	}
	err = conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()::text || ':' || coalesce(inet_server_port(), 0)::text, current_database()").Scan(&id, &db)
	return "start:" + id + "/" + db, err
}

// Statements traces stmts in order on conn (see Run).
func Statements(ctx context.Context, conn *pgx.Conn, opts Options, stmts []*lint.Statement) (*Report, error) {
	if opts.ProbeWait == 0 {
		opts.ProbeWait = 2 * time.Second
	}
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = 60 * time.Second
	}
	// The static side of the comparison starts from the scratch
	// database's own catalog, so both verdicts judge the same schema.
	cat, err := lint.ReadCatalog(ctx, conn, lint.CatalogOptions{})
	if err != nil {
		return nil, err
	}
	// model follows the scratch database exactly (it picks the relation a
	// probe blocks); static is what lint knew, for the comparison.
	model := cat.Schema
	static := opts.Static
	if static == nil {
		static = lint.NewSchema()
	}
	initial, err := snapshotRelations(ctx, conn)
	if err != nil {
		return nil, err
	}

	rep := &Report{}
	records := make([]*Statement, len(stmts))
	for i, st := range stmts {
		p, e := st.Pos(), st.EndPos()
		records[i] = &Statement{File: st.Source.Path, Line: p.Line, Column: p.Column, EndLine: e.Line, EndCol: e.Column,
			SQL: st.Text(), Stmt: st, Scans: map[string]int64{}}
	}

	// Probes first: they need the committed schema and no transaction of
	// ours holding locks they would queue behind.
	for i, st := range stmts {
		if why := nonTransactional(st.Node, cat.PGVersion()); why != "" {
			probe(ctx, conn, opts, model, initial, st, records[i], why)
		}
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // rolled back below; this covers early returns
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", opts.StatementTimeout.Milliseconds())); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = 5000"); err != nil {
		return nil, err
	}
	for i, st := range stmts {
		rec := records[i]
		rec.StaticLocks = lint.LocksOf(st, static)
		switch {
		case isTxControl(st.Node):
			// The trace's own transaction replaces the migration's.
			continue
		case rec.Mode != "":
			// Probed or found untraceable: apply the transactional
			// equivalent, unmeasured, so later statements see its effect.
			if eq := transactionalEquivalent(st.Node); eq != "" {
				if err := execSavepoint(ctx, tx, eq); err != nil {
					rec.Note = strings.TrimSpace(rec.Note + " (its non-concurrent form failed in the trace transaction too: " + err.Error() + ")")
				}
			}
		default:
			if err := traceOne(ctx, tx, st, rec, initial); err != nil {
				return nil, err
			}
		}
		model.Apply(st)
		if static != model {
			static.Apply(st)
		}
		rep.Statements = append(rep.Statements, rec)
	}
	if err := tx.Rollback(ctx); err != nil {
		return nil, fmt.Errorf("rolling back the trace transaction: %w", err)
	}
	return rep, nil
}

func execSavepoint(ctx context.Context, tx pgx.Tx, sql string) error {
	if _, err := tx.Exec(ctx, "SAVEPOINT migrate_trace"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT migrate_trace"); rerr != nil {
			return rerr
		}
		return err
	}
	_, err := tx.Exec(ctx, "RELEASE SAVEPOINT migrate_trace")
	return err
}

// traceOne runs one statement between two snapshots. Only an error of the
// trace machinery itself is returned; the statement's own error is
// recorded.
func traceOne(ctx context.Context, tx pgx.Tx, st *lint.Statement, rec *Statement, initial map[int64]relation) error {
	before, err := snapshot(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT migrate_trace"); err != nil {
		return err
	}
	_, execErr := tx.Exec(ctx, st.Text())
	if execErr != nil {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT migrate_trace"); err != nil {
			return err
		}
		rec.Mode, rec.Err = ModeFailed, execErr.Error()
		return nil
	}
	after, err := snapshot(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT migrate_trace"); err != nil {
		return err
	}
	rec.Mode = ModeTraced
	diff(before, after, initial, rec)
	return nil
}

// relation is one row of pg_class in a user schema.
type relation struct {
	name, kind string
	filenode   int64
	table      int64 // for an index, its table's oid
}

type lockKey struct {
	rel  int64
	mode string
}

type state struct {
	rels        map[int64]relation
	scans       map[int64]int64
	locks       map[lockKey]bool
	constraints map[int64]Constraint
}

const relationsSQL = `
SELECT c.oid::int8, n.nspname || '.' || c.relname, c.relkind::text, c.relfilenode::int8, coalesce(i.indrelid, 0)::int8
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'i', 'I', 'm', 'S', 'v', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func snapshotRelations(ctx context.Context, q querier) (map[int64]relation, error) {
	out := map[int64]relation{}
	rows, err := q.Query(ctx, relationsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var oid int64
		var r relation
		if err := rows.Scan(&oid, &r.name, &r.kind, &r.filenode, &r.table); err != nil {
			return nil, err
		}
		out[oid] = r
	}
	return out, rows.Err()
}

func snapshot(ctx context.Context, q querier) (*state, error) {
	s := &state{scans: map[int64]int64{}, locks: map[lockKey]bool{}, constraints: map[int64]Constraint{}}
	var err error
	if s.rels, err = snapshotRelations(ctx, q); err != nil {
		return nil, err
	}
	if err := collect(ctx, q, "SELECT relid::int8, coalesce(seq_scan, 0)::int8 FROM pg_stat_xact_user_tables", func(r pgx.Rows) error {
		var oid, n int64
		if err := r.Scan(&oid, &n); err != nil {
			return err
		}
		s.scans[oid] = n
		return nil
	}); err != nil {
		return nil, err
	}
	if err := collect(ctx, q, `SELECT relation::int8, mode FROM pg_locks
		WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, func(r pgx.Rows) error {
		var k lockKey
		if err := r.Scan(&k.rel, &k.mode); err != nil {
			return err
		}
		s.locks[k] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if err := collect(ctx, q, `SELECT con.oid::int8, con.conname, n.nspname || '.' || c.relname, con.convalidated
		FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace`, func(r pgx.Rows) error {
		var oid int64
		var c Constraint
		if err := r.Scan(&oid, &c.Name, &c.Table, &c.Valid); err != nil {
			return err
		}
		s.constraints[oid] = c
		return nil
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func collect(ctx context.Context, q querier, sql string, row func(pgx.Rows) error, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// pgModes maps pg_locks.mode to the names lint uses.
var pgModes = map[string]string{
	"AccessShareLock": lint.AccessShare, "RowShareLock": lint.RowShare, "RowExclusiveLock": lint.RowExclusive,
	"ShareUpdateExclusiveLock": lint.ShareUpdateExclusive, "ShareLock": lint.Share,
	"ShareRowExclusiveLock": lint.ShareRowExclusive, "ExclusiveLock": lint.Exclusive,
	"AccessExclusiveLock": lint.AccessExclusive,
}

var kinds = map[string]string{"r": "table", "p": "table", "f": "table", "i": "index", "I": "index", "m": "matview", "S": "sequence", "v": "view"}

func diff(before, after *state, initial map[int64]relation, rec *Statement) {
	for k := range after.locks {
		if before.locks[k] {
			continue
		}
		r, existed := before.rels[k.rel]
		if !existed {
			continue // created by this statement: nobody can wait on it
		}
		l := Lock{Relation: r.name, Kind: kinds[r.kind], Mode: pgModes[k.mode]}
		if l.Mode == "" {
			l.Mode = k.mode
		}
		if r.table != 0 {
			l.Table = before.rels[r.table].name
		}
		rec.Locks = append(rec.Locks, l)
		rec.note(k.rel, before.rels, initial)
		if _, ok := initial[k.rel]; ok {
			rec.PreexistingTouch = true
		}
	}
	relevant := map[string]bool{}
	for _, l := range rec.Locks {
		relevant[l.Relation] = true
	}
	for _, l := range rec.StaticLocks {
		relevant[qualify(l.Relation)] = true
	}
	held := map[int64]string{}
	for k := range before.locks {
		r, ok := before.rels[k.rel]
		mode := pgModes[k.mode]
		if !ok || !relevant[r.name] || r.kind == "i" || r.kind == "I" || lockRank[mode] <= lockRank[held[k.rel]] {
			continue
		}
		held[k.rel] = mode
	}
	for oid, mode := range held {
		r := before.rels[oid]
		rec.Held = append(rec.Held, Lock{Relation: r.name, Kind: kinds[r.kind], Mode: mode})
	}
	sort.Slice(rec.Held, func(i, j int) bool { return rec.Held[i].Relation < rec.Held[j].Relation })
	sort.Slice(rec.Locks, func(i, j int) bool {
		a, b := rec.Locks[i], rec.Locks[j]
		if a.Relation != b.Relation {
			return a.Relation < b.Relation
		}
		return lockRank[a.Mode] < lockRank[b.Mode]
	})
	// An index rebuilt by ALTER COLUMN TYPE on its own column is dropped
	// and re-created under the same name (new OID): it counts as rewritten
	// when its storage is new, not when it is reused (locks.md B2).
	byName := map[string]int64{}
	for oid, r := range after.rels {
		byName[r.name] = oid
	}
	for oid, r := range before.rels {
		a, ok := after.rels[oid]
		if !ok {
			if again, found := byName[r.name]; found {
				a, ok = after.rels[again], true
			}
		}
		if ok && r.filenode != 0 && a.filenode != r.filenode {
			rec.Rewritten = append(rec.Rewritten, r.name)
			rec.note(oid, before.rels, initial)
			if _, ok := initial[oid]; ok {
				rec.PreexistingTouch = true
			}
		}
	}
	sort.Strings(rec.Rewritten)
	for oid, n := range after.scans {
		if d := n - before.scans[oid]; d > 0 {
			if r, ok := before.rels[oid]; ok {
				rec.Scans[r.name] = d
				rec.note(oid, before.rels, initial)
			}
		}
	}
	for oid, c := range after.constraints {
		if _, ok := before.constraints[oid]; !ok {
			rec.Constraints = append(rec.Constraints, c)
		}
	}
	sort.Slice(rec.Constraints, func(i, j int) bool { return rec.Constraints[i].Name < rec.Constraints[j].Name })
}

var lockRank = map[string]int{
	lint.AccessShare: 1, lint.RowShare: 2, lint.RowExclusive: 3, lint.ShareUpdateExclusive: 4,
	lint.Share: 5, lint.ShareRowExclusive: 6, lint.Exclusive: 7, lint.AccessExclusive: 8,
}
