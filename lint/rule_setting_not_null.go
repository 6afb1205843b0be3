package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// C1: SET NOT NULL scans the whole table under ACCESS EXCLUSIVE to prove
// there is no NULL, unless (PostgreSQL 12+) a validated CHECK (col IS NOT
// NULL) already proves it. A NOT VALID check proves nothing. A check that
// was validated inside the transaction that still holds the table's strong
// lock does not help either: its validation scan already ran under that
// lock, so the expensive part happened anyway (validate-in-same-transaction
// reports the VALIDATE itself).
var ruleSettingNotNull = register(&Rule{
	Name:     "setting-not-null",
	Doc:      "ALTER COLUMN ... SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a validated CHECK (col IS NOT NULL) exists",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		pg := pass.Options.PGVersion
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_SetNotNull {
				continue
			}
			col := at.table.Column(cmd.Name)
			if col != nil && col.NotNull {
				continue // already NOT NULL: PostgreSQL does nothing
			}
			proven := pg >= 12 && at.table.HasValidNotNullCheck(cmd.Name)
			sameTx := proven && checkValidatedUnderLock(pass, at, cmd.Name)
			if proven && !sameTx {
				continue
			}
			c := QuoteIdent(cmd.Name)
			msg := "ALTER COLUMN " + c + " SET NOT NULL scans all of " + at.sql() + " to prove there is no NULL, holding " +
				lockPhrase(AccessExclusive, at.name) + " for the whole scan (no rewrite)."
			switch {
			case sameTx:
				msg = "ALTER COLUMN " + c + " SET NOT NULL relies on a CHECK (" + c + " IS NOT NULL) that was validated in this same transaction, " +
					"which already holds " + lockPhrase(AccessExclusive, at.name) + ": the validation scan ran under that lock, so nothing was saved. " +
					"Validate the check in its own transaction first."
			case pg < 12:
				msg += " Before PostgreSQL 12 even a validated CHECK (" + c + " IS NOT NULL) does not avoid the scan."
			default:
				msg += " Add CHECK (" + c + " IS NOT NULL) NOT VALID and validate it in a separate transaction first; SET NOT NULL then skips the scan."
			}
			if pg >= 18 {
				msg += " On PostgreSQL 18, ADD CONSTRAINT ... NOT NULL " + c + " NOT VALID followed by VALIDATE CONSTRAINT does the same in two steps."
			}
			var r recipe
			r.note(at.alone("SET NOT NULL on " + c))
			notNullSteps(&r, at.name, cmd.Name, pg, "")
			pass.Report(Finding{
				Message: msg,
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Scan:    !sameTx,
				Fix:     r.String(),
			})
		}
	},
})

// checkValidatedUnderLock reports whether the CHECK that proves col NOT
// NULL was validated by the current transaction while it held a strong lock
// on the table (taken, say, by the ADD CONSTRAINT of the same transaction).
func checkValidatedUnderLock(pass *Pass, at *alterTarget, col string) bool {
	st := pass.Stmt
	if st.Tx == 0 || at.table == nil {
		return false
	}
	for _, c := range at.table.Constraints {
		if c.Kind == "check" && c.Valid && c.NotNullOf == col && c.Origin == st.Source && c.Tx == st.Tx {
			return holdsStrongLock(pass, at.name)
		}
	}
	return false
}

// holdsStrongLock reports whether the current transaction already holds a
// SHARE-or-stronger lock on table. TxState records relations as locks name
// them (without the default schema).
func holdsStrongLock(pass *Pass, table string) bool {
	if pass.Tx == nil || pass.Stmt.Tx == 0 {
		return false
	}
	for _, rel := range pass.Tx.StrongLocks {
		if rel == table || qualify(rel) == table {
			return true
		}
	}
	return false
}
