package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A9: json keeps the text as written and has no equality operator, so
// SELECT DISTINCT, GROUP BY, UNION and unique indexes fail on it, and every
// access re-parses it. This is advice, not a lock problem, so it applies to
// new tables too: switching later is a rewriting type change.
var rulePreferJSONB = register(&Rule{
	Name:     "prefer-jsonb",
	Doc:      "a json column: prefer jsonb, which has equality, indexing and faster access",
	Severity: SeverityInfo,
	Run: func(pass *Pass) {
		n := pass.Stmt.Node
		if cs := n.GetCreateStmt(); cs != nil {
			for _, elt := range cs.TableElts {
				if cd := elt.GetColumnDef(); cd != nil && isJSON(cd.TypeName) {
					reportJSON(pass, "column "+QuoteIdent(cd.Colname)+" of "+QuoteQualified(RangeVarName(cs.Relation)), "",
						"-- in the CREATE TABLE, declare "+QuoteIdent(cd.Colname)+" as "+typeSQL(jsonbTypeName(cd.TypeName))+" instead of "+TypeNameOf(cd.TypeName).String())
				}
			}
			return
		}
		at := n.GetAlterTableStmt()
		if at == nil || at.Relation == nil {
			return
		}
		table := RangeVarName(at.Relation)
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			switch cmd.Subtype {
			case pg_query.AlterTableType_AT_AddColumn:
				if cd := cmd.Def.GetColumnDef(); cd != nil && isJSON(cd.TypeName) {
					reportJSON(pass, "column "+QuoteIdent(cd.Colname)+" of "+QuoteQualified(table), "",
						alterSQL(at.Relation, addColumnCmd(&pg_query.ColumnDef{Colname: cd.Colname, TypeName: jsonbTypeName(cd.TypeName),
							Constraints: cd.Constraints, CollClause: cd.CollClause, IsLocal: true})))
				}
			case pg_query.AlterTableType_AT_AlterColumnType:
				if cd := cmd.Def.GetColumnDef(); cd != nil && isJSON(cd.TypeName) {
					reportJSON(pass, "column "+QuoteIdent(cmd.Name)+" of "+QuoteQualified(table), " (the type change itself is judged by changing-column-type)",
						"ALTER TABLE "+QuoteQualified(table)+" ALTER COLUMN "+QuoteIdent(cmd.Name)+" TYPE "+typeSQL(jsonbTypeName(cd.TypeName))+
							" USING "+QuoteIdent(cmd.Name)+"::"+typeSQL(jsonbTypeName(cd.TypeName))+";")
				}
			}
		}
	},
})

func reportJSON(pass *Pass, what, extra, fix string) {
	pass.Report(Finding{
		Message: what + " is json: it stores the text as written and has no equality operator, so DISTINCT, GROUP BY, UNION and unique indexes " +
			"fail on it and every access re-parses it. jsonb has equality, GIN indexing and faster access. No lock or rewrite concern" + extra + ".",
		Fix: fix,
	})
}

func isJSON(tn *pg_query.TypeName) bool { return tn != nil && TypeNameOf(tn).Name == "json" }

// jsonbTypeName is tn with json replaced by jsonb, array bounds kept.
func jsonbTypeName(tn *pg_query.TypeName) *pg_query.TypeName {
	return &pg_query.TypeName{Names: []*pg_query.Node{pg_query.MakeStrNode("jsonb")}, ArrayBounds: tn.ArrayBounds, Typmods: tn.Typmods}
}
