package migrate

import (
	"slices"
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// A key replaced by dropping it first (issue 11, defect 4):
//
//	ALTER TABLE orders DROP CONSTRAINT orders_pkey;
//	ALTER TABLE orders ADD PRIMARY KEY (id);
//
// Run step by step, the table has no key from the drop until the new
// index is built: duplicates get in and INSERT ... ON CONFLICT (id) fails
// for the whole build. The plan builds the new unique index first, under a
// temporary name while the old key still holds, and then drops the old
// constraint and attaches the index as the new one in one short
// transaction.

// keySwap is a DROP CONSTRAINT that a later ADD PRIMARY KEY or UNIQUE of
// the same table replaces.
type keySwap struct {
	drop     *pg_query.AlterTableCmd
	dropStmt *pg_query.AlterTableStmt // the ALTER TABLE the drop is in
	// old is the model's copy of the dropped constraint, taken before the
	// drop is applied to the model; nil when the model does not know it.
	old *lint.Constraint
}

// checkTag marks a DO block that only reads the catalog and raises: such a
// step has nothing to undo (readOnlyCheck).
const checkTag = "$migrate_check$"

// readOnlyCheck reports whether sql is one of the planner's read-only
// checks, which change nothing and need no undo.
func readOnlyCheck(sql string) bool {
	sql = strings.TrimSpace(sql)
	return strings.HasPrefix(sql, "DO "+checkTag) && strings.HasSuffix(sql, checkTag+";") &&
		strings.Count(sql, checkTag) == 2
}

// findKeySwaps pairs each DROP CONSTRAINT of at that drops a key (or a
// constraint the model does not know) with the ADD PRIMARY KEY / UNIQUE
// that replaces it: in the same ALTER TABLE (PostgreSQL runs its drops
// first), or in a later statement when nothing in between touches the
// table's keys. It returns the drops to leave out of at's own steps; each
// goes into the swap of its replacement. A drop that would fail as
// written gets a read-only check now, where it would fail, so the plan
// fails before building anything.
func (p *planner) findKeySwaps(at *pg_query.AlterTableStmt, table string, t *lint.Table) map[*pg_query.AlterTableCmd]bool {
	if at.MissingOk || t != nil && t.Partitioned {
		return nil // USING INDEX does not work on partitioned tables
	}
	var out map[*pg_query.AlterTableCmd]bool
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil || cmd.Subtype != pg_query.AlterTableType_AT_DropConstraint {
			continue
		}
		old := t.Constraint(cmd.Name)
		if old != nil && old.Kind != "primary" && old.Kind != "unique" {
			continue
		}
		add := p.replacementOf(at, table, cmd, old)
		if add == nil {
			continue
		}
		sw := &keySwap{drop: cmd, dropStmt: at}
		if old != nil {
			c := *old
			c.Columns = slices.Clone(old.Columns)
			sw.old = &c
		}
		if p.swaps == nil {
			p.swaps = map[*pg_query.Constraint]*keySwap{}
		}
		p.swaps[add] = sw
		if out == nil {
			out = map[*pg_query.AlterTableCmd]bool{}
		}
		out[cmd] = true
		if cmd.Behavior != pg_query.DropBehavior_DROP_CASCADE {
			p.add(Expand, classDDL, "check that "+cmd.Name+" can be dropped (read-only): as written the DROP fails when foreign keys or views depend on it; "+
				"fail here, before the new index is built", dropCheck(table, cmd), "")
		}
	}
	return out
}

// replacementOf finds the ADD PRIMARY KEY / UNIQUE that replaces drop:
// one of the same kind as the old constraint if there is one, else the
// first.
func (p *planner) replacementOf(at *pg_query.AlterTableStmt, table string, drop *pg_query.AlterTableCmd, old *lint.Constraint) *pg_query.Constraint {
	cands, ok := p.keyAdds(at.Cmds, drop, table)
	if !ok {
		return nil
	}
	for _, st := range p.laterStatements() {
		if st.Node == nil || st.Down || st.Context != "" {
			continue
		}
		if a := st.Node.GetAlterTableStmt(); a != nil && a.Objtype == pg_query.ObjectType_OBJECT_TABLE && lint.RangeVarName(a.Relation) == table {
			more, ok := p.keyAdds(a.Cmds, nil, table)
			if !ok {
				break
			}
			cands = append(cands, more...)
			continue
		}
		if !keyNeutralStatement(st.Node, table) {
			break
		}
	}
	for _, c := range cands {
		if old != nil && constraintKind(c) == old.Kind {
			return c
		}
	}
	if len(cands) > 0 {
		return cands[0]
	}
	return nil
}

