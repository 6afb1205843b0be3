package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A11/A12: DROP COLUMN is a catalog change under a brief ACCESS EXCLUSIVE,
// but the application version still running selects, inserts or maps that
// column and starts failing the moment the migration commits. It belongs in
// the contract phase, after a deploy that stopped using the column. With
// CASCADE, views that use the column are dropped silently with it.
var ruleDroppingColumn = register(&Rule{
	Name:     "dropping-column",
	Doc:      "DROP COLUMN breaks the running application that still uses the column (CASCADE also drops views)",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_DropColumn {
				continue
			}
			col := QuoteIdent(cmd.Name)
			cascade := cmd.Behavior == pg_query.DropBehavior_DROP_CASCADE
			msg := "DROP COLUMN " + col + " on " + at.sql() + " takes " + lockPhrase(AccessExclusive, at.name) +
				" only briefly (catalog change, no rewrite; indexes on the column go with it), but application code that still reads or writes " + col +
				" fails as soon as this commits. Drop it only after a deploy that stopped using it."
			if cascade {
				msg += " CASCADE also silently drops every view (and other object) that uses " + col + "."
			}
			var r recipe
			r.note(at.alone("DROP COLUMN " + col))
			r.step("Deploy application code that no longer reads or writes " + col + " (for ORMs, mark it ignored first).")
			if cascade {
				r.step("One short transaction: recreate each view that uses "+col+" without it (CREATE OR REPLACE VIEW cannot drop a column).",
					"-- DROP VIEW <view>; CREATE VIEW <view> AS <query without "+col+">;")
			}
			r.step("Contract step, own transaction, bounded so it does not queue traffic behind it:",
				"BEGIN", "SET LOCAL lock_timeout = '2s'",
				"ALTER TABLE "+at.sql()+" DROP COLUMN "+col, "COMMIT")
			pass.Report(Finding{
				Message: msg,
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Fix:     r.String(),
			})
		}
	},
})
