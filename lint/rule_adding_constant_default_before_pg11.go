package lint

// A2 before PostgreSQL 11: there is no attmissingval yet, so even a
// constant default is written into every existing row. Volatile defaults
// rewrite on every version and are left to adding-volatile-default, so one
// statement does not get two findings for one rewrite.
var ruleAddingConstantDefaultBeforePG11 = register(&Rule{
	Name:     "adding-constant-default-before-pg11",
	Doc:      "before PostgreSQL 11, ADD COLUMN with any DEFAULT rewrites the table under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		if pass.Options.PGVersion >= 11 {
			return
		}
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			cd := addedColumn(cmd)
			if cd == nil {
				continue
			}
			def := columnDefault(cd)
			if def == nil || volatileCall(def) != "" {
				continue
			}
			col := QuoteIdent(cd.Colname)
			var r recipe
			r.note(at.alone("ADD COLUMN " + col))
			r.step("Own transaction: add the column with no default (catalog only, brief ACCESS EXCLUSIVE).",
				alterSQL(at.stmt.Relation, addColumnCmd(plainColumnDef(cd, nil))))
			r.step("Same or next transaction: a default set afterwards applies to new rows only.",
				"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" SET DEFAULT "+DeparseExpr(def))
			r.step("Outside any transaction: fill the existing rows in batches.",
				"-- "+backfillComment(at.name, col+" = "+DeparseExpr(def), col+" IS NULL"))
			if columnNotNull(cd) {
				notNullSteps(&r, at.name, cd.Colname, pass.Options.PGVersion, "")
			}
			r.note("On PostgreSQL 11 or later the original statement is a catalog-only change: run lint with --pg-version if the server is newer.")
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + " DEFAULT " + DeparseExpr(def) + " on PostgreSQL " + itoa(pass.Options.PGVersion) +
					": before version 11 every default, even a constant, is written into each existing row, so this rewrites " +
					at.sql() + " and all its indexes while holding " + lockPhrase(AccessExclusive, at.name) + ".",
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Rewrite: true,
				Fix:     r.String(),
			})
		}
	},
})
