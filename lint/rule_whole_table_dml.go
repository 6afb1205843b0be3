package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleWholeTableDML = register(&Rule{
	Name:     "whole-table-dml",
	Doc:      "UPDATE or DELETE of a whole existing table in one statement: route it to the batched backfiller",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if inFunctionBody(st) {
			// DML in a function body is application logic that runs when
			// the function is called, not a data migration.
			return
		}
		var rel *pg_query.RangeVar
		var where *pg_query.Node
		verb := ""
		switch {
		case st.Node.GetUpdateStmt() != nil:
			u := st.Node.GetUpdateStmt()
			rel, where, verb = u.Relation, u.WhereClause, "UPDATE"
		case st.Node.GetDeleteStmt() != nil:
			d := st.Node.GetDeleteStmt()
			rel, where, verb = d.Relation, d.WhereClause, "DELETE"
		default:
			return
		}
		if rel == nil {
			return
		}
		table := RangeVarName(rel)
		if !relExisting(pass, table) {
			return
		}
		bound, reach := BoundByKey(where, pass.Schema.KeyColumns(table))
		if reach == ReachBounded {
			return
		}
		q := displayQuoted(table)
		why := "has no WHERE clause"
		if where != nil {
			why = "has a WHERE clause that does not bound the rows by key (no key column compared with a constant by =, IN, BETWEEN or a closed range)"
		}
		msg := verb + " on existing table " + q + " " + why + ", so it touches every row (or an unknown share of them) in one transaction: " +
			"ROW EXCLUSIVE plus a row lock on every changed row until commit, one burst of WAL and replica lag, and dead tuples for the whole table; " +
			"run it as a batched, throttled backfill outside the migration"
		severity := Severity(0) // the rule's
		if reach == ReachOneSided {
			// The bound limits the key range a batched walk covers, but not
			// the number of rows: below or above it may lie most of the
			// table. Not certain to be whole-table, so not an error.
			severity = SeverityWarning
			msg = verb + " on existing table " + q + " bounds its key " + QuoteIdent(bound.Column) + " on one side only, " +
				"so it changes every row on that side in one transaction, which may be most of the table: " +
				"ROW EXCLUSIVE plus a row lock on every changed row until commit, and WAL and dead tuples in proportion; " +
				"run it as a batched backfill over that key range ('migrate apply' plans it so), or bound the key on both sides"
		}
		var fix string
		if u := st.Node.GetUpdateStmt(); u != nil {
			fix = backfillCommand(table, u, where)
		} else {
			filter := "--all-rows"
			if where != nil {
				filter = "--where " + shellQuote(DeparseExpr(where))
			}
			fix = "# Delete in throttled, resumable batches (each its own short transaction, paused while replicas lag):\n" +
				"migrate backfill --table " + shellQuote(DisplayName(table)) + " --delete " + filter + "\n" +
				"# or let 'migrate apply' plan it: it runs this DELETE as a batched delete job"
		}
		pass.Report(Finding{
			Severity: severity,
			Message:  msg,
			Locks:    pass.locks(),
			Scan:     true,
			Fix:      fix,
		})
	},
})

// backfillCommand turns an UPDATE into the migrate backfill command line
// that does the same work in throttled, resumable batches.
func backfillCommand(table string, u *pg_query.UpdateStmt, where *pg_query.Node) string {
	var sets []string
	simple := true
	for _, t := range u.TargetList {
		rt := t.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 || rt.Val.GetMultiAssignRef() != nil {
			simple = false
			continue
		}
		sets = append(sets, QuoteIdent(rt.Name)+" = "+DeparseExpr(rt.Val))
	}
	var b strings.Builder
	b.WriteString("# outside the migration, after this deploy (batched, throttled on replica lag, resumable):\n")
	b.WriteString("migrate backfill --table " + shellQuote(QuoteQualified(qualify(table))))
	b.WriteString(" --set " + shellQuote(strings.Join(sets, ", ")))
	if where != nil {
		b.WriteString(" --where " + shellQuote(DeparseExpr(where)))
	}
	if !simple || len(u.FromClause) > 0 {
		b.WriteString("\n# the UPDATE uses FROM or multi-column assignments: write each --set expression as a scalar subquery on the other table")
	}
	return b.String()
}

func conjuncts(n *pg_query.Node) []*pg_query.Node {
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg_query.BoolExprType_AND_EXPR {
		var out []*pg_query.Node
		for _, a := range b.Args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg_query.Node{n}
}

func columnName(n *pg_query.Node) string {
	if n == nil {
		return ""
	}
	if tc := n.GetTypeCast(); tc != nil {
		return columnName(tc.Arg)
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) > 0 {
		return StringValue(cr.Fields[len(cr.Fields)-1])
	}
	return ""
}

func isConstant(n *pg_query.Node) bool {
	switch {
	case n == nil:
		return false
	case n.GetAConst() != nil:
		return !n.GetAConst().Isnull
	case n.GetParamRef() != nil:
		return true
	case n.GetTypeCast() != nil:
		return isConstant(n.GetTypeCast().Arg)
	case n.GetAArrayExpr() != nil:
		return allConstant(n.GetAArrayExpr().Elements)
	}
	return false
}

func allConstant(nodes []*pg_query.Node) bool {
	for _, n := range nodes {
		if !isConstant(n) {
			return false
		}
	}
	return len(nodes) > 0
}

func flipOp(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}
