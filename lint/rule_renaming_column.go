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
		if c := t.Column(rs.Subname); c != nil && c.Type.Name != "" {
			typ = serialBase(c.Type).String()
		}
		name := pgName(baseName(table), rs.Subname, "to", rs.Newname)
		fn := QuoteQualified(schemaOf(table) + "." + name)
		var r recipe
		r.step("Own transaction: the new column next to the old one (catalog only, brief ACCESS EXCLUSIVE).",
			"ALTER TABLE "+tbl+" ADD COLUMN "+newC+" "+typ)
		r.step("Own short transaction: keep both names in step whichever one the application writes (SHARE ROW EXCLUSIVE, brief).",
			"CREATE FUNCTION "+fn+"() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n"+
				"  IF TG_OP = 'INSERT' THEN\n"+
				"    NEW."+newC+" := COALESCE(NEW."+newC+", NEW."+oldC+");\n"+
				"    NEW."+oldC+" := COALESCE(NEW."+oldC+", NEW."+newC+");\n"+
				"  ELSIF NEW."+oldC+" IS DISTINCT FROM OLD."+oldC+" THEN\n"+
				"    NEW."+newC+" := NEW."+oldC+";\n"+
				"  ELSIF NEW."+newC+" IS DISTINCT FROM OLD."+newC+" THEN\n"+
				"    NEW."+oldC+" := NEW."+newC+";\n"+
				"  END IF;\n  RETURN NEW;\nEND\n$fn$",
			"CREATE TRIGGER "+QuoteIdent(name)+" BEFORE INSERT OR UPDATE ON "+tbl+" FOR EACH ROW "+triggerExec(pass.Options.PGVersion)+" "+fn+"()")
		r.step("Outside any transaction: copy the existing rows in batches.",
			"-- "+backfillComment(table, newC+" = "+oldC, newC+" IS DISTINCT FROM "+oldC))
		r.step("Deploy code that reads and writes " + newC + " only; recreate indexes and constraints of " + oldC + " on " + newC + " (CONCURRENTLY / NOT VALID).")
		r.step("Contract step, one short transaction once nothing uses "+oldC+":",
			"DROP TRIGGER "+QuoteIdent(name)+" ON "+tbl,
			"DROP FUNCTION "+fn+"()",
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
