package trace

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/migrate-tool/migrate/lint"
)

// nonTransactional says why a statement cannot run inside the trace's
// transaction block ("" when it can).
func nonTransactional(n *pg_query.Node, pgVersion int) string {
	switch {
	case n.GetIndexStmt() != nil && n.GetIndexStmt().Concurrent:
		return "CREATE INDEX CONCURRENTLY"
	case n.GetDropStmt() != nil && n.GetDropStmt().Concurrent:
		return "DROP INDEX CONCURRENTLY"
	case n.GetReindexStmt() != nil:
		r := n.GetReindexStmt()
		if r.Kind == pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE || r.Kind == pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM {
			return "REINDEX DATABASE/SYSTEM"
		}
		for _, o := range r.Params {
			if d := o.GetDefElem(); d != nil && d.Defname == "concurrently" {
				return "REINDEX CONCURRENTLY"
			}
		}
	case n.GetAlterTableStmt() != nil:
		for _, cn := range n.GetAlterTableStmt().Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			if cmd.Subtype == pg_query.AlterTableType_AT_DetachPartitionFinalize {
				return "DETACH PARTITION ... FINALIZE"
			}
			if pc := cmd.GetDef().GetPartitionCmd(); pc != nil && pc.Concurrent {
				return "DETACH PARTITION ... CONCURRENTLY"
			}
		}
	case n.GetVacuumStmt() != nil && n.GetVacuumStmt().IsVacuumcmd:
		return "VACUUM"
	case n.GetCreatedbStmt() != nil, n.GetDropdbStmt() != nil, n.GetAlterSystemStmt() != nil,
		n.GetCreateTableSpaceStmt() != nil, n.GetDropTableSpaceStmt() != nil:
		return "a database-level statement"
	case n.GetAlterEnumStmt() != nil && pgVersion > 0 && pgVersion < 12:
		return "ALTER TYPE ... ADD VALUE before PostgreSQL 12"
	}
	return ""
}

// probeable reports whether the probe method applies: a statement that
// works on one relation and waits for locks or snapshots on it.
func probeable(why string) bool {
	switch why {
	case "a database-level statement", "REINDEX DATABASE/SYSTEM", "ALTER TYPE ... ADD VALUE before PostgreSQL 12":
		return false
	}
	return true
}

func isTxControl(n *pg_query.Node) bool { return n.GetTransactionStmt() != nil }

// transactionalEquivalent is the statement without CONCURRENTLY, which
// has the same effect on the schema and can run in the trace transaction.
func transactionalEquivalent(n *pg_query.Node) string {
	c := proto.Clone(n).(*pg_query.Node)
	switch {
	case c.GetIndexStmt() != nil && c.GetIndexStmt().Concurrent:
		c.GetIndexStmt().Concurrent = false
	case c.GetDropStmt() != nil && c.GetDropStmt().Concurrent:
		c.GetDropStmt().Concurrent = false
	case c.GetAlterTableStmt() != nil:
		changed := false
		for _, cn := range c.GetAlterTableStmt().Cmds {
			if pc := cn.GetAlterTableCmd().GetDef().GetPartitionCmd(); pc != nil && pc.Concurrent {
				pc.Concurrent, changed = false, true
			}
		}
		if !changed {
			return ""
		}
	default:
		return "" // REINDEX and VACUUM leave the schema as it was
	}
	return lint.Deparse(c)
}

type observedLock struct {
	locktype string
	rel      int64
	mode     string
	granted  bool
}

// probe runs a statement that cannot run in a transaction block against
// a blocker that holds ACCESS SHARE on its relation, and records what the
// statement held and waited for before cancelling it.
func probe(ctx context.Context, conn *pgx.Conn, opts Options, schema *lint.Schema, initial map[int64]relation, st *lint.Statement, rec *Statement, why string) {
	rec.Mode = ModeUntraceable
	if !probeable(why) {
		rec.Note = why + " cannot run in a transaction block and acts on more than one relation, so it is neither traced nor probed"
		return
	}
	target := ""
	best := 0
	for _, l := range lint.LocksOf(st, schema) {
		if r := lockRank[l.Mode]; r > best {
			target, best = qualify(l.Relation), r
		}
	}
	byName := map[string]int64{}
	for oid, r := range initial {
		byName[r.name] = oid
	}
	oid, ok := byName[target]
	if target == "" || !ok || (initial[oid].kind != "r" && initial[oid].kind != "p" && initial[oid].kind != "m") {
		rec.Note = why + " cannot run in a transaction block, and the table it works on (" + lint.DisplayName(target) +
			") does not exist before this migration, so it cannot be probed on the committed schema"
		return
	}

	open := func() (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, conn.Config().Copy()) }
	blocker, err := open()
	if err != nil {
		rec.Note = why + ": probe failed to open the blocker session: " + err.Error()
		return
	}
	defer blocker.Close(context.Background())
	runner, err := open()
	if err != nil {
		rec.Note = why + ": probe failed to open a session: " + err.Error()
		return
	}
	defer runner.Close(context.Background())

	invalidBefore, _ := invalidIndexes(ctx, conn)
	// REPEATABLE READ plus a query keeps a snapshot open, which is what
	// CONCURRENTLY waits for (locks.md §2): ACCESS SHARE alone does not
	// conflict with the SHARE lock CREATE INDEX CONCURRENTLY waits on.
	btx, err := blocker.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		rec.Note = why + ": probe blocker: " + err.Error()
		return
	}
	defer btx.Rollback(context.Background()) //nolint:errcheck
	if _, err := btx.Exec(ctx, "LOCK TABLE "+pgx.Identifier(strings.SplitN(target, ".", 2)).Sanitize()+" IN ACCESS SHARE MODE"); err != nil {
		rec.Note = why + ": probe blocker could not lock " + lint.DisplayName(target) + ": " + err.Error()
		return
	}
	if _, err := btx.Exec(ctx, "SELECT 1"); err != nil {
		rec.Note = why + ": probe blocker: " + err.Error()
		return
	}
	var pid int
	if err := runner.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		rec.Note = why + ": probe: " + err.Error()
		return
	}
	// A backstop in case cancelling fails: the statement must not wait forever.
	if _, err := runner.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", (opts.ProbeWait+10*time.Second).Milliseconds())); err != nil {
		rec.Note = why + ": probe: " + err.Error()
		return
	}
	done := make(chan error, 1)
	go func() {
		_, err := runner.Exec(ctx, st.Text())
		done <- err
	}()

	var seen []observedLock
	var finished bool
	var runErr error
	deadline := time.Now().Add(opts.ProbeWait)
