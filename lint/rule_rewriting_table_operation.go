package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleRewritingTableOperation = register(&Rule{
	Name:     "rewriting-table-operation",
	Doc:      "VACUUM FULL, CLUSTER and ALTER TABLE SET TABLESPACE / LOGGED / UNLOGGED / ACCESS METHOD rewrite the table under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if inFunctionBody(st) {
			return
		}
		n := st.Node
		switch {
		case n.GetVacuumStmt() != nil:
			v := n.GetVacuumStmt()
			if !v.IsVacuumcmd || !hasDefElem(v.Options, "full") {
				return
			}
			var tables []string
			for _, r := range v.Rels {
				if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil && relExisting(pass, RangeVarName(vr.Relation)) {
					tables = append(tables, RangeVarName(vr.Relation))
				}
			}
			if len(v.Rels) > 0 && len(tables) == 0 {
				return
			}
			target := "every table in the database"
			if len(tables) > 0 {
				target = joinDisplay(tables)
			}
			plain := "VACUUM"
			for _, t := range tables {
				if plain == "VACUUM" {
					plain += " "
				} else {
					plain += ", "
				}
				plain += displayQuoted(t)
			}
			reportRewrite(pass, "VACUUM FULL rewrites "+target+" and rebuilds every index under ACCESS EXCLUSIVE, which blocks reads and writes for the whole copy",
				"-- Plain VACUUM takes only SHARE UPDATE EXCLUSIVE (reads and writes continue) and makes the dead space reusable:\n"+
					plain+";\n"+
					"-- To give the space back to the operating system online, use a tool that rebuilds the table beside the live one\n"+
					"-- and swaps it in with a brief lock (pg_repack, pg_squeeze), outside the migration.")

		case n.GetClusterStmt() != nil:
			cl := n.GetClusterStmt()
			target := "every previously clustered table"
			table := ""
			if cl.Relation != nil {
				table = RangeVarName(cl.Relation)
				if !relExisting(pass, table) {
					return
				}
				target = displayQuoted(table)
			}
			order := "the clustering index's columns"
			if cl.Indexname != "" {
				order = "the columns of " + QuoteIdent(cl.Indexname)
			}
			reportRewrite(pass, "CLUSTER rewrites "+target+" in index order and rebuilds every index under ACCESS EXCLUSIVE, which blocks reads and writes for the whole copy",
				"-- There is no online CLUSTER. Re-order the table outside the migration with a tool that copies it beside the live one\n"+
					"-- and swaps it in with a brief lock (for example pg_repack --order-by "+order+"),\n"+
					"-- or build a new table in the wanted order, keep it in sync with a trigger, copy in batches, and swap the names in one short transaction.")

		case n.GetAlterTableStmt() != nil:
			at := n.GetAlterTableStmt()
			table := RangeVarName(at.Relation)
			if !relExisting(pass, table) {
				return
			}
			t := pass.Schema.Table(table)
			what := ""
			for _, cn := range at.Cmds {
				cmd := cn.GetAlterTableCmd()
				if cmd == nil {
					continue
				}
				switch cmd.Subtype {
				case pg_query.AlterTableType_AT_SetTableSpace:
					what = "SET TABLESPACE " + QuoteIdent(cmd.Name)
				case pg_query.AlterTableType_AT_SetLogged:
					if t != nil && !t.Unlogged {
						continue // already logged: nothing to rewrite
					}
					what = "SET LOGGED"
				case pg_query.AlterTableType_AT_SetUnLogged:
					if t != nil && t.Unlogged {
						continue
					}
					what = "SET UNLOGGED"
				case pg_query.AlterTableType_AT_SetAccessMethod:
					what = "SET ACCESS METHOD " + QuoteIdent(cmd.Name)
				}
			}
			if what == "" {
				return
			}
			kind := "table"
			if at.Objtype == pg_query.ObjectType_OBJECT_INDEX {
				kind = "index"
			}
			q := displayQuoted(table)
			reportRewrite(pass, "ALTER "+upper(kind)+" "+q+" "+what+" copies the whole "+kind+" to new storage under ACCESS EXCLUSIVE, which blocks reads and writes of "+q+" until the copy is done",
				"-- There is no online form. Either do it in a maintenance window, or rebuild beside the live table and swap:\n"+
					"CREATE TABLE "+newName(table)+" (LIKE "+q+" INCLUDING ALL); -- with the wanted storage ("+what+")\n"+
					"-- keep it in sync with a trigger on "+q+", copy existing rows in batches (migrate backfill), then in one short transaction:\n"+
					"-- ALTER TABLE "+q+" RENAME TO "+QuoteIdent(baseName(qualify(table))+"_old")+"; ALTER TABLE "+newName(table)+" RENAME TO "+QuoteIdent(baseName(qualify(table)))+";\n"+
					"-- Tools such as pg_repack automate the copy and swap for SET TABLESPACE.")
		}
	},
})

func reportRewrite(pass *Pass, msg, fix string) {
	pass.Report(Finding{
		Message: msg,
		Locks:   strongLocks(pass.locks()),
		Rewrite: true,
		Scan:    true,
		Fix:     fix,
	})
}

// newName is the side table of a new-table swap.
func newName(qualified string) string {
	q := qualify(qualified)
	return QuoteQualified(schemaOf(q) + "." + baseName(q) + "_new")
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
