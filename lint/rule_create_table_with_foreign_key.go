package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// D9: creating a table with a foreign key takes SHARE ROW EXCLUSIVE on the
// referenced table, which blocks its writes. The new table is empty, so
// nothing is scanned and the lock is brief once granted — but the CREATE
// queues behind any long transaction on the referenced table, and every
// write to that table queues behind the CREATE. A lock_timeout bounds that,
// so the finding is a warning and only appears when no lock_timeout is set.
// An FK added by ALTER TABLE to a table this migration created is the same
// situation and is reported here too (adding-foreign-key skips new tables).
var ruleCreateTableWithForeignKey = register(&Rule{
	Name:     "create-table-with-foreign-key",
	Doc:      "CREATE TABLE (or an FK on a table this migration created) referencing an existing table takes SHARE ROW EXCLUSIVE on it without a lock_timeout",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		if lockTimeoutSet(pass) {
			return
		}
		n := pass.Stmt.Node
		var table string
		var fks []*pg_query.Constraint
		var create bool
		if cs := n.GetCreateStmt(); cs != nil && cs.Relation != nil {
			table, create = RangeVarName(cs.Relation), true
			for _, elt := range cs.TableElts {
				if con := elt.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
					fks = append(fks, con)
				}
				if cd := elt.GetColumnDef(); cd != nil {
					for _, con := range columnConstraints(cd) {
						if con.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
							fks = append(fks, con)
						}
					}
				}
			}
		} else if at := n.GetAlterTableStmt(); at != nil && at.Relation != nil && at.Objtype == pg_query.ObjectType_OBJECT_TABLE {
			table = RangeVarName(at.Relation)
			if !pass.Schema.Table(table).IsNew(pass.Stmt.Source) {
				return // an existing table: adding-foreign-key's business
			}
			for _, cn := range at.Cmds {
				cmd := cn.GetAlterTableCmd()
				if cmd == nil || cmd.Subtype != pg_query.AlterTableType_AT_AddConstraint {
					continue
				}
				if con := cmd.Def.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
					fks = append(fks, con)
				}
			}
		} else {
			return
		}
		var parents []string
		for _, con := range fks {
			p := RangeVarName(con.Pktable)
			if p == table || contains(parents, p) || !isExisting(pass, p) {
				continue
			}
			parents = append(parents, p)
		}
		if len(parents) == 0 {
			return
		}
		var locks []Lock
		var phrases, names []string
		for _, p := range parents {
			locks = append(locks, NewLock(p, ShareRowExclusive))
			phrases = append(phrases, lockPhrase(ShareRowExclusive, p))
			names = append(names, QuoteQualified(p))
		}
		verb := "CREATE TABLE " + QuoteQualified(table)
		if !create {
			verb = "ADD FOREIGN KEY on " + QuoteQualified(table) + " (created by this migration)"
		}
		set := "SET lock_timeout = '2s'"
		if pass.Stmt.InTxBlock {
			set = "SET LOCAL lock_timeout = '2s'"
		}
		var r recipe
		r.step("Bound the wait, so a long transaction on "+strings.Join(names, ", ")+" makes this fail fast (retry it) instead of stalling every write queued behind it:",
			set, strings.TrimSpace(pass.Stmt.Text()))
		pass.Report(Finding{
			Message: verb + " references existing " + strings.Join(names, ", ") + " and takes " + strings.Join(phrases, ", ") +
				". Nothing is scanned (the new table is empty), so the lock is short once granted, but with no lock_timeout the statement waits behind any long " +
				"transaction on the referenced table while every write to it waits behind the statement. Set a lock_timeout first.",
			Locks: locks,
			Fix:   r.String(),
		})
	},
})
