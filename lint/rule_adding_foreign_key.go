package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D2: ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables (blocking
// their writes) and checks every existing row against the referenced table
// before it commits. NOT VALID makes the add instant; VALIDATE CONSTRAINT
// later scans under SHARE UPDATE EXCLUSIVE on the referencing table and ROW
// SHARE on the referenced one, which block no reads or writes. A partitioned
// referencing table refuses NOT VALID before PostgreSQL 18.
var ruleAddingForeignKey = register(&Rule{
	Name:     "adding-foreign-key",
	Doc:      "ADD FOREIGN KEY without NOT VALID blocks writes on both tables while it scans them",
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
			if con == nil || con.Contype != pg_query.ConstrType_CONSTR_FOREIGN || con.SkipValidation {
				continue
			}
			parent := RangeVarName(con.Pktable)
			cols := ColumnNames(con.FkAttrs)
			name := constraintNameOr(con, at.name, cols, "fkey")
			locks := []Lock{NewLock(at.name, ShareRowExclusive)}
			if parent != at.name {
				locks = append(locks, NewLock(parent, ShareRowExclusive))
			}
			partitioned := at.table != nil && at.table.Partitioned
			msg := "ADD CONSTRAINT " + QuoteIdent(name) + " FOREIGN KEY (" + strings.Join(quoteAll(cols), ", ") + ") REFERENCES " + QuoteQualified(parent) +
				" takes " + lockPhrase(ShareRowExclusive, at.name)
			if parent != at.name {
				msg += " and " + lockPhrase(ShareRowExclusive, parent)
			}
			msg += ", and holds them while it scans " + at.sql() + " and looks every value up in " + QuoteQualified(parent) + " (no rewrite)."

			var r recipe
			r.note(at.alone("the ADD CONSTRAINT"))
			if partitioned && pg < 18 {
				msg += " " + at.sql() + " is partitioned, and PostgreSQL before 18 refuses NOT VALID foreign keys on a partitioned table, so there is no online form here:" +
					" run it with a short lock_timeout at a quiet time, or upgrade to 18 and use NOT VALID + VALIDATE."
				r.note(at.sql() + " is partitioned: before PostgreSQL 18 the foreign key cannot be added NOT VALID.")
				r.step("At a quiet time, in its own transaction, bounded so it gives up instead of queueing everyone behind it:",
					"BEGIN", "SET LOCAL lock_timeout = '2s'",
					alterSQL(at.stmt.Relation, addConstraintCmd(con)), "COMMIT")
			} else {
				msg += " Add it NOT VALID, then VALIDATE it in a separate transaction."
				if len(cols) > 0 && !pass.Schema.HasIndexLeading(at.name, cols) {
					idx := QuoteIdent(pgName(append(append([]string{baseName(at.name)}, cols...), "idx")...))
					r.step("Outside any transaction: index the referencing columns, so deletes on "+QuoteQualified(parent)+" do not scan "+at.sql()+" (skip if such an index exists).",
						"CREATE INDEX CONCURRENTLY "+idx+" ON "+at.sql()+" ("+strings.Join(quoteAll(cols), ", ")+")")
				}
				r.step("Own transaction with a short lock_timeout: NOT VALID skips the scan (SHARE ROW EXCLUSIVE on both tables, brief); new rows are checked from now on.",
					alterSQL(at.stmt.Relation, addConstraintCmd(foreignKeyNotValid(con, name, cols))))
				r.step("Separate transaction: VALIDATE scans under SHARE UPDATE EXCLUSIVE on "+at.sql()+" and ROW SHARE on "+QuoteQualified(parent)+"; reads and writes continue.",
					"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(name))
			}
			pass.Report(Finding{
				Message: msg,
				Locks:   locks,
				Scan:    true,
				Fix:     r.String(),
			})
		}
	},
})
