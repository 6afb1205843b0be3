package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D3: VALIDATE CONSTRAINT is cheap on locks only by itself: it scans under
// SHARE UPDATE EXCLUSIVE. Locks are held until the transaction ends, so a
// VALIDATE in a transaction that already holds a strong lock — the ACCESS
// EXCLUSIVE of the ADD ... NOT VALID it follows, or any other DDL — scans
// while that lock keeps blocking everyone. The same goes for a VALIDATE
// sharing one ALTER TABLE with subcommands that take ACCESS EXCLUSIVE.
var ruleValidateInSameTransaction = register(&Rule{
	Name:     "validate-in-same-transaction",
	Doc:      "VALIDATE CONSTRAINT in a transaction that already holds a strong lock scans under that lock",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		st := pass.Stmt
		var strong []string // other subcommands of this statement that take ACCESS EXCLUSIVE
		addedHere := map[string]bool{}
		for _, cmd := range at.cmds {
			if cmd.Subtype == pg_query.AlterTableType_AT_ValidateConstraint {
				continue
			}
			strong = append(strong, alterCmdLabel(cmd))
			if con := cmd.Def.GetConstraint(); cmd.Subtype == pg_query.AlterTableType_AT_AddConstraint && con != nil {
				addedHere[con.Conname] = true
			}
		}
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_ValidateConstraint {
				continue
			}
			name := cmd.Name
			con := at.table.Constraint(name)
			var why string
			locks := []Lock{}
			switch {
			case len(strong) > 0:
				why = "this ALTER TABLE also runs " + strings.Join(strong, ", ") + ", so the statement holds " +
					lockPhrase(AccessExclusive, at.name) + " while the validation scans"
				if addedHere[name] {
					why = "the constraint is added by this same ALTER TABLE, which holds " + lockPhrase(AccessExclusive, at.name) +
						" while the validation scans"
				}
				locks = append(locks, NewLock(at.name, AccessExclusive))
			case st.Tx != 0 && con != nil && !con.Valid && con.Origin == st.Source && con.Tx == st.Tx:
				why = "the constraint was added NOT VALID earlier in this same transaction, whose " +
					lockPhrase(AccessExclusive, at.name) + " is held until COMMIT, so the validation scans under it"
				if con.Kind == "foreign" && con.RefTable != "" {
					why = "the foreign key was added NOT VALID earlier in this same transaction, which holds SHARE ROW EXCLUSIVE on " +
						at.sql() + " and " + QuoteQualified(con.RefTable) + " (blocks writes) until COMMIT, so the validation scans under them"
					locks = append(locks, NewLock(at.name, ShareRowExclusive), NewLock(con.RefTable, ShareRowExclusive))
				} else {
					locks = append(locks, NewLock(at.name, AccessExclusive))
				}
			case st.Tx != 0 && pass.Tx != nil && len(pass.Tx.StrongLocks) > 0:
				held := make([]string, 0, len(pass.Tx.StrongLocks))
				for _, rel := range pass.Tx.StrongLocks {
					held = append(held, QuoteQualified(qualify(rel)))
				}
				why = "this transaction already holds a SHARE-or-stronger lock on " + strings.Join(held, ", ") +
					" from earlier DDL, kept until COMMIT, so those tables stay blocked for the whole validation scan"
				for _, rel := range pass.Tx.StrongLocks {
					// TxState keeps which tables are locked, not how strongly:
					// SHARE is the weakest mode that puts a table on the list.
					locks = append(locks, NewLock(qualify(rel), Share))
				}
			default:
				continue
			}
			var r recipe
			r.note("Commit what comes before, then validate on its own; VALIDATE alone takes SHARE UPDATE EXCLUSIVE, so reads and writes continue while it scans.")
			if len(strong) > 0 {
				r.step("The rest of the ALTER TABLE, without the VALIDATE, in its own transaction:",
					alterSQL(at.stmt.Relation, withoutValidate(at.cmds)...))
			} else {
				r.step("End the transaction that took the strong lock:", "COMMIT")
			}
			r.step("Separate transaction (or autocommit), with a generous statement_timeout for the scan:",
				"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(name))
			pass.Report(Finding{
				Message: "VALIDATE CONSTRAINT " + QuoteIdent(name) + " scans " + at.sql() + ", and " + why +
					". Run it in its own transaction after the one that added the constraint has committed.",
				Locks: locks,
				Scan:  true,
				Fix:   r.String(),
			})
		}
	},
})

// alterCmdLabel names a subcommand for a message.
func alterCmdLabel(cmd *pg_query.AlterTableCmd) string {
	label, ok := cmdWords[cmd.Subtype]
	if !ok {
		label = strings.TrimPrefix(cmd.Subtype.String(), "AT_")
	}
	if con := cmd.Def.GetConstraint(); con != nil && con.Conname != "" {
		return label + " " + QuoteIdent(con.Conname)
	}
	if cmd.Name != "" {
		return label + " " + QuoteIdent(cmd.Name)
	}
	if cd := cmd.Def.GetColumnDef(); cd != nil {
		return label + " " + QuoteIdent(cd.Colname)
	}
	return label
}

func withoutValidate(cmds []*pg_query.AlterTableCmd) []*pg_query.AlterTableCmd {
	var out []*pg_query.AlterTableCmd
	for _, c := range cmds {
		if c.Subtype != pg_query.AlterTableType_AT_ValidateConstraint {
			out = append(out, c)
		}
	}
	return out
}

var cmdWords = map[pg_query.AlterTableType]string{
	pg_query.AlterTableType_AT_AddColumn:       "ADD COLUMN",
	pg_query.AlterTableType_AT_DropColumn:      "DROP COLUMN",
	pg_query.AlterTableType_AT_AddConstraint:   "ADD CONSTRAINT",
	pg_query.AlterTableType_AT_DropConstraint:  "DROP CONSTRAINT",
	pg_query.AlterTableType_AT_AlterColumnType: "ALTER COLUMN TYPE",
	pg_query.AlterTableType_AT_SetNotNull:      "SET NOT NULL",
	pg_query.AlterTableType_AT_DropNotNull:     "DROP NOT NULL",
	pg_query.AlterTableType_AT_ColumnDefault:   "SET DEFAULT",
}
