package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleRenamingTable = register(&Rule{
	Name:     "renaming-table",
	Doc:      "ALTER TABLE ... RENAME TO breaks code that still uses the old name",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		r := pass.Stmt.Node.GetRenameStmt()
		if r == nil || r.RenameType != pg_query.ObjectType_OBJECT_TABLE || r.Relation == nil || inFunctionBody(pass.Stmt) {
			return
		}
		old := RangeVarName(r.Relation)
		if !relExisting(pass, old) {
			return
		}
		neu := schemaOf(old) + "." + r.Newname
		qo, qn := displayQuoted(old), displayQuoted(neu)
		pass.Report(Finding{
			Message: "renaming " + qo + " to " + QuoteIdent(r.Newname) + " breaks every query of the running application that still uses the old name " +
				"(and takes ACCESS EXCLUSIVE on it, which blocks reads and writes while it waits)",
			Locks: strongLocks(pass.locks()),
			Fix: "-- Rename and leave a compatibility view under the old name, in one short transaction;\n" +
				"-- a plain SELECT * view is updatable, so old code keeps reading and writing through it:\n" +
				"BEGIN;\nSET LOCAL lock_timeout = '2s';\n" +
				"ALTER TABLE " + qo + " RENAME TO " + QuoteIdent(r.Newname) + ";\n" +
				"CREATE VIEW " + qo + " AS SELECT * FROM " + qn + ";\nCOMMIT;\n" +
				"-- once no deployed code uses the old name:\nDROP VIEW " + qo + ";",
		})
	},
})
