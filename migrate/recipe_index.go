package migrate

import (
	"sort"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// makeRangeVar turns a qualified name back into a table reference,
// leaving the default schema implicit as the user most likely wrote it.
func makeRangeVar(qualified string) *pg_query.RangeVar {
	rv := &pg_query.RangeVar{Relname: relName(qualified), Inh: true, Relpersistence: "p", Location: -1}
	if s := schemaName(qualified); s != "public" {
		rv.Schemaname = s
	}
	return rv
}

// indexColumnNames are the parts PostgreSQL builds a default index name
// from: column names, or the function name (else "expr") of expressions.
func indexColumnNames(ix *pg_query.IndexStmt) []string {
	var out []string
	// PostgreSQL names an index after its key and its INCLUDE columns
	// alike (ChooseIndexColumnNames over both lists).
	params := append(append([]*pg_query.Node{}, ix.IndexParams...), ix.IndexIncludingParams...)
	for _, p := range params {
		ie := p.GetIndexElem()
		switch {
		case ie == nil:
		case ie.Name != "":
			out = append(out, ie.Name)
		case ie.Expr.GetFuncCall() != nil && len(ie.Expr.GetFuncCall().Funcname) > 0:
			fn := ie.Expr.GetFuncCall().Funcname
			out = append(out, lint.StringValue(fn[len(fn)-1]))
		default:
			out = append(out, "expr")
		}
	}
	return out
}

// createIndex plans CREATE INDEX as CREATE INDEX CONCURRENTLY (SHARE UPDATE
// EXCLUSIVE: reads and writes go on), or with R7 on a partitioned parent,
// where CONCURRENTLY is not allowed.
func (p *planner) createIndex(ix *pg_query.IndexStmt) {
	table := lint.RangeVarName(ix.Relation)
	t := p.schema.Table(table)
	if p.isNew(t) || ix.Concurrent && (t == nil || !t.Partitioned) {
		p.passThrough()
		return
	}
	if ix.Concurrent {
		p.refuse(RulePartitionedIndex, "PostgreSQL cannot build an index CONCURRENTLY on a partitioned table (SQLSTATE 0A000), so the statement "+
			"fails as written and changes nothing; write it without CONCURRENTLY and the plan builds it concurrently on each partition, then attaches",
			p.text(), lock(table, lint.ShareUpdateExclusive))
		return
	}
	name := ix.Idxname
	if name == "" {
		name = pgDefaultName(table, indexColumnNames(ix), "idx")
	}
	ph := Expand
	if ix.Unique {
		ph = p.afterBackfill(table)
	}
	if t != nil && t.Partitioned {
		p.partitionedIndex(ix, table, name, ph)
		return
	}
	c := clone(ix)
	c.Idxname, c.Concurrent = name, true
	p.add(ph, classConcurrent, "build index "+name+" concurrently (reads and writes go on)",
		deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: c}})+";",
		"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, name))+";",
		lock(table, lint.ShareUpdateExclusive))
}

// partitionsOf lists the model's partitions of a table, by name.
func (p *planner) partitionsOf(table string) []*lint.Table {
	var out []*lint.Table
	for _, t := range p.schema.Tables {
		if t.PartitionOf == table {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// partitionedIndex is R7: an invalid index on the parent only (no scan),
// a concurrent build on each partition, then ATTACH PARTITION of each;
// the parent index becomes valid when the last one is attached.
func (p *planner) partitionedIndex(ix *pg_query.IndexStmt, table, name string, ph Phase) {
	parent := clone(ix)
	parent.Idxname, parent.Concurrent = name, false
	parent.Relation.Inh = false
	parts := p.partitionsOf(table)
	desc := "create index " + name + " on the partitioned table only (no scan; invalid until every partition's index is attached)"
	if len(parts) == 0 {
		desc += "; the plan knows no partitions of " + lint.DisplayName(table)
	}
	p.add(ph, classDDL, desc, deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: parent}})+";",
		"DROP INDEX IF EXISTS "+qt(inSchema(table, name))+";", lock(table, lint.Share))
	for _, part := range parts {
		partIx := clone(ix)
		partIx.Relation = makeRangeVar(part.Name)
		partIx.Idxname = pgDefaultName(part.Name, indexColumnNames(ix), "idx")
		if part.Partitioned {
			p.partitionedIndex(partIx, part.Name, partIx.Idxname, ph)
		} else {
			partIx.Concurrent = true
			p.add(ph, classConcurrent, "build index "+partIx.Idxname+" on partition "+lint.DisplayName(part.Name)+" concurrently",
				deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: partIx}})+";",
				"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(part.Name, partIx.Idxname))+";",
				lock(part.Name, lint.ShareUpdateExclusive))
		}
		// An attached index cannot be dropped on its own: the undo drops
		// the parent index, which takes every attached one with it, and
		// leaves the earlier undos nothing to do.
		p.add(ph, classDDL, "attach "+partIx.Idxname+" to "+name,
			"ALTER INDEX "+qt(inSchema(table, name))+" ATTACH PARTITION "+qt(inSchema(part.Name, partIx.Idxname))+";",
			"DROP INDEX IF EXISTS "+qt(inSchema(table, name))+";",
			lock(inSchema(table, name), lint.ShareUpdateExclusive), lock(inSchema(part.Name, partIx.Idxname), lint.AccessExclusive))
	}
}

