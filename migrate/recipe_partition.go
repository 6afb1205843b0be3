package migrate

import (
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// createTable passes new tables through, and plans CREATE TABLE ...
// PARTITION OF (ACCESS EXCLUSIVE on the parent) with R8: a standalone
// table shaped like the parent, then ATTACH PARTITION, which only takes
// SHARE UPDATE EXCLUSIVE on the parent.
func (p *planner) createTable(cs *pg_query.CreateStmt) {
	if cs.Partbound == nil || len(cs.InhRelations) == 0 || cs.InhRelations[0].GetRangeVar() == nil {
		p.passThrough()
		return
	}
	parent := lint.RangeVarName(cs.InhRelations[0].GetRangeVar())
	if pt := p.schema.Table(parent); p.isNew(pt) {
		p.passThrough()
		return
	}
	like := &pg_query.Node{Node: &pg_query.Node_TableLikeClause{TableLikeClause: &pg_query.TableLikeClause{
		Relation: clone(cs.InhRelations[0].GetRangeVar()), Options: likeAll}}}
	standalone := &pg_query.CreateStmt{Relation: clone(cs.Relation), TableElts: []*pg_query.Node{like},
		Partspec: cs.Partspec, Tablespacename: cs.Tablespacename, Options: cs.Options, Oncommit: cs.Oncommit,
		IfNotExists: cs.IfNotExists}
	for _, e := range cs.TableElts {
		if e.GetColumnDef() != nil {
			// Column options of PARTITION OF have no LIKE equivalent.
			p.passThrough()
			return
		}
		standalone.TableElts = append(standalone.TableElts, e)
	}
	part := lint.RangeVarName(cs.Relation)
	p.add(Expand, classDDL, "create "+lint.DisplayName(part)+" as a standalone table shaped like "+lint.DisplayName(parent)+" (no lock on the parent beyond a read)",
		deparse(&pg_query.Node{Node: &pg_query.Node_CreateStmt{CreateStmt: standalone}})+";",
		"DROP TABLE IF EXISTS "+qt(part)+";", lock(parent, lint.AccessShare))
	p.attachPartition(parent, &pg_query.PartitionCmd{Name: clone(cs.Relation), Bound: cs.Partbound}, "new")
}

// likeAll is the option mask of LIKE ... INCLUDING ALL (a bitmask in the
// parse tree, not the protobuf enum's value).
const likeAll = 1<<31 - 1

// attachPartition is R8 for ATTACH PARTITION: a CHECK matching the bound is
// added NOT VALID and validated on the partition (and its negation on the
// DEFAULT partition), so the attach finds them and skips its scans under
// ACCESS EXCLUSIVE; the checks are dropped afterwards. fresh says the
// partition was just created empty, which makes its own check pointless.
func (p *planner) attachPartition(parent string, pc *pg_query.PartitionCmd, fresh string) {
	if pc == nil || pc.Name == nil {
		p.passThrough()
		return
	}
	part := lint.RangeVarName(pc.Name)
	bound := p.boundCheck(parent, pc.Bound)
	def := p.defaults[parent]
	note := ""
	var checks [][2]string // table, check name
	if bound == "" && (pc.Bound == nil || !pc.Bound.IsDefault) {
		note = " (the partition key or bound is not known to the plan, so the attach scans " + lint.DisplayName(part) + " under its ACCESS EXCLUSIVE lock)"
	}
	if bound != "" && fresh == "" && !p.isNew(p.schema.Table(part)) {
		name := reservedName("bound", relName(part))
		p.add(Expand, classDDL, "add a CHECK matching the partition bound to "+lint.DisplayName(part)+" (NOT VALID: no scan)",
			"ALTER TABLE "+qt(part)+" ADD CONSTRAINT "+qi(name)+" CHECK ("+bound+") NOT VALID;",
			"ALTER TABLE "+qt(part)+" DROP CONSTRAINT IF EXISTS "+qi(name)+";", lock(part, lint.AccessExclusive))
		p.validate(part, name, Expand)
		checks = append(checks, [2]string{part, name})
	}
	if bound != "" && def != "" {
		name := reservedName("bound", relName(def))
		p.add(Expand, classDDL, "add a CHECK excluding the new bound to the DEFAULT partition "+lint.DisplayName(def)+" (NOT VALID: no scan)",
			"ALTER TABLE "+qt(def)+" ADD CONSTRAINT "+qi(name)+" CHECK (NOT ("+bound+")) NOT VALID;",
			"ALTER TABLE "+qt(def)+" DROP CONSTRAINT IF EXISTS "+qi(name)+";", lock(def, lint.AccessExclusive))
		p.validate(def, name, Expand)
		checks = append(checks, [2]string{def, name})
	}
	at := &pg_query.AlterTableStmt{Relation: makeRangeVar(parent), Objtype: pg_query.ObjectType_OBJECT_TABLE}
	locks := []lint.Lock{lock(parent, lint.ShareUpdateExclusive), lock(part, lint.AccessExclusive)}
	if def != "" {
		locks = append(locks, lock(def, lint.AccessExclusive))
	}
	p.add(Expand, classDDL, "attach "+lint.DisplayName(part)+" to "+lint.DisplayName(parent)+note,
		alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: &pg_query.AlterTableCmd{
			Subtype: pg_query.AlterTableType_AT_AttachPartition,
			Def:     &pg_query.Node{Node: &pg_query.Node_PartitionCmd{PartitionCmd: pc}}}}}),
		"ALTER TABLE "+qt(parent)+" DETACH PARTITION "+qt(part)+";", locks...)
	for _, c := range checks {
		p.add(Expand, classDDL, "drop the bound check from "+lint.DisplayName(c[0]),
			"ALTER TABLE "+qt(c[0])+" DROP CONSTRAINT "+qi(c[1])+";", "", lock(c[0], lint.AccessExclusive))
	}
}

