package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// LocksOf returns the locks st takes on relations that existed before it,
// per locks.md §1 and the trace results of §6, computed against s as it
// stands before st runs. Relations created by the migration being linted
// are left out: nobody else can be waiting on them. Relations the model
// has never seen count as existing, because that is what an earlier,
// unseen migration would have left behind.
//
// The answer assumes PostgreSQL 12 or later where the lock level changed
// (ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent since 12);
// rules that care about older servers adjust for it themselves.
func LocksOf(st *Statement, s *Schema) []Lock {
	if st == nil || st.Node == nil {
		return nil
	}
	c := &lockCollector{s: s, src: st.Source}
	c.statement(st.Node)
	return c.locks()
}

// lockRank orders modes by strength so that a relation touched twice by
// one statement reports the stronger of the two.
var lockRank = map[string]int{
	AccessShare: 1, RowShare: 2, RowExclusive: 3, ShareUpdateExclusive: 4,
	Share: 5, ShareRowExclusive: 6, Exclusive: 7, AccessExclusive: 8,
}

// lockModeByNumber maps LockStmt.Mode (PostgreSQL's LOCKMODE numbers).
var lockModeByNumber = map[int32]string{
	1: AccessShare, 2: RowShare, 3: RowExclusive, 4: ShareUpdateExclusive,
	5: Share, 6: ShareRowExclusive, 7: Exclusive, 8: AccessExclusive,
}

type lockCollector struct {
	s     *Schema
	src   *Source
	order []string
	mode  map[string]string
}

func (c *lockCollector) locks() []Lock {
	out := make([]Lock, 0, len(c.order))
	for _, rel := range c.order {
		out = append(out, NewLock(rel, c.mode[rel]))
	}
	return out
}

// add records mode on the qualified relation rel unless the migration
// being linted created it.
func (c *lockCollector) add(rel, mode string) {
	if rel == "" || mode == "" || relationIsNew(c.s, rel, c.src) {
		return
	}
	rel = qualify(rel)
	if c.mode == nil {
		c.mode = map[string]string{}
	}
	old, seen := c.mode[rel]
	if !seen {
		c.order = append(c.order, rel)
	}
	if lockRank[mode] > lockRank[old] {
		c.mode[rel] = mode
	}
}

// addTree locks a table and, when the model knows it is partitioned and
// the statement did not say ONLY, every partition below it: PostgreSQL
// recurses and locks each one in the same mode.
func (c *lockCollector) addTree(rel string, inh bool, mode string) {
	c.add(rel, mode)
	if inh {
		for _, p := range partitionsOf(c.s, rel) {
			c.add(p, mode)
		}
	}
}

// relationIsNew reports whether the table (or the table of the index)
// named rel was created by src.
func relationIsNew(s *Schema, rel string, src *Source) bool {
	if s == nil || src == nil {
		return false
	}
	if t := s.Table(rel); t != nil {
		return t.IsNew(src)
	}
	if ix := s.Indexes[qualify(rel)]; ix != nil {
		return s.Table(ix.Table).IsNew(src)
	}
	return false
}

