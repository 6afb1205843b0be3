package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D5 and C3: ADD PRIMARY KEY (cols) builds a unique index under ACCESS
// EXCLUSIVE and also makes every key column NOT NULL, which scans the table
// for NULLs. PRIMARY KEY USING INDEX skips the build, but it still runs that
// implicit SET NOT NULL for any column not already NOT NULL — a full scan
// under ACCESS EXCLUSIVE that looks harmless in review. A column counts as
// proven when the model knows it is NOT NULL, or (PostgreSQL 12+) has a
// validated CHECK (col IS NOT NULL).
var ruleAddingPrimaryKey = register(&Rule{
	Name:     "adding-primary-key",
	Doc:      "ADD PRIMARY KEY builds an index and/or scans for NULLs under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		pg := pass.Options.PGVersion
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_AddConstraint {
				continue
			}
			con := cmd.Def.GetConstraint()
			if con == nil || con.Contype != pg_query.ConstrType_CONSTR_PRIMARY {
				continue
			}
			name := constraintNameOr(con, at.name, nil, "pkey")
			var cols []string
			var index *Index
			if con.Indexname != "" {
				index = pass.Schema.Indexes[schemaOf(at.name)+"."+con.Indexname]
				if index != nil {
					cols = index.Columns
				}
			} else {
				cols = ColumnNames(con.Keys)
			}
			var unproven []string
			for _, c := range cols {
				col := at.table.Column(c)
				if (col == nil || !col.NotNull) && !(pg >= 12 && at.table.HasValidNotNullCheck(c)) {
					unproven = append(unproven, c)
				}
			}
			colList := strings.Join(quoteAll(cols), ", ")
			var r recipe
			r.note(at.alone("the ADD CONSTRAINT"))
			var msg string
			if con.Indexname != "" {
				idx := QuoteIdent(con.Indexname)
				switch {
				case index == nil:
					msg = "ADD CONSTRAINT " + QuoteIdent(name) + " PRIMARY KEY USING INDEX " + idx + " reuses the index but makes its columns NOT NULL, " +
						"and the model does not know the index's columns (it was not created in the migrations linted), so it cannot tell whether they are already NOT NULL. " +
						"If any is nullable, PostgreSQL scans " + at.sql() + " for NULLs while holding " + lockPhrase(AccessExclusive, at.name) + "."
					r.note("First prove each still-nullable column of " + idx + " NOT NULL with a validated CHECK (col IS NOT NULL) and SET NOT NULL,")
					r.note("as docs/rules/setting-not-null.md shows; then:")
				case len(unproven) == 0:
					continue
				default:
					msg = "ADD CONSTRAINT " + QuoteIdent(name) + " PRIMARY KEY USING INDEX " + idx + " reuses the index but runs an implicit SET NOT NULL on " +
						strings.Join(quoteAll(unproven), ", ") + ", which scans " + at.sql() + " for NULLs while holding " + lockPhrase(AccessExclusive, at.name) + "."
					for _, c := range unproven {
						notNullSteps(&r, at.name, c, pg, "")
					}
				}
				r.step("Own transaction: with every column NOT NULL, attaching the index is a catalog change (brief ACCESS EXCLUSIVE).",
					alterSQL(at.stmt.Relation, addConstraintCmd(con)))
			} else {
				msg = "ADD PRIMARY KEY (" + colList + ") builds a unique index over all of " + at.sql() + " while holding " + lockPhrase(AccessExclusive, at.name)
				if len(unproven) > 0 {
					msg += ", and first scans the table to make " + strings.Join(quoteAll(unproven), ", ") + " NOT NULL"
				}
				msg += "; no rewrite. Build the index concurrently and attach it with PRIMARY KEY USING INDEX once the columns are NOT NULL."
				for _, c := range unproven {
					notNullSteps(&r, at.name, c, pg, "")
				}
				uniqueUsingIndexSteps(&r, at, name, colList, con, "PRIMARY KEY")
			}
			pass.Report(Finding{
				Message: msg,
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Scan:    true,
				Fix:     r.String(),
			})
		}
	},
})
