package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleDroppingTable = register(&Rule{
	Name:     "dropping-table",
	Doc:      "DROP TABLE of an existing table breaks code that still uses it, and locks its foreign-key parents too",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		d := pass.Stmt.Node.GetDropStmt()
		if d == nil || d.RemoveType != pg_query.ObjectType_OBJECT_TABLE || inFunctionBody(pass.Stmt) {
			return
		}
		var tables, parents []string
		var fkDrops []string
		for _, obj := range d.Objects {
			t := dropObjectName(obj, false)
			if !relExisting(pass, t) {
				continue
			}
			tables = append(tables, t)
			for _, c := range pass.Schema.Table(t).constraintsOfKind("foreign") {
				if c.RefTable == "" || c.RefTable == t {
					continue
				}
				if !contains(parents, c.RefTable) {
					parents = append(parents, c.RefTable)
				}
				fkDrops = append(fkDrops, "ALTER TABLE "+displayQuoted(t)+" DROP CONSTRAINT "+QuoteIdent(c.Name)+";")
			}
		}
		if len(tables) == 0 {
			return
		}
		msg := "DROP TABLE " + joinDisplay(tables) + " removes a table the running application may still read or write: those queries fail after the drop " +
			"(and wait behind its ACCESS EXCLUSIVE lock until then)"
		if len(parents) > 0 {
			msg += "; it also takes ACCESS EXCLUSIVE on the referenced " + joinDisplay(parents) + ", which blocks their reads and writes while it waits"
		}
		if d.Behavior == pg_query.DropBehavior_DROP_CASCADE {
			msg += "; CASCADE silently drops dependent views and the foreign keys of other tables"
		}
		var fix strings.Builder
		fix.WriteString("-- Contract step, only after a deploy in which no code uses " + joinDisplay(tables) + ":\n")
		if len(fkDrops) > 0 {
			fix.WriteString("-- 1. drop each foreign key in its own short transaction (each locks its parent briefly):\n")
			fix.WriteString("SET LOCAL lock_timeout = '2s';\n")
			fix.WriteString(strings.Join(fkDrops, "\n") + "\n-- 2. then the table:\n")
		}
		fix.WriteString("SET LOCAL lock_timeout = '2s';\n" + pass.Stmt.Text() + ";")
		pass.Report(Finding{
			Message: msg,
			Locks:   strongLocks(pass.locks()),
			Fix:     fix.String(),
		})
	},
})
