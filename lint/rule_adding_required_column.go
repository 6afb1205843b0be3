package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A10: a NOT NULL column with nothing to fill it would hold NULL in every
// existing row, so PostgreSQL refuses it as soon as the table has one row.
// The migration passes on an empty development database and fails in
// production. Serial, identity and generated columns fill themselves, and a
// PRIMARY KEY implies NOT NULL.
var ruleAddingRequiredColumn = register(&Rule{
	Name:     "adding-required-column",
	Doc:      "ADD COLUMN ... NOT NULL without a DEFAULT fails on any table that has rows",
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
			notNull := columnNotNull(cd) || hasConstraint(cd, pg_query.ConstrType_CONSTR_PRIMARY)
			if !notNull || columnDefault(cd) != nil || identityOf(cd) != "" || generatedExpr(cd) != nil ||
				isSerialType(TypeNameOf(cd.TypeName)) || domainOf(pass.Schema, TypeNameOf(cd.TypeName)) != nil {
				continue
			}
			col := QuoteIdent(cd.Colname)
			var r recipe
			r.note(at.alone("ADD COLUMN " + col))
			typ := typeSQL(cd.TypeName)
			if pass.Options.PGVersion >= 11 {
				r.note("Either, when one value suits every existing row, give it a constant default (catalog only on PostgreSQL 11+, no rewrite):")
				r.note("ALTER TABLE " + at.sql() + " ADD COLUMN " + col + " " + typ + " NOT NULL DEFAULT <value>;")
				r.note("or add it nullable, fill it, and then require it:")
			}
			r.step("Own transaction: the column, nullable (catalog only, brief ACCESS EXCLUSIVE).",
				alterSQL(at.stmt.Relation, addColumnCmd(plainColumnDef(cd, nil))))
			notNullSteps(&r, at.name, cd.Colname, pass.Options.PGVersion, col+" = <value>")
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + " " + typ + " NOT NULL has no DEFAULT: every existing row of " + at.sql() +
					" would get NULL, so the statement fails as soon as the table has a row (it passes on an empty test database). " +
					"It takes " + lockPhrase(AccessExclusive, at.name) + "; no rewrite. Add it with a constant default, or nullable and backfilled.",
				Locks: []Lock{NewLock(at.name, AccessExclusive)},
				Fix:   r.String(),
			})
		}
	},
})