// keyAdds lists the unclaimed ADD PRIMARY KEY / UNIQUE (with columns, not
// USING INDEX) among cmds; ok is false when another action touches the
// table's keys, which ends the search.
func (p *planner) keyAdds(cmds []*pg_query.Node, skip *pg_query.AlterTableCmd, table string) (adds []*pg_query.Constraint, ok bool) {
	for _, cn := range cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil || cmd == skip {
			continue
		}
		if con := cmd.Def.GetConstraint(); cmd.Subtype == pg_query.AlterTableType_AT_AddConstraint && con != nil &&
			(con.Contype == pg_query.ConstrType_CONSTR_PRIMARY || con.Contype == pg_query.ConstrType_CONSTR_UNIQUE) {
			if con.Indexname == "" && len(con.Keys) > 0 && p.swaps[con] == nil {
				adds = append(adds, con)
			}
			continue
		}
		if !keyNeutralAction(cmd, table) {
			return nil, false
		}
	}
	return adds, true
}

// keyNeutralAction reports whether an ALTER TABLE action between a key's
// drop and its replacement leaves the keys alone, so that moving the drop
// to the replacement changes nothing it does.
func keyNeutralAction(cmd *pg_query.AlterTableCmd, table string) bool {
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		for _, c := range cmd.Def.GetColumnDef().GetConstraints() {
			switch c.GetConstraint().GetContype() {
			case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_FOREIGN:
				return false
			}
		}
		return true
	case pg_query.AlterTableType_AT_AddConstraint:
		con := cmd.Def.GetConstraint()
		return con.GetContype() == pg_query.ConstrType_CONSTR_CHECK ||
			con.GetContype() == pg_query.ConstrType_CONSTR_FOREIGN && lint.RangeVarName(con.Pktable) != table
	case pg_query.AlterTableType_AT_ColumnDefault, pg_query.AlterTableType_AT_SetStatistics,
		pg_query.AlterTableType_AT_SetStorage, pg_query.AlterTableType_AT_SetCompression,
		pg_query.AlterTableType_AT_SetOptions, pg_query.AlterTableType_AT_ResetOptions,
		pg_query.AlterTableType_AT_SetRelOptions, pg_query.AlterTableType_AT_ResetRelOptions,
		pg_query.AlterTableType_AT_SetNotNull, pg_query.AlterTableType_AT_DropNotNull,
		pg_query.AlterTableType_AT_DropConstraint, pg_query.AlterTableType_AT_ValidateConstraint:
		return true
	}
	return false
}

// keyNeutralStatement reports whether a statement between a key's drop
// and its replacement leaves the table's keys alone: it does not name the
// table, or only indexes it (not uniquely), comments on or grants it.
func keyNeutralStatement(n *pg_query.Node, table string) bool {
	switch {
	case n.GetDoStmt() != nil:
		return false // its body may do anything
	case n.GetGrantStmt() != nil, n.GetCommentStmt() != nil, n.GetTransactionStmt() != nil, n.GetVariableSetStmt() != nil:
		return true
	case n.GetIndexStmt() != nil:
		return !n.GetIndexStmt().Unique
	}
	named := false
	walk(n, func(m proto.Message) {
		if rv, ok := m.(*pg_query.RangeVar); ok && lint.RangeVarName(rv) == table {
			named = true
		}
	})
	return !named
}

// laterStatements are the statements after the current one.
func (p *planner) laterStatements() []*lint.Statement {
	for i, st := range p.stmts {
		if st == p.cur {
			return p.stmts[i+1:]
		}
	}
	return nil
}

