package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleRequireConcurrentReindex = register(&Rule{
	Name:     "require-concurrent-reindex",
	Doc:      "REINDEX without CONCURRENTLY locks the index ACCESS EXCLUSIVE, which stalls plain SELECTs on the table",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		r := pass.Stmt.Node.GetReindexStmt()
		if r == nil || hasDefElem(r.Params, "concurrently") || inFunctionBody(pass.Stmt) {
			return
		}
		var kind, target, table string
		switch r.Kind {
		case pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:
			kind, target = "INDEX", RangeVarName(r.Relation)
			table = tableOfIndex(pass.Schema, target)
		case pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:
			kind, target = "TABLE", RangeVarName(r.Relation)
			table = target
		case pg_query.ReindexObjectType_REINDEX_OBJECT_SCHEMA:
			kind, target = "SCHEMA", r.Name
		case pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE:
			kind, target = "DATABASE", r.Name
		default:
			// REINDEX SYSTEM has no concurrent form and does not belong
			// in a migration; nothing useful to suggest.
			return
		}
		if r.Relation != nil && !relExisting(pass, target) {
			return
		}
		on := "the table"
		if table != "" {
			on = displayQuoted(table)
		}
		name := target
		if r.Relation != nil {
			name = displayQuoted(target)
		} else if name != "" {
			name = QuoteIdent(name)
		}
		msg := "REINDEX " + kind + " " + name + " takes SHARE on " + on + " (blocks writes) and ACCESS EXCLUSIVE on the index being rebuilt; " +
			"because the planner locks every index of a table it reads, plain SELECTs on " + on + " wait too, for the whole rebuild"
		var fix string
		if pass.Options.PGVersion >= 12 || pass.Options.PGVersion == 0 {
			msg += "; use REINDEX ... CONCURRENTLY"
			fix = "REINDEX " + kind + " CONCURRENTLY " + name + ";\n" +
				"-- cannot run inside a transaction block" + txSuffix(pass.Stmt) + ".\n" +
				"-- A failed or timed-out run leaves an INVALID <index>_ccnew (or _ccold) index; find and drop it before retrying:\n" +
				"SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid;\n" +
				"-- DROP INDEX CONCURRENTLY IF EXISTS <index>_ccnew;"
		} else {
			msg += "; REINDEX CONCURRENTLY needs PostgreSQL 12, so rebuild by hand with a concurrent build and a swap"
			idx := "<index>"
			if kind == "INDEX" {
				idx = displayQuoted(target)
			}
			fix = "-- PostgreSQL < 12: build a replacement concurrently, then swap it in (each statement outside a transaction block):\n" +
				"CREATE INDEX CONCURRENTLY <new_index> ON " + on + " (<same columns as " + idx + ">);\n" +
				"DROP INDEX CONCURRENTLY " + idx + ";\n" +
				"ALTER INDEX <new_index> RENAME TO " + idx + ";\n" +
				"-- indexes backing PRIMARY KEY or UNIQUE constraints need ADD CONSTRAINT ... USING INDEX instead of the drop"
		}
		pass.Report(Finding{
			Message: msg,
			Locks:   pass.locks(),
			Scan:    true,
			Fix:     fix,
		})
	},
})
