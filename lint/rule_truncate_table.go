package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleTruncateTable = register(&Rule{
	Name:     "truncate-table",
	Doc:      "TRUNCATE takes ACCESS EXCLUSIVE on existing tables (and, with CASCADE, on every referencing table)",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		t := pass.Stmt.Node.GetTruncateStmt()
		if t == nil || inFunctionBody(pass.Stmt) {
			return
		}
		var tables []string
		for _, r := range t.Relations {
			if rv := r.GetRangeVar(); rv != nil && relExisting(pass, RangeVarName(rv)) {
				tables = append(tables, RangeVarName(rv))
			}
		}
		if len(tables) == 0 {
			return
		}
		locks := strongLocks(pass.locks())
		msg := "TRUNCATE " + joinDisplay(tables) + " takes ACCESS EXCLUSIVE, which blocks reads and writes until the transaction ends, and swaps in new, empty files"
		if t.Behavior == pg_query.DropBehavior_DROP_CASCADE {
			var extra []string
			for _, tb := range tables {
				extra = append(extra, fkChildren(pass.Schema, tb)...)
			}
			if len(extra) > 0 {
				msg += "; CASCADE also empties and locks " + joinDisplay(extra)
			} else {
				msg += "; CASCADE also empties and locks every table with a foreign key to it, recursively"
			}
		}
		var fix strings.Builder
		fix.WriteString("-- Delete in small batches instead, each batch its own short transaction, outside the migration;\n")
		fix.WriteString("-- repeat until it deletes 0 rows (children first when foreign keys point at the table):\n")
		for _, tb := range tables {
			q := displayQuoted(tb)
			fix.WriteString("DELETE FROM " + q + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + q + " LIMIT 10000));\n")
		}
		fix.WriteString("-- If the table really must be emptied at once, run TRUNCATE alone with SET LOCAL lock_timeout = '2s' and retry on timeout.")
		pass.Report(Finding{Message: msg, Locks: locks, Fix: fix.String()})
	},
})