func constraintKind(c *pg_query.Constraint) string {
	if c.Contype == pg_query.ConstrType_CONSTR_PRIMARY {
		return "primary"
	}
	return "unique"
}

// swapKey plans the replacement of sw's dropped constraint by con, named
// name on keys: a concurrent build under a temporary name, the NOT NULL
// checks a primary key needs, then the swap in one transaction.
func (p *planner) swapKey(at *pg_query.AlterTableStmt, table string, t *lint.Table, con *pg_query.Constraint, name string, keys []string, sw *keySwap, ph Phase) {
	primary := con.Contype == pg_query.ConstrType_CONSTR_PRIMARY
	what := "unique constraint " + name
	if primary {
		what = "primary key " + name
	}
	oldName := sw.drop.Name
	tmp := reservedName("swap", relName(table), name)
	ix := &pg_query.IndexStmt{Idxname: tmp, Relation: clone(at.Relation), AccessMethod: "",
		Unique: true, Concurrent: true, NullsNotDistinct: con.NullsNotDistinct, Options: con.Options, TableSpace: con.Indexspace}
	for _, k := range keys {
		ix.IndexParams = append(ix.IndexParams, indexElem(k))
	}
	for _, inc := range lint.ColumnNames(con.Including) {
		ix.IndexIncludingParams = append(ix.IndexIncludingParams, indexElem(inc))
	}
	p.add(ph, classConcurrent, "build the unique index for "+what+" concurrently under a temporary name, while "+oldName+
		" still holds (reads and writes go on; ON CONFLICT keeps working)",
		deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: ix}})+";",
		"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, tmp))+";",
		lock(table, lint.ShareUpdateExclusive))

	var nullable, checks []string
	if primary {
		for _, k := range keys {
			if c := t.Column(k); c != nil && c.NotNull {
				continue
			}
			nullable = append(nullable, k)
			checks = append(checks, p.notNullCheck(table, k, ph))
		}
	}

	using := &pg_query.Constraint{Contype: con.Contype, Conname: name, Indexname: tmp,
		Deferrable: con.Deferrable, Initdeferred: con.Initdeferred}
	swapSQL := joinSQL(
		alterTable(sw.dropStmt, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: sw.drop}}),
		alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: &pg_query.AlterTableCmd{
			Subtype: pg_query.AlterTableType_AT_AddConstraint, Def: &pg_query.Node{Node: &pg_query.Node_Constraint{Constraint: using}}}}}))
	locks := []lint.Lock{lock(table, lint.AccessExclusive)}
	cascade := sw.drop.Behavior == pg_query.DropBehavior_DROP_CASCADE
	desc := "swap the keys in one short transaction: drop " + oldName + " and attach the new index as " + what + " (catalog only)"
	if cascade {
		desc += "; CASCADE drops what depends on " + oldName + ", as written, and that cannot be undone"
		for _, child := range p.referencing(table) {
			locks = append(locks, lock(child, lint.AccessExclusive))
		}
	}
	undo := p.swapUndo(table, name, keys, primary, sw, nullable)
	if len(nullable) == 0 {
		p.add(ph, classDDL, desc, swapSQL, undo, locks...)
		return
	}
	p.setNotNull(table, nullable, checks, ph, swapSQL)
	s := p.steps[len(p.steps)-1]
	s.Description = "set NOT NULL on " + strings.Join(nullable, ", ") + " (no scan: validated checks), then " + desc + ", and drop the checks"
	s.Undo = undo
	s.Locks = sortLocks(append(s.Locks, locks...))
}