// boundCheck renders the constraint PostgreSQL derives from a partition
// bound, or "" when the parent's key is unknown or the bound has no simple
// form (hash, DEFAULT, MINVALUE/MAXVALUE on a multi-column key).
func (p *planner) boundCheck(parent string, b *pg_query.PartitionBoundSpec) string {
	spec := p.partKeys[parent]
	if spec == nil || b == nil || b.IsDefault {
		return ""
	}
	var keys []string
	for _, pe := range spec.PartParams {
		e := pe.GetPartitionElem()
		switch {
		case e == nil:
			return ""
		case e.Name != "":
			keys = append(keys, qi(e.Name))
		default:
			keys = append(keys, "("+deparseExpr(e.Expr)+")")
		}
	}
	notNull := make([]string, len(keys))
	for i, k := range keys {
		notNull[i] = k + " IS NOT NULL"
	}
	switch b.Strategy {
	case "l":
		if len(keys) != 1 {
			return ""
		}
		var vals []string
		hasNull := false
		for _, d := range b.Listdatums {
			if c := d.GetAConst(); c != nil && c.Isnull {
				hasNull = true
				continue
			}
			vals = append(vals, deparseExpr(d))
		}
		in := keys[0] + " IN (" + strings.Join(vals, ", ") + ")"
		switch {
		case hasNull && len(vals) == 0:
			return keys[0] + " IS NULL"
		case hasNull:
			return "(" + keys[0] + " IS NULL OR " + in + ")"
		}
		return keys[0] + " IS NOT NULL AND " + in
	case "r":
		lo, loOK := rangeDatums(b.Lowerdatums)
		hi, hiOK := rangeDatums(b.Upperdatums)
		if len(keys) > 1 && (!loOK || !hiOK) {
			return ""
		}
		key := keys[0]
		if len(keys) > 1 {
			key = "ROW(" + strings.Join(keys, ", ") + ")"
			lo, hi = "ROW("+lo+")", "ROW("+hi+")"
		}
		parts := append([]string(nil), notNull...)
		if loOK {
			parts = append(parts, key+" >= "+lo)
		}
		if hiOK {
			parts = append(parts, key+" < "+hi)
		}
		return strings.Join(parts, " AND ")
	}
	return ""
}

// rangeDatums renders bound values, reporting false for MINVALUE/MAXVALUE.
func rangeDatums(ds []*pg_query.Node) (string, bool) {
	var vals []string
	for _, d := range ds {
		if d.GetColumnRef() != nil {
			return "", false
		}
		vals = append(vals, deparseExpr(d))
	}
	return strings.Join(vals, ", "), len(vals) > 0
}

