package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D1: ADD CONSTRAINT ... CHECK verifies every existing row while holding
// ACCESS EXCLUSIVE. NOT VALID skips that scan (new rows are still checked),
// and VALIDATE CONSTRAINT later scans under SHARE UPDATE EXCLUSIVE, which
// lets reads and writes continue.
var ruleAddingCheckConstraint = register(&Rule{
	Name:     "adding-check-constraint",
	Doc:      "ADD CONSTRAINT ... CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE",
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
			if con == nil || con.Contype != pg_query.ConstrType_CONSTR_CHECK || con.SkipValidation {
				continue
			}
			name := constraintNameOr(con, at.name, firstColumn(exprColumns(con.RawExpr)), "check")
			nv := &pg_query.Constraint{Contype: con.Contype, Conname: name, RawExpr: con.RawExpr, IsNoInherit: con.IsNoInherit, SkipValidation: true}
			var r recipe
			r.note(at.alone("the ADD CONSTRAINT"))
			r.step("Own transaction: NOT VALID makes this a catalog change (brief ACCESS EXCLUSIVE); new and updated rows are checked from now on.",
				alterSQL(at.stmt.Relation, addConstraintCmd(nv)))
			r.step("Separate transaction: VALIDATE scans the existing rows under SHARE UPDATE EXCLUSIVE; reads and writes continue.",
				"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(name))
			pass.Report(Finding{
				Message: "ADD CONSTRAINT " + QuoteIdent(name) + " CHECK (" + DeparseExpr(con.RawExpr) + ") checks every existing row of " + at.sql() +
					" with a full scan while holding " + lockPhrase(AccessExclusive, at.name) + "; no rewrite. Add it NOT VALID and validate it in a separate transaction.",
				Locks: []Lock{NewLock(at.name, AccessExclusive)},
				Scan:  true,
				Fix:   r.String(),
			})
		}
	},
})

// firstColumn keeps the first name, which is the one PostgreSQL puts in a
// generated constraint name.
func firstColumn(cols []string) []string {
	if len(cols) == 0 {
		return nil
	}
	return cols[:1]
}