// swapUndo puts the old constraint back: a rename when the new one has
// its definition under another name, a check when it has the same name
// too, else the old constraint rebuilt (under ACCESS EXCLUSIVE, as its
// index no longer exists). Nothing when the old one is unknown or CASCADE
// dropped its dependents.
func (p *planner) swapUndo(table, name string, keys []string, primary bool, sw *keySwap, nullable []string) string {
	old := sw.old
	if old == nil || sw.drop.Behavior == pg_query.DropBehavior_DROP_CASCADE {
		return ""
	}
	tq := "ALTER TABLE " + qt(table) + " "
	var dropNN []string
	for _, c := range nullable {
		if !contains(old.Columns, c) {
			dropNN = append(dropNN, tq+"ALTER COLUMN "+qi(c)+" DROP NOT NULL;")
		}
	}
	newKind := "unique"
	if primary {
		newKind = "primary"
	}
	if old.Kind == newKind && slices.Equal(old.Columns, keys) {
		if old.Name != name {
			return joinSQL(append([]string{tq + "RENAME CONSTRAINT " + qi(name) + " TO " + qi(old.Name) + ";"}, dropNN...)...)
		}
		return joinSQL(append([]string{constraintCheck(table, name, newKind)}, dropNN...)...)
	}
	kind := "UNIQUE"
	if old.Kind == "primary" {
		kind = "PRIMARY KEY"
	}
	return joinSQL(append(append([]string{tq + "DROP CONSTRAINT IF EXISTS " + qi(name) + ";"}, dropNN...),
		tq+"ADD CONSTRAINT "+qi(old.Name)+" "+kind+" ("+identList(old.Columns)+");")...)
}

// referencing lists the model's tables with a foreign key to table.
func (p *planner) referencing(table string) []string {
	var out []string
	for _, t := range p.schema.Tables {
		for _, c := range t.Constraints {
			if c.Kind == "foreign" && c.RefTable == table && t.Name != table && !contains(out, t.Name) {
				out = append(out, t.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// dropCheck is a read-only DO block that fails the way DROP CONSTRAINT
// without CASCADE would: 42704 when the constraint is missing (unless IF
// EXISTS), 2BP01 when objects depend on it or on its index (foreign keys
// of other tables, views grouping by the key).
func dropCheck(table string, drop *pg_query.AlterTableCmd) string {
	reg, con := regclass(table), quoteLiteral(drop.Name)
	missing := ""
	if !drop.MissingOk {
		missing = "  IF NOT found_it THEN\n" +
			"    RAISE EXCEPTION 'constraint % of relation % does not exist', " + con + ", " + reg + " USING ERRCODE = 'undefined_object';\n" +
			"  END IF;\n"
	}
	return "DO " + checkTag + "\nDECLARE\n  found_it boolean;\n  deps text;\nBEGIN\n" +
		"  SELECT count(*) > 0, string_agg(pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO found_it, deps\n" +
		"  FROM pg_constraint c LEFT JOIN pg_depend d ON d.deptype = 'n'\n" +
		"    AND (d.refclassid = 'pg_constraint'::regclass AND d.refobjid = c.oid\n" +
		"      OR d.refclassid = 'pg_class'::regclass AND d.refobjid = c.conindid AND c.conindid <> 0)\n" +
		"  WHERE c.conrelid = " + reg + " AND c.conname = " + con + ";\n" + missing +
		"  IF deps IS NOT NULL THEN\n" +
		"    RAISE EXCEPTION 'cannot drop constraint % on table % because other objects depend on it', " + con + ", " + reg + "\n" +
		"      USING ERRCODE = 'dependent_objects_still_exist', DETAIL = deps || ' depend on it',\n" +
		"        HINT = 'Use DROP ... CASCADE to drop the dependent objects too, or drop them first.';\n" +
		"  END IF;\n" +
		"END\n" + checkTag + ";"
}

// constraintCheck is a read-only DO block that fails unless the table has
// the constraint, of the kind: the undo of a swap that put back an equal
// key under the same name has nothing to change, only to confirm.
func constraintCheck(table, name, kind string) string {
	contype := map[string]string{"primary": "p", "unique": "u"}[kind]
	return "DO " + checkTag + "\nBEGIN\n" +
		"  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = " + regclass(table) + " AND conname = " + quoteLiteral(name) +
		" AND contype = " + quoteLiteral(contype) + ") THEN\n" +
		"    RAISE EXCEPTION 'constraint % of % is missing; it should be back after this undo', " + quoteLiteral(name) + ", " + regclass(table) + ";\n" +
		"  END IF;\n" +
		"END\n" + checkTag + ";"
}
