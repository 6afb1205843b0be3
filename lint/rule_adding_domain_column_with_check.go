package lint

// A7: adding a column whose type is a domain with a CHECK makes PostgreSQL
// rewrite the table (the domain's constraint is evaluated through a full
// rewrite, default or not). A domain without CHECK is free. Only domains the
// model has seen created are judged: an unknown type name may as well be an
// enum or an extension type, and guessing would be a false positive.
var ruleAddingDomainColumnWithCheck = register(&Rule{
	Name:     "adding-domain-column-with-check",
	Doc:      "ADD COLUMN typed with a domain that has a CHECK constraint rewrites the table under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			cd := addedColumn(cmd)
			if cd == nil {
				continue
			}
			tn := TypeNameOf(cd.TypeName)
			dom := domainOf(pass.Schema, tn)
			if dom == nil || !dom.HasCheck {
				continue
			}
			col := QuoteIdent(cd.Colname)
			domSQL := QuoteQualified(dom.Name)
			var r recipe
			r.note(at.alone("ADD COLUMN " + col))
			base := dom.Base.String()
			r.step("Own transaction: add the column as the domain's base type "+base+" (catalog only, brief ACCESS EXCLUSIVE).",
				"ALTER TABLE "+at.sql()+" ADD COLUMN "+col+" "+base)
			if def := columnDefault(cd); def != nil {
				r.step("Same or next transaction: the default, for new rows only.",
					"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" SET DEFAULT "+DeparseExpr(def))
				r.step("Outside any transaction: fill the existing rows in batches.",
					"-- "+backfillComment(at.name, col+" = "+DeparseExpr(def), col+" IS NULL"))
			}
			ck := QuoteIdent(pgName(baseName(at.name), cd.Colname, "check"))
			r.step("Own transaction: the domain's rule as a table CHECK, NOT VALID so it does not scan (write the domain's condition with VALUE replaced by "+col+").",
				"ALTER TABLE "+at.sql()+" ADD CONSTRAINT "+ck+" CHECK (<condition of "+domSQL+" on "+col+">) NOT VALID")
			r.step("Separate transaction: VALIDATE scans under SHARE UPDATE EXCLUSIVE; reads and writes continue.",
				"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+ck)
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + " " + domSQL + ": the domain has a CHECK constraint, so PostgreSQL rewrites " + at.sql() +
					" and all its indexes to check it for every row, holding " + lockPhrase(AccessExclusive, at.name) + " for the whole rewrite. " +
					"Add the column as " + base + " and enforce the rule with a table CHECK added NOT VALID and validated separately.",
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Rewrite: true,
				Fix:     r.String(),
			})
		}
	},
})