// drop plans DROP INDEX as DROP INDEX CONCURRENTLY, and dropping tables
// and views the running code may use as breaking contract steps.
func (p *planner) drop(ds *pg_query.DropStmt) {
	names := dropNames(ds)
	switch ds.RemoveType {
	case pg_query.ObjectType_OBJECT_INDEX:
		if ds.Concurrent {
			p.passThrough()
			return
		}
		for _, name := range names {
			ix := p.schema.Indexes[name]
			one := &pg_query.DropStmt{Objects: []*pg_query.Node{dropObject(name)}, RemoveType: ds.RemoveType,
				Behavior: ds.Behavior, MissingOk: ds.MissingOk}
			var t *lint.Table
			var locks []lint.Lock
			if ix != nil {
				t = p.schema.Table(ix.Table)
			}
			switch {
			case ix != nil && p.isNew(t):
				p.add(Expand, classDDL, "drop index "+relName(name)+" of a new table", deparseDrop(one), "")
				continue
			case ds.Behavior == pg_query.DropBehavior_DROP_CASCADE || t != nil && t.Partitioned:
				// CONCURRENTLY supports neither CASCADE nor partitioned indexes.
				if ix != nil {
					locks = append(locks, lock(ix.Table, lint.AccessExclusive))
				}
				p.add(Expand, classDDL, "drop index "+relName(name)+" as written (CONCURRENTLY cannot drop it: CASCADE or a partitioned table); blocks the table briefly",
					deparseDrop(one), "", locks...)
				continue
			}
			one.Concurrent = true
			if ix != nil {
				locks = append(locks, lock(ix.Table, lint.ShareUpdateExclusive))
			}
			p.add(Expand, classConcurrent, "drop index "+relName(name)+" concurrently (reads and writes go on)",
				deparseDrop(one), "", locks...)
		}
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
		for _, name := range names {
			one := &pg_query.DropStmt{Objects: []*pg_query.Node{dropObject(name)}, RemoveType: ds.RemoveType,
				Behavior: ds.Behavior, MissingOk: ds.MissingOk}
			if p.isNew(p.schema.Table(name)) {
				p.add(Expand, classDDL, "drop "+lint.DisplayName(name)+", created by this migration", deparseDrop(one), "")
				continue
			}
			p.add(Contract, classDDL, "drop "+lint.DisplayName(name)+" once no running code uses it",
				deparseDrop(one), "", lock(name, lint.AccessExclusive)).Breaking = true
		}
	default:
		p.passThrough()
	}
}

func dropNames(ds *pg_query.DropStmt) []string {
	var out []string
	for _, obj := range ds.Objects {
		if l := obj.GetList(); l != nil {
			out = append(out, qualifyName(lint.NameList(l.Items)))
		}
	}
	return out
}

func dropObject(qualified string) *pg_query.Node {
	items := []*pg_query.Node{pg_query.MakeStrNode(relName(qualified))}
	if s := schemaName(qualified); s != "public" {
		items = append([]*pg_query.Node{pg_query.MakeStrNode(s)}, items...)
	}
	return &pg_query.Node{Node: &pg_query.Node_List{List: &pg_query.List{Items: items}}}
}

func deparseDrop(ds *pg_query.DropStmt) string {
	return deparse(&pg_query.Node{Node: &pg_query.Node_DropStmt{DropStmt: ds}}) + ";"
}

// reindex plans REINDEX as REINDEX CONCURRENTLY (PostgreSQL 12+): the plain
// form holds SHARE on the table and ACCESS EXCLUSIVE on its indexes, which
// stalls even reads that do not use them.
func (p *planner) reindex(rs *pg_query.ReindexStmt) {
	var rel string
	if rs.Relation != nil {
		rel = lint.RangeVarName(rs.Relation)
	}
	if hasOption(rs.Params, "concurrently") || (rel != "" && p.isNew(p.schema.Table(rel))) {
		p.passThrough()
		return
	}
	if p.opts.PGVersion < 12 {
		p.refuse(RuleReindex, "REINDEX CONCURRENTLY needs PostgreSQL 12; build a new index concurrently and drop the old one instead",
			p.text(), p.relLocks([]string{rel}, lint.Share)...)
		return
	}
	// The pre-14 spelling (REINDEX TABLE CONCURRENTLY t) works on 12+.
	target := map[pg_query.ReindexObjectType]string{
		pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:    "INDEX",
		pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:    "TABLE",
		pg_query.ReindexObjectType_REINDEX_OBJECT_SCHEMA:   "SCHEMA",
		pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE: "DATABASE",
	}[rs.Kind]
	name := rs.Name
	if rs.Relation != nil {
		name = qt(rel)
	} else {
		name = qi(name)
	}
	if target == "" || len(rs.Params) > 0 {
		p.passThrough()
		return
	}
	var locks []lint.Lock
	if rel != "" {
		locks = append(locks, lock(rel, lint.ShareUpdateExclusive))
	}
	p.add(Expand, classConcurrent, "rebuild concurrently (reads and writes go on)",
		"REINDEX "+target+" CONCURRENTLY "+name+";", "", locks...)
}
