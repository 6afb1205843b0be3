package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleRequireConcurrentIndex = register(&Rule{
	Name:     "require-concurrent-index",
	Doc:      "CREATE INDEX without CONCURRENTLY on an existing table blocks writes for the whole build",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		ix := pass.Stmt.Node.GetIndexStmt()
		if ix == nil || ix.Concurrent || ix.Relation == nil || inFunctionBody(pass.Stmt) {
			return
		}
		table := RangeVarName(ix.Relation)
		if !relExisting(pass, table) {
			return
		}
		if t := pass.Schema.Table(table); t != nil && t.Partitioned {
			// CONCURRENTLY is refused on a partitioned parent; the
			// partitioned-index rule gives the recipe that works.
			return
		}
		name := indexNameFor(ix, table)
		cic := concurrentIndexStmt(ix, ix.Relation, name)
		what := "CREATE INDEX"
		if ix.Unique {
			what = "CREATE UNIQUE INDEX"
		}
		pass.Report(Finding{
			Message: what + " on existing table " + displayQuoted(table) + " takes a SHARE lock on it, which blocks writes (INSERT, UPDATE, DELETE), not reads, " +
				"for as long as the full scan and index build take; use CREATE INDEX CONCURRENTLY",
			Locks: locksOn(pass.locks(), table),
			Scan:  true,
			Fix:   cic + ";\n" + cicFollowUp(pass.Stmt, schemaOf(table)+"."+name),
		})
	},
})

// indexNameFor returns the index's name, or the one PostgreSQL would pick
// for an unnamed index (table_col1_col2_idx), so that the fix can name it:
// the validity check and the cleanup need a name.
func indexNameFor(ix *pg_query.IndexStmt, table string) string {
	if ix.Idxname != "" {
		return ix.Idxname
	}
	_, base, _ := strings.Cut(qualify(table), ".")
	parts := []string{base}
	for _, p := range ix.IndexParams {
		ie := p.GetIndexElem()
		switch {
		case ie == nil:
		case ie.Name != "":
			parts = append(parts, ie.Name)
		default:
			parts = append(parts, "expr")
		}
	}
	name := strings.Join(parts, "_") + "_idx"
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// concurrentIndexStmt renders ix as CREATE INDEX CONCURRENTLY on rel with
// the given name. IF NOT EXISTS is dropped on purpose: it skips an
// invalid leftover of an earlier failed build instead of replacing it.
func concurrentIndexStmt(ix *pg_query.IndexStmt, rel *pg_query.RangeVar, name string) string {
	n := &pg_query.IndexStmt{
		Idxname:              name,
		Relation:             rel,
		AccessMethod:         ix.AccessMethod,
		TableSpace:           ix.TableSpace,
		IndexParams:          ix.IndexParams,
		IndexIncludingParams: ix.IndexIncludingParams,
		Options:              ix.Options,
		WhereClause:          ix.WhereClause,
		Unique:               ix.Unique,
		NullsNotDistinct:     ix.NullsNotDistinct,
		Concurrent:           true,
	}
	return Deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: n}})
}

// cicFollowUp is the advice every CONCURRENTLY build needs: where it can
// run, and how to recognise and clear the INVALID index a failed or
// timed-out attempt leaves behind (locks.md E3, §3.4).
func cicFollowUp(st *Statement, qualifiedIndex string) string {
	where := "-- CONCURRENTLY cannot run inside a transaction block"
	if mustRunInTx(st) {
		where += ": " + outsideTxHint(st)
	}
	reg := sqlStringLiteral(displayQuoted(qualifiedIndex))
	return where + ".\n" +
		"-- A failed or timed-out build leaves an INVALID index that is still updated on every write,\n" +
		"-- and IF NOT EXISTS would silently keep it. Check before relying on the index or retrying:\n" +
		"SELECT indisvalid FROM pg_index WHERE indexrelid = " + reg + "::regclass;\n" +
		"-- if it is false, drop the leftover and build again:\n" +
		"DROP INDEX CONCURRENTLY IF EXISTS " + displayQuoted(qualifiedIndex) + ";"
}

// sqlStringLiteral quotes s as an SQL string literal.
func sqlStringLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