// partitionsOf lists the known partitions of parent, recursively, in a
// stable order.
func partitionsOf(s *Schema, parent string) []string {
	if s == nil {
		return nil
	}
	parent = qualify(parent)
	var out []string
	var walk func(p string, depth int)
	walk = func(p string, depth int) {
		if depth > 8 { // a cycle can only come from a confused model
			return
		}
		for _, d := range s.directPartitions(p) {
			out = append(out, d)
			walk(d, depth+1)
		}
	}
	walk(parent, 0)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// tableOfIndex returns the table of a known index ("" when unknown).
func tableOfIndex(s *Schema, index string) string {
	if s == nil {
		return ""
	}
	if ix := s.Indexes[qualify(index)]; ix != nil {
		return ix.Table
	}
	return ""
}

// fkParents lists the tables the table's foreign keys reference.
func fkParents(s *Schema, table string) []string {
	var out []string
	for _, c := range s.Table(table).constraintsOfKind("foreign") {
		if c.RefTable != "" && c.RefTable != qualify(table) && !contains(out, c.RefTable) {
			out = append(out, c.RefTable)
		}
	}
	return out
}

// fkChildren lists the known tables with a foreign key referencing table.
func fkChildren(s *Schema, table string) []string {
	if s == nil {
		return nil
	}
	return s.referrersOf(qualify(table))
}

func (t *Table) constraintsOfKind(kind string) []*Constraint {
	if t == nil {
		return nil
	}
	var out []*Constraint
	for _, c := range t.Constraints {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// dropObjectName turns one DropStmt object into a qualified name; for
// triggers, policies and rules (whose last element is the object itself)
// it returns the table they belong to.
func dropObjectName(obj *pg_query.Node, onTable bool) string {
	var parts []string
	if l := obj.GetList(); l != nil {
		for _, it := range l.Items {
			parts = append(parts, StringValue(it))
		}
	} else if tn := obj.GetTypeName(); tn != nil {
		for _, it := range tn.Names {
			parts = append(parts, StringValue(it))
		}
	} else if s := StringValue(obj); s != "" {
		parts = []string{s}
	}
	if onTable {
		if len(parts) < 2 {
			return ""
		}
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 {
		return ""
	}
	return qualify(joinDots(parts))
}

func joinDots(parts []string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += "."
		}
		out += p
	}
	return out
}

// hasDefElem reports whether a DefElem list (REINDEX, VACUUM, CLUSTER
// options) contains name, which the parser lower-cases.
func hasDefElem(opts []*pg_query.Node, name string) bool {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && d.Defname == name {
			if d.Arg == nil {
				return true
			}
			// VACUUM (FULL false) is spelled out sometimes.
			if b := d.Arg.GetBoolean(); b != nil {
				return b.Boolval
			}
			if s := StringValue(d.Arg); s != "" {
				return s != "false" && s != "off" && s != "0"
			}
			if i := d.Arg.GetInteger(); i != nil {
				return i.Ival != 0
			}
			return true
		}
	}
	return false
}

func (c *lockCollector) statement(n *pg_query.Node) {
	switch {
	case n.GetAlterTableStmt() != nil:
		c.alterTable(n.GetAlterTableStmt())

	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		rel := RangeVarName(ix.Relation)
		if ix.Concurrent {
			c.add(rel, ShareUpdateExclusive)
			return
		}
		c.addTree(rel, ix.Relation.GetInh(), Share)

	case n.GetDropStmt() != nil:
		c.drop(n.GetDropStmt())

	case n.GetReindexStmt() != nil:
		r := n.GetReindexStmt()
		concurrent := hasDefElem(r.Params, "concurrently")
		switch r.Kind {
		case pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:
			index := RangeVarName(r.Relation)
			table := tableOfIndex(c.s, index)
			if concurrent {
				if table == "" {
					table = index
				}
				c.add(table, ShareUpdateExclusive)
				return
			}
			if table != "" {
				c.add(table, Share)
			}
			// The AEL on the index is what stalls plain SELECTs: the
			// planner locks every index of a table it reads.
			c.add(index, AccessExclusive)
		case pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:
			table := RangeVarName(r.Relation)
			if concurrent {
				c.add(table, ShareUpdateExclusive)
				return
			}
			c.add(table, Share)
			for _, ix := range sortedIndexesOn(c.s, table) {
				c.add(ix, AccessExclusive)
			}
		}

	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		switch r.RenameType {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_COLUMN,
			pg_query.ObjectType_OBJECT_TABCONSTRAINT, pg_query.ObjectType_OBJECT_VIEW,
			pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_TRIGGER,
			pg_query.ObjectType_OBJECT_POLICY, pg_query.ObjectType_OBJECT_RULE,
			pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_FOREIGN_TABLE:
			c.add(RangeVarName(r.Relation), AccessExclusive)
		case pg_query.ObjectType_OBJECT_INDEX:
			c.add(RangeVarName(r.Relation), ShareUpdateExclusive)
		}

	case n.GetCreateStmt() != nil:
		cs := n.GetCreateStmt()
		self := RangeVarName(cs.Relation)
		for _, inh := range cs.InhRelations {
			rv := inh.GetRangeVar()
			if rv == nil {
				continue
			}
			if cs.Partbound != nil {
				c.add(RangeVarName(rv), AccessExclusive)
			} else {
				c.add(RangeVarName(rv), ShareUpdateExclusive)
			}
		}
		for _, ref := range createTableFKTargets(cs) {
			if ref != self {
				c.add(ref, ShareRowExclusive)
			}
		}

	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		if v.Replace {
			c.add(RangeVarName(v.View), AccessExclusive)
		}

	case n.GetCreateTrigStmt() != nil:
		c.add(RangeVarName(n.GetCreateTrigStmt().Relation), ShareRowExclusive)

	case n.GetCreatePolicyStmt() != nil:
		c.add(RangeVarName(n.GetCreatePolicyStmt().Table), AccessExclusive)

	case n.GetAlterPolicyStmt() != nil:
		c.add(RangeVarName(n.GetAlterPolicyStmt().Table), AccessExclusive)

	case n.GetTruncateStmt() != nil:
		t := n.GetTruncateStmt()
		for _, r := range t.Relations {
			rv := r.GetRangeVar()
			if rv == nil {
				continue
			}
			rel := RangeVarName(rv)
			c.addTree(rel, rv.Inh, AccessExclusive)
			if t.Behavior == pg_query.DropBehavior_DROP_CASCADE {
				for _, child := range fkChildren(c.s, rel) {
					c.add(child, AccessExclusive)
				}
			}
		}

	case n.GetVacuumStmt() != nil:
		v := n.GetVacuumStmt()
		mode := ShareUpdateExclusive
		if v.IsVacuumcmd && hasDefElem(v.Options, "full") {
			mode = AccessExclusive
		}
		for _, r := range v.Rels {
			if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil {
				c.add(RangeVarName(vr.Relation), mode)
			}
		}

	case n.GetClusterStmt() != nil:
		if cl := n.GetClusterStmt(); cl.Relation != nil {
			c.add(RangeVarName(cl.Relation), AccessExclusive)
		}

	case n.GetLockStmt() != nil:
		l := n.GetLockStmt()
		mode := lockModeByNumber[l.Mode]
		if mode == "" {
			mode = AccessExclusive
		}
		for _, r := range l.Relations {
			if rv := r.GetRangeVar(); rv != nil {
				c.addTree(RangeVarName(rv), rv.Inh, mode)
			}
		}

	case n.GetRefreshMatViewStmt() != nil:
		r := n.GetRefreshMatViewStmt()
		if r.Concurrent {
			c.add(RangeVarName(r.Relation), Exclusive)
		} else {
			c.add(RangeVarName(r.Relation), AccessExclusive)
		}

	case n.GetUpdateStmt() != nil:
		c.add(RangeVarName(n.GetUpdateStmt().Relation), RowExclusive)
	case n.GetDeleteStmt() != nil:
		c.add(RangeVarName(n.GetDeleteStmt().Relation), RowExclusive)
	case n.GetInsertStmt() != nil:
		c.add(RangeVarName(n.GetInsertStmt().Relation), RowExclusive)
	case n.GetMergeStmt() != nil:
		c.add(RangeVarName(n.GetMergeStmt().Relation), RowExclusive)

	case n.GetCommentStmt() != nil:
		cm := n.GetCommentStmt()
		switch cm.Objtype {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
			c.add(dropObjectName(cm.Object, false), ShareUpdateExclusive)
		case pg_query.ObjectType_OBJECT_COLUMN:
			c.add(dropObjectName(cm.Object, true), ShareUpdateExclusive)
		}

	case n.GetCreateStatsStmt() != nil:
		for _, r := range n.GetCreateStatsStmt().Relations {
			if rv := r.GetRangeVar(); rv != nil {
				c.add(RangeVarName(rv), ShareUpdateExclusive)
			}
		}

	case n.GetAlterObjectSchemaStmt() != nil:
		a := n.GetAlterObjectSchemaStmt()
		switch a.ObjectType {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW,
			pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_SEQUENCE,
			pg_query.ObjectType_OBJECT_FOREIGN_TABLE:
			c.add(RangeVarName(a.Relation), AccessExclusive)
		}

	case n.GetAlterSeqStmt() != nil:
		c.add(RangeVarName(n.GetAlterSeqStmt().Sequence), ShareRowExclusive)

	case n.GetAlterDomainStmt() != nil:
		d := n.GetAlterDomainStmt()
		if domainChangeScans(d) {
			for _, t := range tablesUsingType(c.s, qualify(NameList(d.TypeName))) {
				c.add(t, Share)
			}
		}
	}
}

// domainChangeScans reports whether an ALTER DOMAIN checks every stored
// value: ADD CONSTRAINT without NOT VALID, and SET NOT NULL.
func domainChangeScans(d *pg_query.AlterDomainStmt) bool {
	switch d.Subtype {
	case "C":
		con := d.Def.GetConstraint()
		return con == nil || !con.SkipValidation
	case "O":
		return true
	}
	return false
}

// tablesUsingType lists known tables with a column of the named type.
func tablesUsingType(s *Schema, typ string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for name, t := range s.Tables {
		for _, col := range t.Columns {
			if qualify(col.Type.Name) == typ {
				out = append(out, name)
				break
			}
		}
	}
	sortStrings(out)
	return out
}

func sortedIndexesOn(s *Schema, table string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, ix := range s.IndexesOn(table) {
		out = append(out, ix.Name)
	}
	sortStrings(out)
	return out
}

// createTableFKTargets lists the tables a CREATE TABLE's foreign keys
// reference, column-level and table-level.
func createTableFKTargets(cs *pg_query.CreateStmt) []string {
	var out []string
	addCon := func(con *pg_query.Constraint) {
		if con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN && con.Pktable != nil {
			if ref := RangeVarName(con.Pktable); !contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	for _, elt := range cs.TableElts {
		if cd := elt.GetColumnDef(); cd != nil {
			for _, cn := range cd.Constraints {
				addCon(cn.GetConstraint())
			}
		} else {
			addCon(elt.GetConstraint())
		}
	}
	return out
}

func (c *lockCollector) drop(d *pg_query.DropStmt) {
	switch d.RemoveType {
	case pg_query.ObjectType_OBJECT_INDEX:
		for _, obj := range d.Objects {
			index := dropObjectName(obj, false)
			table := tableOfIndex(c.s, index)
			mode := AccessExclusive
			if d.Concurrent {
				mode = ShareUpdateExclusive
			}
			if table == "" {
				// Unknown index: its table is unknown too, so the index
				// name stands in for it.
				c.add(index, mode)
				continue
			}
			c.addTree(table, true, mode)
		}
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_FOREIGN_TABLE:
		for _, obj := range d.Objects {
			table := dropObjectName(obj, false)
			c.addTree(table, true, AccessExclusive)
			for _, p := range fkParents(c.s, table) {
				c.add(p, AccessExclusive)
			}
			if d.Behavior == pg_query.DropBehavior_DROP_CASCADE {
				for _, child := range fkChildren(c.s, table) {
					c.add(child, AccessExclusive)
				}
			}
		}
	case pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_SEQUENCE:
		for _, obj := range d.Objects {
			c.add(dropObjectName(obj, false), AccessExclusive)
		}
	case pg_query.ObjectType_OBJECT_TRIGGER, pg_query.ObjectType_OBJECT_POLICY, pg_query.ObjectType_OBJECT_RULE:
		for _, obj := range d.Objects {
			c.add(dropObjectName(obj, true), AccessExclusive)
		}
	}
}

// alterTableCmdMode is the lock one ALTER TABLE subcommand takes on the
// table itself (PostgreSQL's AlterTableGetLockLevel as traced in §6).
func alterTableCmdMode(cmd *pg_query.AlterTableCmd) string {
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_SetStatistics, pg_query.AlterTableType_AT_SetOptions,
		pg_query.AlterTableType_AT_ResetOptions, pg_query.AlterTableType_AT_SetRelOptions,
		pg_query.AlterTableType_AT_ResetRelOptions, pg_query.AlterTableType_AT_ClusterOn,
		pg_query.AlterTableType_AT_DropCluster, pg_query.AlterTableType_AT_ValidateConstraint,
		pg_query.AlterTableType_AT_AttachPartition:
		return ShareUpdateExclusive
	case pg_query.AlterTableType_AT_EnableTrig, pg_query.AlterTableType_AT_EnableAlwaysTrig,
		pg_query.AlterTableType_AT_EnableReplicaTrig, pg_query.AlterTableType_AT_DisableTrig,
		pg_query.AlterTableType_AT_EnableTrigAll, pg_query.AlterTableType_AT_DisableTrigAll,
		pg_query.AlterTableType_AT_EnableTrigUser, pg_query.AlterTableType_AT_DisableTrigUser:
		return ShareRowExclusive
	case pg_query.AlterTableType_AT_AddConstraint:
		if con := cmd.Def.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
			return ShareRowExclusive
		}
	case pg_query.AlterTableType_AT_DetachPartition:
		if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
			return ShareUpdateExclusive
		}
	case pg_query.AlterTableType_AT_DetachPartitionFinalize:
		return ShareUpdateExclusive
	}
	return AccessExclusive
}

