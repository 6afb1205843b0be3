package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var rulePartitionOfExistingTable = register(&Rule{
	Name:     "partition-of-existing-table",
	Doc:      "CREATE TABLE ... PARTITION OF takes ACCESS EXCLUSIVE on the existing parent",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		cs := pass.Stmt.Node.GetCreateStmt()
		if cs == nil || cs.Partbound == nil || len(cs.InhRelations) == 0 || inFunctionBody(pass.Stmt) {
			return
		}
		rv := cs.InhRelations[0].GetRangeVar()
		if rv == nil {
			return
		}
		parent := RangeVarName(rv)
		if !relExisting(pass, parent) {
			return
		}
		part := RangeVarName(cs.Relation)
		qp, qpart := displayQuoted(parent), displayQuoted(part)
		bound := boundSQL(cs.Partbound)
		fix := "-- 1. Create the partition as a standalone table: no lock on " + qp + ".\n" +
			"CREATE TABLE " + qpart + " (LIKE " + qp + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE);\n" +
			"-- 2. Attach it: SHARE UPDATE EXCLUSIVE on " + qp + " (reads and writes continue); the new table is empty, so the bound check is instant.\n" +
			"--    If " + qp + " has a DEFAULT partition, first add and VALIDATE on it a CHECK that excludes the new range, or it is scanned under ACCESS EXCLUSIVE.\n" +
			"ALTER TABLE " + qp + " ATTACH PARTITION " + qpart + " " + bound + ";"
		pass.Report(Finding{
			Message: "CREATE TABLE " + qpart + " PARTITION OF " + qp + " takes ACCESS EXCLUSIVE on " + qp +
				", which blocks reads and writes of the whole partitioned table (and, if it has a DEFAULT partition, scans that partition under the same lock); " +
				"create a standalone table and ATTACH it instead",
			Locks: strongLocks(pass.locks()),
			Fix:   fix,
		})
	},
})

// boundSQL renders a partition bound as written after the partition name
// ("FOR VALUES FROM (...) TO (...)", "DEFAULT").
func boundSQL(b *pg_query.PartitionBoundSpec) string {
	if b == nil {
		return ""
	}
	if b.IsDefault {
		return "DEFAULT"
	}
	list := func(nodes []*pg_query.Node) string {
		parts := make([]string, len(nodes))
		for i, n := range nodes {
			parts[i] = datumSQL(n)
		}
		return strings.Join(parts, ", ")
	}
	switch b.Strategy {
	case "r":
		return "FOR VALUES FROM (" + list(b.Lowerdatums) + ") TO (" + list(b.Upperdatums) + ")"
	case "l":
		return "FOR VALUES IN (" + list(b.Listdatums) + ")"
	case "h":
		return "FOR VALUES WITH (MODULUS " + itoa(int(b.Modulus)) + ", REMAINDER " + itoa(int(b.Remainder)) + ")"
	}
	return ""
}

// datumSQL renders one bound value; MINVALUE and MAXVALUE come back from
// the parser as column references.
func datumSQL(n *pg_query.Node) string {
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		return upper(StringValue(cr.Fields[0]))
	}
	return DeparseExpr(n)
}

// boundCheck is a CHECK expression that implies the bound, for R8: with it
// validated on the partition, ATTACH skips its scan. The partition key is
// not in the schema model, so it appears as <key>.
func boundCheck(b *pg_query.PartitionBoundSpec) string {
	if b == nil || b.IsDefault {
		return ""
	}
	key := "<key>"
	switch b.Strategy {
	case "r":
		var conds []string
		lo, hi := b.Lowerdatums, b.Upperdatums
		if len(lo) > 1 || len(hi) > 1 {
			key = "ROW(<key columns>)"
		} else {
			conds = append(conds, key+" IS NOT NULL")
		}
		if s := rowOf(lo); s != "" {
			conds = append(conds, key+" >= "+s)
		}
		if s := rowOf(hi); s != "" {
			conds = append(conds, key+" < "+s)
		}
		return strings.Join(conds, " AND ")
	case "l":
		parts := make([]string, len(b.Listdatums))
		for i, n := range b.Listdatums {
			parts[i] = datumSQL(n)
		}
		return key + " IS NOT NULL AND " + key + " IN (" + strings.Join(parts, ", ") + ")"
	}
	return ""
}

// rowOf renders range datums as a value or ROW(...), "" when the side is
// unbounded (MINVALUE / MAXVALUE).
func rowOf(nodes []*pg_query.Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		s := datumSQL(n)
		if s == "MINVALUE" || s == "MAXVALUE" {
			return ""
		}
		parts = append(parts, s)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	if len(parts) == 0 {
		return ""
	}
	return "ROW(" + strings.Join(parts, ", ") + ")"
}
