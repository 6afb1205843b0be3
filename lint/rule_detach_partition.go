package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleDetachPartition = register(&Rule{
	Name:     "detach-partition",
	Doc:      "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the parent (PostgreSQL 14+ has CONCURRENTLY)",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := pass.Stmt.Node.GetAlterTableStmt()
		if at == nil || at.Objtype != pg_query.ObjectType_OBJECT_TABLE || inFunctionBody(pass.Stmt) {
			return
		}
		if v := pass.Options.PGVersion; v > 0 && v < 14 {
			// No concurrent form before 14: the detach is a brief catalog
			// change, left to missing-lock-timeout.
			return
		}
		parent := RangeVarName(at.Relation)
		if !relExisting(pass, parent) {
			return
		}
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil || cmd.Subtype != pg_query.AlterTableType_AT_DetachPartition {
				continue
			}
			pc := cmd.Def.GetPartitionCmd()
			if pc == nil || pc.Concurrent || pc.Name == nil {
				continue
			}
			part := RangeVarName(pc.Name)
			qp, qpart := displayQuoted(parent), displayQuoted(part)
			pass.Report(Finding{
				Message: "DETACH PARTITION " + qpart + " takes ACCESS EXCLUSIVE on the parent " + qp + ", which blocks reads and writes of the whole partitioned table " +
					"while it waits for and holds the lock; DETACH ... CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the parent",
				Locks: strongLocks(pass.locks()),
				Fix: "ALTER TABLE " + qp + " DETACH PARTITION " + qpart + " CONCURRENTLY;\n" +
					"-- cannot run inside a transaction block" + txSuffix(pass.Stmt) + "; it waits for every running transaction, and still takes\n" +
					"-- ACCESS EXCLUSIVE on " + qpart + " at the end. It is refused when " + qp + " has a DEFAULT partition.\n" +
					"-- If it is interrupted, finish it with:\n" +
					"-- ALTER TABLE " + qp + " DETACH PARTITION " + qpart + " FINALIZE;",
			})
		}
	},
})