poll:
	for time.Now().Before(deadline) {
		select {
		case runErr = <-done:
			finished = true
			break poll
		case <-time.After(20 * time.Millisecond):
		}
		cur, err := locksOf(ctx, conn, pid)
		if err != nil {
			continue
		}
		if len(cur) > 0 {
			seen = cur
		}
		waiting := false
		for _, l := range cur {
			waiting = waiting || !l.granted
		}
		if waiting {
			break
		}
	}
	if !finished {
		_, _ = conn.Exec(ctx, "SELECT pg_cancel_backend($1)", pid)
		select {
		case runErr = <-done:
		case <-time.After(opts.ProbeWait + 15*time.Second):
		}
	}
	_ = btx.Rollback(ctx)

	rec.Mode = ModeProbed
	for _, l := range seen {
		mode := pgModes[l.mode]
		if mode == "" {
			mode = l.mode
		}
		switch {
		case l.locktype == "relation" && l.granted:
			if r, ok := initial[l.rel]; ok {
				lk := Lock{Relation: r.name, Kind: kinds[r.kind], Mode: mode}
				if r.table != 0 {
					lk.Table = initial[r.table].name
				}
				rec.Locks = append(rec.Locks, lk)
				rec.note(l.rel, initial, initial)
			}
		case l.locktype == "relation":
			name := fmt.Sprint(l.rel)
			if r, ok := initial[l.rel]; ok {
				name = r.name
			}
			rec.Waiting = append(rec.Waiting, mode+" on "+lint.DisplayName(name))
		case !l.granted && (l.locktype == "virtualxid" || l.locktype == "transactionid"):
			rec.Waiting = append(rec.Waiting, mode+" on the "+l.locktype+" of an older transaction (it waits for that transaction to end)")
		}
	}
	switch {
	case finished && runErr == nil:
		rec.Note = why + " finished on the scratch database without waiting for the blocker; it is not rolled back (it cannot run in a transaction)"
	case finished:
		rec.Mode, rec.Note = ModeUntraceable, why+" failed when probed on the committed schema: "+runErr.Error()
	case len(rec.Waiting) == 0:
		rec.Note = why + " was still running after " + opts.ProbeWait.String() + " without waiting on a lock; cancelled"
	default:
		rec.Note = why + " probed against a session holding ACCESS SHARE on " + lint.DisplayName(target) + " and an open snapshot, then cancelled"
	}
	cleanupProbe(ctx, conn, initial, invalidBefore)
}

func locksOf(ctx context.Context, conn *pgx.Conn, pid int) ([]observedLock, error) {
	var out []observedLock
	err := collect(ctx, conn, `SELECT locktype, coalesce(relation::int8, 0), mode, granted FROM pg_locks WHERE pid = $1`, func(r pgx.Rows) error {
		var l observedLock
		if err := r.Scan(&l.locktype, &l.rel, &l.mode, &l.granted); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	}, pid)
	return out, err
}

func invalidIndexes(ctx context.Context, q querier) (map[int64]bool, error) {
	out := map[int64]bool{}
	err := collect(ctx, q, "SELECT indexrelid::int8 FROM pg_index WHERE NOT indisvalid", func(r pgx.Rows) error {
		var oid int64
		if err := r.Scan(&oid); err != nil {
			return err
		}
		out[oid] = true
		return nil
	})
	return out, err
}

// cleanupProbe undoes what a cancelled CONCURRENTLY statement leaves:
// a new INVALID index (CREATE INDEX / REINDEX CONCURRENTLY's _ccnew) is
// dropped; an index a cancelled DROP INDEX CONCURRENTLY marked invalid is
// rebuilt valid.
func cleanupProbe(ctx context.Context, conn *pgx.Conn, initial map[int64]relation, invalidBefore map[int64]bool) {
	after, err := snapshotRelations(ctx, conn)
	if err != nil {
		return
	}
	invalid, err := invalidIndexes(ctx, conn)
	if err != nil {
		return
	}
	for oid := range invalid {
		r, ok := after[oid]
		if !ok {
			continue
		}
		ident := pgx.Identifier(strings.SplitN(r.name, ".", 2)).Sanitize()
		if _, existed := initial[oid]; !existed {
			_, _ = conn.Exec(ctx, "DROP INDEX IF EXISTS "+ident)
		} else if !invalidBefore[oid] {
			_, _ = conn.Exec(ctx, "REINDEX INDEX "+ident)
		}
	}
}

func qualify(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return "public." + name
}
