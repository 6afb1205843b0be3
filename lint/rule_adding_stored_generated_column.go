package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A6: a STORED generated column is computed and written for every existing
// row when it is added, and ALTER COLUMN ... SET EXPRESSION (PostgreSQL 17)
// recomputes it for every row: both rewrite the table under ACCESS
// EXCLUSIVE. PostgreSQL 18's VIRTUAL columns are computed on read and never
// rewrite, but the parser (PostgreSQL 17 grammar) cannot read them yet, so
// every generated column this rule sees is STORED.
var ruleAddingStoredGeneratedColumn = register(&Rule{
	Name:     "adding-stored-generated-column",
	Doc:      "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED (or SET EXPRESSION) rewrites the table under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			if cmd.Subtype == pg_query.AlterTableType_AT_SetExpression && cmd.Def != nil {
				col := QuoteIdent(cmd.Name)
				pass.Report(Finding{
					Message: "ALTER COLUMN " + col + " SET EXPRESSION recomputes the generated column for every row, rewriting " + at.sql() +
						" while holding " + lockPhrase(AccessExclusive, at.name) + " for the whole rewrite.",
					Locks:   []Lock{NewLock(at.name, AccessExclusive)},
					Rewrite: true,
					Fix:     setExpressionFix(pass, at, cmd),
				})
				continue
			}
			cd := addedColumn(cmd)
			if cd == nil {
				continue
			}
			gen := generatedExpr(cd)
			if gen == nil {
				continue
			}
			col := QuoteIdent(cd.Colname)
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + " GENERATED ALWAYS AS (" + DeparseExpr(gen) + ") STORED computes and writes the value for every existing row, rewriting " +
					at.sql() + " and all its indexes while holding " + lockPhrase(AccessExclusive, at.name) + " for the whole rewrite. " +
					"Add a plain column kept up to date by a trigger and backfill it in batches" + virtualHint(pass) + ".",
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Rewrite: true,
				Fix:     generatedFix(pass, at, cd, gen),
			})
		}
	},
})

func virtualHint(pass *Pass) string {
	if pass.Options.PGVersion >= 18 {
		return ", or on PostgreSQL 18 declare it VIRTUAL, which is computed on read and rewrites nothing"
	}
	return ""
}

func generatedExpr(cd *pg_query.ColumnDef) *pg_query.Node {
	for _, c := range columnConstraints(cd) {
		if c.Contype == pg_query.ConstrType_CONSTR_GENERATED {
			return c.RawExpr
		}
	}
	return nil
}

func generatedFix(pass *Pass, at *alterTarget, cd *pg_query.ColumnDef, gen *pg_query.Node) string {
	var r recipe
	col := QuoteIdent(cd.Colname)
	r.note(at.alone("ADD COLUMN " + col))
	r.step("Own transaction: a plain nullable column (catalog only, brief ACCESS EXCLUSIVE).",
		alterSQL(at.stmt.Relation, addColumnCmd(plainColumnDef(cd, nil))))
	r.step("Own short transaction: a trigger computes the value for new and changed rows (SHARE ROW EXCLUSIVE, brief).",
		syncTriggerAssign(pass, at.name, cd.Colname, cd.Colname+"_compute", gen).create...)
	r.step("Outside any transaction: fill the existing rows in batches.",
		"-- "+backfillComment(at.name, col+" = "+DeparseExpr(gen), col+" IS DISTINCT FROM ("+DeparseExpr(gen)+")"))
	if pass.Options.PGVersion >= 18 {
		r.note("On PostgreSQL 18, GENERATED ALWAYS AS (" + DeparseExpr(gen) + ") VIRTUAL needs none of this.")
	}
	return r.String()
}

func setExpressionFix(pass *Pass, at *alterTarget, cmd *pg_query.AlterTableCmd) string {
	var r recipe
	col := QuoteIdent(cmd.Name)
	r.note(at.alone("SET EXPRESSION"))
	r.step("Own short transaction: DROP EXPRESSION keeps the stored values and turns the column into a plain one (no rewrite); a trigger computes new and changed rows (SHARE ROW EXCLUSIVE, brief).",
		append([]string{"ALTER TABLE " + at.sql() + " ALTER COLUMN " + col + " DROP EXPRESSION"},
			syncTriggerAssign(pass, at.name, cmd.Name, cmd.Name+"_compute", cmd.Def).create...)...)
	r.step("Outside any transaction: recompute the existing rows in batches.",
		"-- "+backfillComment(at.name, col+" = "+DeparseExpr(cmd.Def), col+" IS DISTINCT FROM ("+DeparseExpr(cmd.Def)+")"))
	return r.String()
}