func (c *lockCollector) alterTable(at *pg_query.AlterTableStmt) {
	rel := RangeVarName(at.Relation)
	if at.Objtype == pg_query.ObjectType_OBJECT_INDEX {
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			switch cmd.Subtype {
			case pg_query.AlterTableType_AT_AttachPartition:
				c.add(rel, ShareUpdateExclusive)
				if pc := cmd.Def.GetPartitionCmd(); pc != nil {
					c.add(RangeVarName(pc.Name), AccessExclusive)
				}
			case pg_query.AlterTableType_AT_SetStatistics, pg_query.AlterTableType_AT_SetRelOptions,
				pg_query.AlterTableType_AT_ResetRelOptions:
				c.add(rel, ShareUpdateExclusive)
			default:
				c.add(rel, AccessExclusive)
			}
		}
		return
	}
	inh := at.Relation.GetInh()
	t := c.s.Table(rel)
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		mode := alterTableCmdMode(cmd)
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AttachPartition:
			// The parent gets SUE; the partition being attached is
			// checked (and possibly scanned) under AEL.
			c.add(rel, mode)
			if pc := cmd.Def.GetPartitionCmd(); pc != nil {
				c.add(RangeVarName(pc.Name), AccessExclusive)
			}
			continue
		case pg_query.AlterTableType_AT_DetachPartition, pg_query.AlterTableType_AT_DetachPartitionFinalize:
			c.add(rel, mode)
			if pc := cmd.Def.GetPartitionCmd(); pc != nil {
				// Even DETACH CONCURRENTLY ends with AEL on the partition.
				c.add(RangeVarName(pc.Name), AccessExclusive)
			}
			continue
		}
		c.addTree(rel, inh, mode)

		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AddConstraint:
			if con := cmd.Def.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN && con.Pktable != nil {
				c.add(RangeVarName(con.Pktable), ShareRowExclusive)
			}
		case pg_query.AlterTableType_AT_AddColumn:
			if cd := cmd.Def.GetColumnDef(); cd != nil {
				for _, cn := range cd.Constraints {
					if con := cn.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN && con.Pktable != nil {
						c.add(RangeVarName(con.Pktable), ShareRowExclusive)
					}
				}
			}
		case pg_query.AlterTableType_AT_ValidateConstraint:
			if con := t.Constraint(cmd.Name); con != nil && con.Kind == "foreign" {
				c.add(con.RefTable, RowShare)
			}
		case pg_query.AlterTableType_AT_DropConstraint:
			if con := t.Constraint(cmd.Name); con != nil && con.Kind == "foreign" {
				c.add(con.RefTable, AccessExclusive)
			}
		case pg_query.AlterTableType_AT_DropColumn:
			for _, con := range t.constraintsOfKind("foreign") {
				if contains(con.Columns, cmd.Name) {
					c.add(con.RefTable, AccessExclusive)
				}
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			// Retyping an FK column re-checks it against the parent;
			// retyping a referenced key re-checks every child (B4).
			for _, con := range t.constraintsOfKind("foreign") {
				if contains(con.Columns, cmd.Name) {
					c.add(con.RefTable, AccessExclusive)
				}
			}
			if columnIsKey(t, cmd.Name) {
				for _, child := range fkChildren(c.s, rel) {
					c.add(child, AccessExclusive)
				}
			}
		}
	}
}

// columnIsKey reports whether col belongs to the table's primary key or a
// unique constraint, the columns a foreign key can reference.
func columnIsKey(t *Table, col string) bool {
	if t == nil {
		return false
	}
	for _, c := range t.Constraints {
		if (c.Kind == "primary" || c.Kind == "unique") && contains(c.Columns, col) {
			return true
		}
	}
	return false
}
