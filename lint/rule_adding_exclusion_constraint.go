package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D6: an exclusion constraint builds its index under ACCESS EXCLUSIVE, and
// unlike CHECK, FOREIGN KEY and UNIQUE it has no online form: neither NOT
// VALID nor USING INDEX is accepted for EXCLUDE. The honest advice is a
// maintenance window or a new table.
var ruleAddingExclusionConstraint = register(&Rule{
	Name:     "adding-exclusion-constraint",
	Doc:      "ADD CONSTRAINT ... EXCLUDE builds an index under ACCESS EXCLUSIVE and has no online alternative",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_AddConstraint {
				continue
			}
			con := cmd.Def.GetConstraint()
			if con == nil || con.Contype != pg_query.ConstrType_CONSTR_EXCLUSION {
				continue
			}
			name := con.Conname
			if name == "" {
				name = pgName(baseName(at.name), "excl")
			}
			var r recipe
			r.note("There is no online form: EXCLUDE accepts neither NOT VALID nor USING INDEX.")
			r.note("Either run it in a maintenance window, bounded so it fails fast instead of queueing every query behind it,")
			r.note("or create a new table with the constraint, dual-write, backfill and swap it in.")
			r.step("In a maintenance window, own transaction:", "BEGIN", "SET LOCAL lock_timeout = '2s'",
				alterSQL(at.stmt.Relation, addConstraintCmd(con)), "COMMIT")
			pass.Report(Finding{
				Message: "ADD CONSTRAINT " + QuoteIdent(name) + " EXCLUDE builds its index over all of " + at.sql() + " while holding " +
					lockPhrase(AccessExclusive, at.name) + "; no rewrite, one full scan. Exclusion constraints have no NOT VALID or USING INDEX form to avoid it.",
				Locks: []Lock{NewLock(at.name, AccessExclusive)},
				Scan:  true,
				Fix:   r.String(),
			})
		}
	},
})