// detachPartition plans DETACH PARTITION as DETACH ... CONCURRENTLY
// (PostgreSQL 14+: SHARE UPDATE EXCLUSIVE on the parent), which is refused
// when the parent has a DEFAULT partition.
func (p *planner) detachPartition(at *pg_query.AlterTableStmt, table string, cmd *pg_query.AlterTableCmd) {
	pc := cmd.Def.GetPartitionCmd()
	one := alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}})
	if pc == nil || pc.Concurrent || p.opts.PGVersion < 14 || p.defaults[table] != "" {
		s := p.add(Expand, classDDL, "detach as written (ACCESS EXCLUSIVE on the parent, brief)", one, "",
			lock(table, lint.AccessExclusive))
		if pc != nil && pc.Concurrent {
			s.Description = "detach concurrently as written"
			s.InTransaction, s.LockTimeout, s.StatementTimeout = false, 0, 0
			s.Locks = []lint.Lock{lock(table, lint.ShareUpdateExclusive)}
		}
		return
	}
	c := clone(cmd)
	c.Def.GetPartitionCmd().Concurrent = true
	p.add(Expand, classConcurrent, "detach "+lint.DisplayName(lint.RangeVarName(pc.Name))+" concurrently (reads and writes on the parent go on)",
		alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: c}}), "",
		lock(table, lint.ShareUpdateExclusive), lock(lint.RangeVarName(pc.Name), lint.AccessExclusive))
}

// update plans an UPDATE that may reach more than one batch of rows as a
// batched backfill, over the key range its WHERE bounds when it does; a
// smaller one passes through as a data change.
func (p *planner) update(us *pg_query.UpdateStmt) {
	table := lint.RangeVarName(us.Relation)
	dc := p.judgeDataChange(table, us.WhereClause)
	if dc.asWritten || p.isNew(p.schema.Table(table)) {
		p.passThrough()
		return
	}
	if len(us.FromClause) > 0 || us.WithClause != nil || len(us.ReturningList) > 0 {
		if dc.reach == lint.ReachBounded {
			p.passThrough() // bounded on both sides; it cannot be batched
			return
		}
		p.refuse(RuleDataChange, "a whole-table UPDATE with FROM, WITH or RETURNING cannot be split into batches; "+
			"rewrite the value as a correlated subquery, or accept one long transaction", p.text(), lock(table, lint.RowExclusive))
		return
	}
	var set, targets []string
	var values []*pg_query.Node
	for _, n := range us.TargetList {
		rt := n.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 || rt.Val.GetMultiAssignRef() != nil {
			if dc.reach == lint.ReachBounded {
				p.passThrough()
				return
			}
			p.refuse(RuleDataChange, "this SET form (multi-column or subscripted assignment) cannot be handed to the backfiller; write one column = expression per target",
				p.text(), lock(table, lint.RowExclusive))
			return
		}
		set = append(set, qi(rt.Name)+" = "+deparseExpr(rt.Val))
		targets, values = append(targets, rt.Name), append(values, rt.Val)
	}
	if t := p.schema.Table(table); t != nil && !walkableKey(p.schema, t) && !idempotentSet(targets, values) {
		p.refuse(RuleDataChange, lint.DisplayName(table)+" has no primary key or unique NOT NULL index, so the batches walk ctid ranges, "+
			"and a row this UPDATE moves can be met again and changed twice ("+strings.Join(set, ", ")+" is not idempotent); "+
			"add a key first, or accept one long transaction", p.text(), lock(table, lint.RowExclusive))
		return
	}
	desc := "whole-table UPDATE as a batched, throttled backfill (short transactions, no long row locks)"
	if len(dc.ranges) > 0 {
		desc = "UPDATE of a key range as a batched, throttled backfill (short transactions, no long row locks)" + walkText(dc.ranges)
	}
	p.addBackfill(table, desc,
		&BackfillSpec{Table: qt(table), Set: strings.Join(set, ", "), Where: deparseExpr(us.WhereClause), Ranges: dc.ranges})
}

// delete plans a DELETE that may reach more than one batch of rows as a
// batched delete job, over the key range its WHERE bounds when it does.
func (p *planner) delete(ds *pg_query.DeleteStmt) {
	table := lint.RangeVarName(ds.Relation)
	dc := p.judgeDataChange(table, ds.WhereClause)
	if dc.asWritten || p.isNew(p.schema.Table(table)) {
		p.passThrough()
		return
	}
	if len(ds.UsingClause) > 0 || ds.WithClause != nil || len(ds.ReturningList) > 0 {
		if dc.reach == lint.ReachBounded {
			p.passThrough()
			return
		}
		p.refuse(RuleDataChange, "a whole-table DELETE with USING, WITH or RETURNING cannot be split into batches",
			p.text(), lock(table, lint.RowExclusive))
		return
	}
	desc := "whole-table DELETE in batches (short transactions, no long row locks)"
	if len(dc.ranges) > 0 {
		desc = "DELETE of a key range in batches (short transactions, no long row locks)" + walkText(dc.ranges)
	}
	p.addBackfill(table, desc, &BackfillSpec{Table: qt(table), Delete: true, Where: deparseExpr(ds.WhereClause), Ranges: dc.ranges})
}
