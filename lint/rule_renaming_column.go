package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A13: RENAME COLUMN is instant, but the running application still uses
// the old name and fails on every query that mentions it until the new
// code is deployed — and the new code fails until the migration has run.
// There is no deploy order that works; R5 adds the new name alongside the
// old one and moves the application over in steps.
var ruleRenamingColumn = register(&Rule{
	Name:     "renaming-column",
	Doc:      "RENAME COLUMN breaks the running application that uses the old name",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		rs := pass.Stmt.Node.GetRenameStmt()
		if rs == nil || rs.RenameType != pg_query.ObjectType_OBJECT_COLUMN || rs.Relation == nil {
			return
		}
		table := RangeVarName(rs.Relation)
		t := pass.Schema.Table(table)
		if t.IsNew(pass.Stmt.Source) {
			return
		}
		oldC, newC := QuoteIdent(rs.Subname), QuoteIdent(rs.Newname)
		tbl := QuoteQualified(table)
		typ := "<type of " + oldC + ">"
		c := t.Column(rs.Subname)
		if c != nil && c.Type.Name != "" {
			typ = serialBase(c.Type).String()
		}
		sync := NewSyncTrigger(table, rs.Subname, TwoWayBody(rs.Subname, rs.Newname, c != nil && c.Type.Name == "json"), pass.Options.PGVersion)
		var r recipe
		r.step("Own transaction: the new column next to the old one (catalog only, brief ACCESS EXCLUSIVE).",
			"ALTER TABLE "+tbl+" ADD COLUMN "+newC+" "+typ)
		r.step("Own short transaction: keep both names in step whichever one the application writes (SHARE ROW EXCLUSIVE, brief).",
			sync.Function, sync.Trigger)
		r.step("Outside any transaction: copy the existing rows in batches.",
			"-- "+backfillComment(table, newC+" = "+oldC, newC+" IS NULL AND "+oldC+" IS NOT NULL"))
		r.step("Deploy code that reads and writes " + newC + " only; recreate indexes and constraints of " + oldC + " on " + newC + " (CONCURRENTLY / NOT VALID).")
		r.step("Contract step, one short transaction once nothing uses "+oldC+":",
			sync.DropTrigger,
			sync.DropFunction,
			"ALTER TABLE "+tbl+" DROP COLUMN "+oldC)
		pass.Report(Finding{
			Message: "RENAME COLUMN " + oldC + " TO " + newC + " on " + tbl + " takes " + lockPhrase(AccessExclusive, table) +
				" only briefly (catalog change, no rewrite or scan), but the application version that is running still uses " + oldC +
				" and fails from the moment this commits until new code is deployed. Add " + newC + " next to " + oldC + ", keep them in step, and drop " + oldC + " later.",
			Locks: []Lock{NewLock(table, AccessExclusive)},
			Fix:   r.String(),
		})
	},
})
