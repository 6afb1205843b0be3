package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D4: ADD CONSTRAINT ... UNIQUE builds its index while the ALTER holds
// ACCESS EXCLUSIVE, so reads wait too, not only writes. The online form is
// CREATE UNIQUE INDEX CONCURRENTLY followed by UNIQUE USING INDEX, which
// only renames the index into a constraint. NOT VALID is not an option:
// PostgreSQL does not accept it on UNIQUE (squawk suggests it anyway).
var ruleAddingUniqueConstraint = register(&Rule{
	Name:     "adding-unique-constraint",
	Doc:      "ADD CONSTRAINT ... UNIQUE builds an index under ACCESS EXCLUSIVE; build it concurrently and attach it USING INDEX",
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
			if con == nil || con.Contype != pg_query.ConstrType_CONSTR_UNIQUE || con.Indexname != "" {
				continue
			}
			cols := ColumnNames(con.Keys)
			name := constraintNameOr(con, at.name, cols, "key")
			var r recipe
			r.note(at.alone("the ADD CONSTRAINT"))
			uniqueUsingIndexSteps(&r, at, name, strings.Join(quoteAll(cols), ", "), con, "UNIQUE")
			pass.Report(Finding{
				Message: "ADD CONSTRAINT " + QuoteIdent(name) + " UNIQUE (" + strings.Join(quoteAll(cols), ", ") + ") builds a unique index over all of " +
					at.sql() + " while holding " + lockPhrase(AccessExclusive, at.name) + "; no rewrite, one full scan and sort. " +
					"Build the index with CREATE UNIQUE INDEX CONCURRENTLY and attach it with ADD CONSTRAINT ... UNIQUE USING INDEX.",
				Locks: []Lock{NewLock(at.name, AccessExclusive)},
				Scan:  true,
				Fix:   r.String(),
			})
		}
	},
})
