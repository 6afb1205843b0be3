package migrate

// Steps PostgreSQL refuses to run in a transaction block (CONCURRENTLY,
// VACUUM) run alone, autocommit, on a dedicated session (locks.md §3.4).
// A failed, cancelled or timed-out concurrent build leaves an INVALID
// index that every write still maintains and that IF NOT EXISTS silently
// accepts, so the real state (name and indisvalid) decides what is done,
// and invalid leftovers are dropped before any retry.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// concurrentKind is what a non-transactional step does to an index.
type concurrentKind int

const (
	ccOther   concurrentKind = iota // VACUUM, DETACH CONCURRENTLY, ...
	ccCreate                        // CREATE INDEX CONCURRENTLY
	ccDrop                          // DROP INDEX CONCURRENTLY
	ccReindex                       // REINDEX ... CONCURRENTLY
)

// concurrentTarget is the index a non-transactional step works on.
type concurrentTarget struct {
	kind  concurrentKind
	table string // qualified, unquoted ("public.t"); empty when unknown
	index string // qualified, unquoted; empty for REINDEX TABLE
}

// parseConcurrent reads the index and table out of a one-statement step.
func parseConcurrent(sql string) concurrentTarget {
	res, err := pg_query.Parse(sql)
	if err != nil || len(res.Stmts) != 1 {
		return concurrentTarget{}
	}
	n := res.Stmts[0].Stmt
	switch {
	case n.GetIndexStmt() != nil && n.GetIndexStmt().Concurrent:
		ix := n.GetIndexStmt()
		table := lint.RangeVarName(ix.Relation)
		if ix.Idxname == "" {
			return concurrentTarget{}
		}
		return concurrentTarget{kind: ccCreate, table: table, index: inSchema(table, ix.Idxname)}
	case n.GetDropStmt() != nil && n.GetDropStmt().Concurrent && n.GetDropStmt().RemoveType == pg_query.ObjectType_OBJECT_INDEX:
		names := dropNames(n.GetDropStmt())
		if len(names) != 1 {
			return concurrentTarget{}
		}
		return concurrentTarget{kind: ccDrop, index: names[0]}
	case n.GetReindexStmt() != nil:
		rs := n.GetReindexStmt()
		if rs.Relation == nil || !hasOption(rs.Params, "concurrently") {
			return concurrentTarget{}
		}
		name := lint.RangeVarName(rs.Relation)
		switch rs.Kind {
		case pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:
			return concurrentTarget{kind: ccReindex, index: name}
		case pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:
			return concurrentTarget{kind: ccReindex, table: name}
		}
	}
	return concurrentTarget{}
}

// indexState is an index's existence and validity.
type indexState struct {
	exists, valid bool
	table         string // qualified, unquoted
}

func (r *Runner) indexState(ctx context.Context, q querier, qualified string) (indexState, error) {
	var st indexState
	err := q.QueryRow(ctx, `SELECT i.indisvalid AND i.indisready, tn.nspname || '.' || t.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, schemaName(qualified), relName(qualified)).Scan(&st.valid, &st.table)
	if errors.Is(err, pgx.ErrNoRows) {
		return indexState{}, nil
	}
	st.exists = err == nil
	return st, err
}

// invalidLeftovers lists invalid indexes a failed concurrent step can leave:
// the index itself, and REINDEX's <name>_ccnew/_ccold copies.
func (r *Runner) invalidLeftovers(ctx context.Context, q querier, t concurrentTarget) ([]string, error) {
	var rows pgx.Rows
	var err error
	switch {
	case t.index != "":
		rows, err = q.Query(ctx, `SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
WHERE n.nspname = $1 AND NOT i.indisvalid
  AND (c.relname = $2 OR ($3 AND c.relname ~ ('^' || regexp_replace($2, '([^A-Za-z0-9_])', '\\\1', 'g') || '_cc(new|old)[0-9]*$')))`,
			schemaName(t.index), relName(t.index), t.kind == ccReindex)
	case t.table != "":
		rows, err = q.Query(ctx, `SELECT n.nspname || '.' || c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = to_regclass($1) AND NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'`, qt(t.table))
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// dropInvalid drops invalid leftovers concurrently. It runs on a context
// that survives the caller's cancellation: an interrupted build must not
// leave an index every write keeps maintaining.
func (r *Runner) dropInvalid(ctx context.Context, t concurrentTarget, why string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ConcurrentCleanupTimeout)
	defer cancel()
	names, err := r.invalidLeftovers(ctx, r.pool, t)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, name := range names {
		r.log.Warn("dropping an invalid index "+why, "index", name)
		if err := r.sessionTimeouts(ctx, conn, 0, 0); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{schemaName(name), relName(name)}.Sanitize()); err != nil {
			return fmt.Errorf("dropping invalid index %s: %w", name, err)
		}
	}
	return nil
}

