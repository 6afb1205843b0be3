package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleRequireConcurrentIndexDrop = register(&Rule{
	Name:     "require-concurrent-index-drop",
	Doc:      "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table, blocking reads too",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		d := pass.Stmt.Node.GetDropStmt()
		if d == nil || d.RemoveType != pg_query.ObjectType_OBJECT_INDEX || d.Concurrent || inFunctionBody(pass.Stmt) {
			return
		}
		var tables, fixes []string
		partitioned := false
		for _, obj := range d.Objects {
			index := dropObjectName(obj, false)
			table := tableOfIndex(pass.Schema, index)
			if !relExisting(pass, index) {
				continue
			}
			if t := pass.Schema.Table(table); t != nil && t.Partitioned {
				partitioned = true
			}
			if table != "" {
				tables = append(tables, table)
			}
			stmt := "DROP INDEX CONCURRENTLY "
			if d.MissingOk {
				stmt += "IF EXISTS "
			}
			fixes = append(fixes, stmt+displayQuoted(index)+";")
		}
		if len(fixes) == 0 {
			return
		}
		locks := strongLocks(pass.locks())
		on := "its table"
		if len(tables) > 0 {
			on = joinDisplay(tables)
		}
		if partitioned {
			// No concurrent form exists for a partitioned index; the drop
			// is a catalog change, so what remains is keeping the lock
			// wait short.
			sev := pass.Rule.Severity
			if sev == SeverityError {
				sev = SeverityWarning
			}
			pass.Report(Finding{
				Severity: sev,
				Message: "DROP INDEX on partitioned table " + on + " takes ACCESS EXCLUSIVE on it and every partition, which blocks reads and writes; " +
					"CONCURRENTLY is not supported for partitioned indexes, so keep the lock wait short with lock_timeout",
				Locks: locks,
				Fix:   "SET LOCAL lock_timeout = '2s';\n" + Deparse(pass.Stmt.Node) + ";\n-- run in its own short transaction and retry on lock timeout",
			})
			return
		}
		pass.Report(Finding{
			Message: "DROP INDEX takes ACCESS EXCLUSIVE on " + on + ", which blocks reads as well as writes while it waits for and holds the lock; " +
				"use DROP INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE, reads and writes continue)",
			Locks: locks,
			Fix: strings.Join(fixes, "\n") + "\n-- CONCURRENTLY drops one index per statement, cannot run inside a transaction block" + txSuffix(pass.Stmt) +
				", and has no CASCADE: an index that backs a PRIMARY KEY or UNIQUE constraint is removed with ALTER TABLE ... DROP CONSTRAINT instead.",
		})
	},
})

// txSuffix appends the runner-specific way out of a transaction when the
// statement is in one.
func txSuffix(st *Statement) string {
	if !mustRunInTx(st) {
		return ""
	}
	return " (" + outsideTxHint(st) + ")"
}
