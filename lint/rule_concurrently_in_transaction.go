package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleConcurrentlyInTransaction = register(&Rule{
	Name:     "concurrently-in-transaction",
	Doc:      "CONCURRENTLY operations and VACUUM fail inside a transaction block",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if !mustRunInTx(st) {
			return
		}
		what, table := nonTransactional(st.Node, pass.Schema)
		if what == "" {
			return
		}
		where := "inside a transaction block"
		switch {
		case st.Context != "":
			where = "inside a " + st.Context + ", which always runs in a transaction"
		case st.Explicit:
			where = "inside the BEGIN ... COMMIT block"
		case st.Source != nil && st.Source.Format != "" && st.Source.Format != "sql":
			where = "inside the transaction " + st.Source.Format + " wraps this file in"
		}
		stmt := st.Text()
		if stmt == "" {
			stmt = Deparse(st.Node)
		}
		fix := "-- " + outsideTxHint(st) + ":\n" + stmt + ";"
		if table != "" && !relExisting(pass, table) {
			fix = "-- " + DisplayName(table) + " is created by this migration and still empty, so the plain form is fine in the transaction:\n" +
				Deparse(withoutConcurrently(st.Node)) + ";"
		}
		pass.Report(Finding{
			Message: what + " cannot run " + where + ": PostgreSQL rejects it (\"cannot run inside a transaction block\") and the migration fails",
			Locks:   []Lock{},
			Fix:     fix,
		})
	},
})

// RunsOutsideTransaction reports whether PostgreSQL refuses n inside a
// transaction block (locks.md §3.7), so a runner must send it on its own.
func RunsOutsideTransaction(n *pg_query.Node) bool {
	if what, _ := nonTransactional(n, nil); what != "" {
		return true
	}
	return n.GetCreatedbStmt() != nil || n.GetDropdbStmt() != nil || n.GetAlterSystemStmt() != nil
}

// nonTransactional names the statements of locks.md §3.7 that PostgreSQL
// refuses inside a transaction block, with the table they work on when
// there is one.
func nonTransactional(n *pg_query.Node, s *Schema) (what, table string) {
	switch {
	case n.GetIndexStmt() != nil:
		if ix := n.GetIndexStmt(); ix.Concurrent {
			return "CREATE INDEX CONCURRENTLY", RangeVarName(ix.Relation)
		}
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		if d.Concurrent && d.RemoveType == pg_query.ObjectType_OBJECT_INDEX {
			t := ""
			if len(d.Objects) > 0 {
				t = tableOfIndex(s, dropObjectName(d.Objects[0], false))
			}
			return "DROP INDEX CONCURRENTLY", t
		}
	case n.GetReindexStmt() != nil:
		r := n.GetReindexStmt()
		if hasDefElem(r.Params, "concurrently") {
			t := ""
			switch r.Kind {
			case pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:
				t = RangeVarName(r.Relation)
			case pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:
				t = tableOfIndex(s, RangeVarName(r.Relation))
			}
			return "REINDEX CONCURRENTLY", t
		}
	case n.GetAlterTableStmt() != nil:
		for _, cn := range n.GetAlterTableStmt().Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil || cmd.Subtype != pg_query.AlterTableType_AT_DetachPartition {
				continue
			}
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
				return "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY", ""
			}
		}
	case n.GetVacuumStmt() != nil:
		if n.GetVacuumStmt().IsVacuumcmd {
			return "VACUUM", ""
		}
	}
	return "", ""
}

// withoutConcurrently returns the statement without CONCURRENTLY, for a
// table the migration itself created.
func withoutConcurrently(n *pg_query.Node) *pg_query.Node {
	switch {
	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		return &pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: &pg_query.IndexStmt{
			Idxname: ix.Idxname, Relation: ix.Relation, AccessMethod: ix.AccessMethod, TableSpace: ix.TableSpace,
			IndexParams: ix.IndexParams, IndexIncludingParams: ix.IndexIncludingParams, Options: ix.Options,
			WhereClause: ix.WhereClause, Unique: ix.Unique, NullsNotDistinct: ix.NullsNotDistinct, IfNotExists: ix.IfNotExists}}}
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		return &pg_query.Node{Node: &pg_query.Node_DropStmt{DropStmt: &pg_query.DropStmt{
			Objects: d.Objects, RemoveType: d.RemoveType, Behavior: d.Behavior, MissingOk: d.MissingOk}}}
	case n.GetReindexStmt() != nil:
		r := n.GetReindexStmt()
		var params []*pg_query.Node
		for _, p := range r.Params {
			if de := p.GetDefElem(); de == nil || de.Defname != "concurrently" {
				params = append(params, p)
			}
		}
		return &pg_query.Node{Node: &pg_query.Node_ReindexStmt{ReindexStmt: &pg_query.ReindexStmt{
			Kind: r.Kind, Relation: r.Relation, Name: r.Name, Params: params}}}
	}
	return n
}