// sessionTimeouts sets the session's timeouts right before a statement:
// behind a pooler the previous statement may have run on another server
// session, so settings are never assumed to persist.
func (r *Runner) sessionTimeouts(ctx context.Context, conn *pgxpool.Conn, lock, stmt time.Duration) error {
	q := `SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`
	if r.cfg.ServerVersion >= 17 {
		q += `, set_config('transaction_timeout', '0', false)`
	}
	_, err := conn.Exec(ctx, q, msText(lock), msText(stmt))
	return err
}

// resetSession puts a session back the way the pool hands it out.
func resetSession(ctx context.Context, conn *pgxpool.Conn) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(bg, "RESET lock_timeout; RESET statement_timeout"); err != nil {
		conn.Conn().Close(bg)
	}
}

// runAutocommit runs a non-transactional step (or undo) with retries.
// For index steps it first looks at the real state: a valid index means a
// build already committed (a crash hit before the journal said so), an
// invalid one is dropped before building again.
func (r *Runner) runAutocommit(ctx context.Context, m *Migration, s *StepState, sql, doneStatus string) error {
	t := parseConcurrent(sql)
	lock, stmt := r.lockTimeout(s), s.StatementTimeout
	if s.LockTimeout == 0 {
		lock, stmt = 0, 0
	}
	return r.withRetries(ctx, m, s, true, func(ctx context.Context) error {
		done, err := r.alreadyDone(ctx, t)
		if err != nil {
			return err
		}
		if !done {
			if err := r.dropInvalid(ctx, t, "left by an earlier attempt"); err != nil {
				return err
			}
			if err := r.autocommitAttempt(ctx, s, t, sql, lock, stmt); err != nil {
				if cerr := r.dropInvalid(ctx, t, "left by this failed attempt"); cerr != nil {
					r.log.Error("could not drop the invalid index left by the failed step; the next run drops it first",
						"step", s.ID, "error", cerr)
				}
				return err
			}
			if err := r.checkConcurrent(ctx, t); err != nil {
				if cerr := r.dropInvalid(ctx, t, "the build left behind"); cerr != nil {
					r.log.Error("could not drop the invalid index", "step", s.ID, "error", cerr)
				}
				return err
			}
		} else {
			r.log.Info("the step's effect is already in place (a valid index exists, or the dropped one is gone); not running it again", "step", s.ID)
		}
		return r.st.finishStep(ctx, r.pool, m.ID, s.ID, doneStatus, "")
	})
}

// alreadyDone reports whether an index step's effect is visible: the
// index exists and is valid (create), or is gone (drop).
func (r *Runner) alreadyDone(ctx context.Context, t concurrentTarget) (bool, error) {
	if t.index == "" || t.kind == ccReindex || t.kind == ccOther {
		return false, nil
	}
	st, err := r.indexState(ctx, r.pool, t.index)
	if err != nil {
		return false, err
	}
	switch t.kind {
	case ccCreate:
		return st.exists && st.valid && st.table == t.table, nil
	case ccDrop:
		return !st.exists, nil
	}
	return false, nil
}

func (r *Runner) autocommitAttempt(ctx context.Context, s *StepState, t concurrentTarget, sql string, lock, stmt time.Duration) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer resetSession(ctx, conn)
	if err := r.sessionTimeouts(ctx, conn, lock, stmt); err != nil {
		return err
	}
	stop := r.watchBlockers(ctx, conn.Conn().PgConn().PID(), s, true)
	_, err = conn.Exec(ctx, sql)
	blockers := stop()
	if isLockTimeout(err) {
		if len(blockers) == 0 {
			blockers = r.lockHolders(ctx, s)
		}
		r.logBlockers(s, blockers, "lock timeout")
	}
	return err
}

// checkConcurrent verifies an index step's result: CONCURRENTLY can
// "succeed" as far as the client sees and still leave an invalid index
// (a concurrent uniqueness violation, a cancelled phase).
func (r *Runner) checkConcurrent(ctx context.Context, t concurrentTarget) error {
	switch t.kind {
	case ccCreate:
		st, err := r.indexState(ctx, r.pool, t.index)
		if err != nil {
			return err
		}
		if !st.exists || !st.valid {
			return fmt.Errorf("index %s is %s after CREATE INDEX CONCURRENTLY", lint.DisplayName(t.index), map[bool]string{true: "invalid", false: "missing"}[st.exists])
		}
	case ccDrop:
		st, err := r.indexState(ctx, r.pool, t.index)
		if err != nil {
			return err
		}
		if st.exists {
			return fmt.Errorf("index %s still exists after DROP INDEX CONCURRENTLY", lint.DisplayName(t.index))
		}
	case ccReindex:
		left, err := r.invalidLeftovers(ctx, r.pool, t)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("REINDEX CONCURRENTLY left invalid indexes: %s", strings.Join(left, ", "))
		}
	}
	return nil
}
