package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleForeignKeyWithoutIndex = register(&Rule{
	Name:     "foreign-key-without-index",
	Doc:      "a new foreign key whose columns no index leads with: every DELETE or key UPDATE on the parent scans the child",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		if inFunctionBody(pass.Stmt) {
			return
		}
		child, fks, keys := newForeignKeys(pass.Stmt.Node)
		if child == "" {
			return
		}
		for _, fk := range fks {
			if len(fk.cols) == 0 || pass.Schema.HasIndexLeading(child, fk.cols) || coveredBy(keys, fk.cols) {
				continue
			}
			cols := quoteIdents(fk.cols)
			name := baseName(qualify(child)) + "_" + strings.Join(fk.cols, "_") + "_idx"
			if len(name) > 63 {
				name = name[:63]
			}
			newChild := !relExisting(pass, child) || pass.Stmt.Node.GetCreateStmt() != nil
			var fix string
			if newChild {
				fix = "-- " + DisplayName(child) + " is new and empty: a plain index in this migration is enough:\n" +
					"CREATE INDEX " + QuoteIdent(name) + " ON " + displayQuoted(child) + " (" + cols + ");"
			} else {
				fix = "-- build the index first, concurrently, in its own step outside any transaction block:\n" +
					"CREATE INDEX CONCURRENTLY " + QuoteIdent(name) + " ON " + displayQuoted(child) + " (" + cols + ");\n" +
					"-- then add the foreign key (NOT VALID, and VALIDATE CONSTRAINT in a later transaction)"
			}
			pass.ReportUnlessIndexedLater(child, fk.cols, Finding{
				Message: "foreign key " + DisplayName(child) + " (" + cols + ") → " + DisplayName(fk.parent) + " has no index on " + DisplayName(child) +
					" whose leading columns are (" + cols + "): every DELETE from " + DisplayName(fk.parent) + ", and every UPDATE of its key, scans " +
					DisplayName(child) + " to find referencing rows, under the parent's row locks",
				Locks: []Lock{},
				Scan:  true,
				Fix:   fix,
			})
		}
	},
})

type newFK struct {
	cols   []string
	parent string
}

// newForeignKeys lists the foreign keys a statement adds, the table they
// are on, and the column lists of PRIMARY KEY / UNIQUE constraints the
// same statement creates (their indexes serve the foreign key too).
func newForeignKeys(n *pg_query.Node) (child string, fks []newFK, keys [][]string) {
	addCon := func(con *pg_query.Constraint, col string) {
		if con == nil {
			return
		}
		switch con.Contype {
		case pg_query.ConstrType_CONSTR_FOREIGN:
			cols := ColumnNames(con.FkAttrs)
			if len(cols) == 0 && col != "" {
				cols = []string{col}
			}
			fks = append(fks, newFK{cols: cols, parent: RangeVarName(con.Pktable)})
		case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE:
			cols := ColumnNames(con.Keys)
			if len(cols) == 0 && col != "" {
				cols = []string{col}
			}
			keys = append(keys, cols)
		}
	}
	column := func(cd *pg_query.ColumnDef) {
		for _, cn := range cd.Constraints {
			addCon(cn.GetConstraint(), cd.Colname)
		}
	}
	switch {
	case n.GetCreateStmt() != nil:
		cs := n.GetCreateStmt()
		child = RangeVarName(cs.Relation)
		for _, elt := range cs.TableElts {
			if cd := elt.GetColumnDef(); cd != nil {
				column(cd)
			} else {
				addCon(elt.GetConstraint(), "")
			}
		}
	case n.GetAlterTableStmt() != nil:
		at := n.GetAlterTableStmt()
		if at.Objtype != pg_query.ObjectType_OBJECT_TABLE {
			return "", nil, nil
		}
		child = RangeVarName(at.Relation)
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			switch cmd.Subtype {
			case pg_query.AlterTableType_AT_AddConstraint:
				addCon(cmd.Def.GetConstraint(), "")
			case pg_query.AlterTableType_AT_AddColumn:
				if cd := cmd.Def.GetColumnDef(); cd != nil {
					column(cd)
				}
			}
		}
	}
	if len(fks) == 0 {
		return "", nil, nil
	}
	return child, fks, keys
}

func coveredBy(keys [][]string, cols []string) bool {
	for _, k := range keys {
		if len(k) < len(cols) {
			continue
		}
		ok := true
		for i, c := range cols {
			if k[i] != c {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func quoteIdents(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = QuoteIdent(c)
	}
	return strings.Join(q, ", ")
}
