package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Apply updates the model with what st does. Statements the model does not
// track leave it unchanged; unknown tables are left unknown rather than
// invented, so rules can tell "known shape" from "no idea".
func (s *Schema) Apply(st *Statement) {
	n := st.Node
	if n == nil {
		return
	}
	switch {
	case n.GetCreateStmt() != nil:
		s.applyCreateTable(st, n.GetCreateStmt())
	case n.GetCreateTableAsStmt() != nil:
		ctas := n.GetCreateTableAsStmt()
		if ctas.Into != nil && ctas.Into.Rel != nil {
			kind := "table"
			if ctas.Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
				kind = "matview"
			}
			name := RangeVarName(ctas.Into.Rel)
			s.putTable(name, &Table{Name: name, Kind: kind, Origin: st.Source, CreatedTx: st.Tx})
		}
	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		name := RangeVarName(v.View)
		if _, ok := s.Tables[name]; !ok {
			s.putTable(name, &Table{Name: name, Kind: "view", Origin: st.Source, CreatedTx: st.Tx})
		}
	case n.GetAlterTableStmt() != nil:
		s.applyAlterTable(st, n.GetAlterTableStmt())
	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		table := RangeVarName(ix.Relation)
		name := ix.Idxname
		if name == "" {
			name = DisplayName(table) + "_idx"
		}
		q := schemaOf(table) + "." + name
		cols := make([]string, 0, len(ix.IndexParams))
		for _, p := range ix.IndexParams {
			if ie := p.GetIndexElem(); ie != nil {
				cols = append(cols, ie.Name) // "" for expressions: never matches an FK column
			}
		}
		s.putIndex(q, &Index{Name: q, Table: table, Columns: cols, Unique: ix.Unique, Only: ix.Relation != nil && !ix.Relation.Inh})
	case n.GetDropStmt() != nil:
		s.applyDrop(n.GetDropStmt())
	case n.GetRenameStmt() != nil:
		s.applyRename(n.GetRenameStmt())
	case n.GetCreateEnumStmt() != nil:
		e := n.GetCreateEnumStmt()
		name := qualify(NameList(e.TypeName))
		s.Types[name] = &Type{Name: name, Kind: "enum", AddedValues: map[string]int{}, Origin: st.Source}
	case n.GetCreateDomainStmt() != nil:
		d := n.GetCreateDomainStmt()
		name := qualify(NameList(d.Domainname))
		t := &Type{Name: name, Kind: "domain", Base: TypeNameOf(d.TypeName), Origin: st.Source}
		for _, c := range d.Constraints {
			if con := c.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_CHECK {
				t.HasCheck = true
			}
		}
		s.Types[name] = t
	case n.GetAlterEnumStmt() != nil:
		e := n.GetAlterEnumStmt()
		name := qualify(NameList(e.TypeName))
		t := s.Types[name]
		if t == nil {
			t = &Type{Name: name, Kind: "enum", AddedValues: map[string]int{}}
			s.Types[name] = t
		}
		if e.NewVal != "" && e.OldVal == "" {
			if t.AddedValues == nil {
				t.AddedValues = map[string]int{}
			}
			t.AddedValues[e.NewVal] = st.Tx
		}
	case n.GetAlterDomainStmt() != nil:
		d := n.GetAlterDomainStmt()
		if d.Subtype == "C" { // ADD CONSTRAINT
			if t := s.Types[qualify(NameList(d.TypeName))]; t != nil {
				t.HasCheck = true
			}
		}
	}
}

func schemaOf(qualified string) string {
	if i := strings.IndexByte(qualified, '.'); i >= 0 {
		return qualified[:i]
	}
	return "public"
}

func (s *Schema) applyCreateTable(st *Statement, cs *pg_query.CreateStmt) {
	name := RangeVarName(cs.Relation)
	t := &Table{Name: name, Kind: "table", Origin: st.Source, CreatedTx: st.Tx,
		Partitioned: cs.Partspec != nil,
		Unlogged:    cs.Relation != nil && cs.Relation.Relpersistence == "u"}
	if cs.Partbound != nil && len(cs.InhRelations) > 0 {
		if rv := cs.InhRelations[0].GetRangeVar(); rv != nil {
			t.PartitionOf = RangeVarName(rv)
			if parent := s.Tables[t.PartitionOf]; parent != nil {
				for _, c := range parent.Columns {
					cc := *c
					t.Columns = append(t.Columns, &cc)
				}
			}
		}
	}
	for _, elt := range cs.TableElts {
		if cd := elt.GetColumnDef(); cd != nil {
			s.addColumn(st, t, cd)
		} else if con := elt.GetConstraint(); con != nil {
			s.addConstraint(st, t, con, nil, true)
		}
	}
	s.putTable(name, t)
}

func (s *Schema) addColumn(st *Statement, t *Table, cd *pg_query.ColumnDef) {
	c := &Column{Name: cd.Colname, Type: TypeNameOf(cd.TypeName), NotNull: cd.IsNotNull}
	if cd.RawDefault != nil {
		c.HasDefault = true
	}
	switch c.Type.Name {
	case "serial", "bigserial", "smallserial":
		c.NotNull, c.HasDefault = true, true
	}
	if cd.Identity != "" {
		c.Identity, c.NotNull = true, true
	}
	if existing := t.Column(c.Name); existing != nil {
		*existing = *c
	} else {
		t.Columns = append(t.Columns, c)
	}
	for _, cn := range cd.Constraints {
		con := cn.GetConstraint()
		if con == nil {
			continue
		}
		switch con.Contype {
		case pg_query.ConstrType_CONSTR_NOTNULL:
			c.NotNull = true
		case pg_query.ConstrType_CONSTR_DEFAULT:
			c.HasDefault = true
		case pg_query.ConstrType_CONSTR_IDENTITY:
			c.Identity, c.NotNull = true, true
		case pg_query.ConstrType_CONSTR_GENERATED:
			c.Generated = true
		default:
			s.addConstraint(st, t, con, []string{c.Name}, true)
			if con.Contype == pg_query.ConstrType_CONSTR_PRIMARY {
				c.NotNull = true
			}
		}
	}
}

// addConstraint records a table constraint. cols is the column a column
// constraint is attached to; created says the constraint is valid from the
// start (CREATE TABLE) rather than added by ALTER TABLE.
func (s *Schema) addConstraint(st *Statement, t *Table, con *pg_query.Constraint, cols []string, created bool) {
	c := &Constraint{Name: con.Conname, Valid: !con.SkipValidation || created, Tx: st.Tx, Origin: st.Source}
	switch con.Contype {
	case pg_query.ConstrType_CONSTR_CHECK:
		c.Kind = "check"
		c.NotNullOf = notNullCheckColumn(con.RawExpr)
		c.Columns = cols
		if len(c.Columns) == 0 {
			c.Columns = exprColumns(con.RawExpr)
		}
	case pg_query.ConstrType_CONSTR_FOREIGN:
		c.Kind = "foreign"
		c.Columns = ColumnNames(con.FkAttrs)
		if len(c.Columns) == 0 {
			c.Columns = cols
		}
		c.RefTable = RangeVarName(con.Pktable)
		c.RefColumns = ColumnNames(con.PkAttrs)
	case pg_query.ConstrType_CONSTR_UNIQUE:
		c.Kind = "unique"
		c.Columns = ColumnNames(con.Keys)
	case pg_query.ConstrType_CONSTR_PRIMARY:
		c.Kind = "primary"
		c.Columns = ColumnNames(con.Keys)
	case pg_query.ConstrType_CONSTR_EXCLUSION:
		c.Kind = "exclude"
	case pg_query.ConstrType_CONSTR_NOTNULL:
		c.Kind = "notnull"
		c.Columns = ColumnNames(con.Keys)
	default:
		return
	}
	if len(c.Columns) == 0 {
		c.Columns = cols
	}
	if con.Indexname != "" && (c.Kind == "unique" || c.Kind == "primary") {
		if ix := s.Indexes[schemaOf(t.Name)+"."+con.Indexname]; ix != nil {
			c.Columns = ix.Columns
		}
	}
	if c.Kind == "primary" {
		for _, name := range c.Columns {
			if col := t.Column(name); col != nil {
				col.NotNull = true
			}
		}
	}
	if c.Name == "" {
		c.Name = defaultConstraintName(t, c)
	}
	t.Constraints = append(t.Constraints, c)
}

// defaultConstraintName mimics PostgreSQL's naming so that a later
// VALIDATE or DROP CONSTRAINT of an unnamed constraint finds it.
func defaultConstraintName(t *Table, c *Constraint) string {
	base := DisplayName(t.Name)
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	col := strings.Join(c.Columns, "_")
	switch c.Kind {
	case "primary":
		return base + "_pkey"
	case "foreign":
		return base + "_" + col + "_fkey"
	case "unique":
		return base + "_" + col + "_key"
	case "check":
		if col == "" && c.NotNullOf != "" {
			col = c.NotNullOf
		}
		return base + "_" + col + "_check"
	case "exclude":
		return base + "_excl"
	}
	return base + "_" + col + "_not_null"
}

// notNullCheckColumn returns col for an expression "col IS NOT NULL".
func notNullCheckColumn(expr *pg_query.Node) string {
	nt := expr.GetNullTest()
	if nt == nil || nt.Nulltesttype != pg_query.NullTestType_IS_NOT_NULL {
		return ""
	}
	cr := nt.Arg.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 {
		return ""
	}
	return StringValue(cr.Fields[0])
}

func (s *Schema) applyAlterTable(st *Statement, at *pg_query.AlterTableStmt) {
	if at.Objtype == pg_query.ObjectType_OBJECT_INDEX {
		return
	}
	key := RangeVarName(at.Relation)
	t := s.Tables[key]
	if t == nil {
		return
	}
	defer s.constraintsChanged(key)
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AddColumn:
			if cd := cmd.Def.GetColumnDef(); cd != nil {
				s.addColumn(st, t, cd)
			}
		case pg_query.AlterTableType_AT_DropColumn:
			for i, c := range t.Columns {
				if c.Name == cmd.Name {
					t.Columns = append(t.Columns[:i], t.Columns[i+1:]...)
					break
				}
			}
			kept := t.Constraints[:0]
			for _, c := range t.Constraints {
				if !contains(c.Columns, cmd.Name) && c.NotNullOf != cmd.Name {
					kept = append(kept, c)
				}
			}
			t.Constraints = kept
			for _, key := range s.indexKeysOn(t.Name) {
				if contains(s.Indexes[key].Columns, cmd.Name) {
					s.deleteIndex(key)
				}
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			if c := t.Column(cmd.Name); c != nil {
				if cd := cmd.Def.GetColumnDef(); cd != nil {
					c.Type = TypeNameOf(cd.TypeName)
				}
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			if c := t.Column(cmd.Name); c != nil {
				c.NotNull = true
			}
		case pg_query.AlterTableType_AT_DropNotNull:
			if c := t.Column(cmd.Name); c != nil {
				c.NotNull = false
			}
		case pg_query.AlterTableType_AT_ColumnDefault:
			if c := t.Column(cmd.Name); c != nil {
				c.HasDefault = cmd.Def != nil
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			if con := cmd.Def.GetConstraint(); con != nil {
				s.addConstraint(st, t, con, nil, false)
			}
		case pg_query.AlterTableType_AT_ValidateConstraint:
			if c := t.Constraint(cmd.Name); c != nil {
				c.Valid = true
				c.Tx = st.Tx
				c.Origin = st.Source
			}
		case pg_query.AlterTableType_AT_DropConstraint:
			for i, c := range t.Constraints {
				if c.Name == cmd.Name {
					t.Constraints = append(t.Constraints[:i], t.Constraints[i+1:]...)
					break
				}
			}
			for _, key := range s.indexKeysOn(t.Name) {
				if cmd.Name != "" && s.Indexes[key].Constraint == cmd.Name {
					s.deleteIndex(key)
				}
			}
		case pg_query.AlterTableType_AT_AttachPartition:
			if pc := cmd.Def.GetPartitionCmd(); pc != nil {
				if key := RangeVarName(pc.Name); s.Tables[key] != nil {
					s.setPartitionOf(key, s.Tables[key], t.Name)
				}
			}
		case pg_query.AlterTableType_AT_DetachPartition:
			if pc := cmd.Def.GetPartitionCmd(); pc != nil {
				if key := RangeVarName(pc.Name); s.Tables[key] != nil {
					s.setPartitionOf(key, s.Tables[key], "")
				}
			}
		case pg_query.AlterTableType_AT_SetLogged:
			t.Unlogged = false
		case pg_query.AlterTableType_AT_SetUnLogged:
			t.Unlogged = true
		}
	}
}

func (s *Schema) applyDrop(ds *pg_query.DropStmt) {
	for _, obj := range ds.Objects {
		var name string
		if l := obj.GetList(); l != nil {
			name = qualify(NameList(l.Items))
		} else if tn := obj.GetTypeName(); tn != nil {
			name = qualify(NameList(tn.Names))
		} else {
			name = qualify(StringValue(obj))
		}
		switch ds.RemoveType {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
			s.deleteTable(name)
			for _, key := range s.indexKeysOn(name) {
				s.deleteIndex(key)
			}
		case pg_query.ObjectType_OBJECT_INDEX:
			s.deleteIndex(name)
		case pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
			delete(s.Types, name)
		}
	}
}

func (s *Schema) applyRename(rs *pg_query.RenameStmt) {
	switch rs.RenameType {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
		old := RangeVarName(rs.Relation)
		t := s.Tables[old]
		if t == nil {
			return
		}
		s.deleteTable(old)
		t.Name = schemaOf(old) + "." + rs.Newname
		s.putTable(t.Name, t)
		s.retableIndexes(old, t.Name)
	case pg_query.ObjectType_OBJECT_COLUMN:
		t := s.Tables[RangeVarName(rs.Relation)]
		if c := t.Column(rs.Subname); c != nil {
			c.Name = rs.Newname
			for _, con := range t.Constraints {
				for i, col := range con.Columns {
					if col == rs.Subname {
						con.Columns[i] = rs.Newname
					}
				}
				if con.NotNullOf == rs.Subname {
					con.NotNullOf = rs.Newname
				}
			}
			for _, other := range s.Tables {
				for _, con := range other.Constraints {
					if con.RefTable != t.Name {
						continue
					}
					for i, col := range con.RefColumns {
						if col == rs.Subname {
							con.RefColumns[i] = rs.Newname
						}
					}
				}
			}
			for _, ix := range s.IndexesOn(t.Name) {
				for i, col := range ix.Columns {
					if col == rs.Subname {
						ix.Columns[i] = rs.Newname
					}
				}
			}
		}
	case pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		table := RangeVarName(rs.Relation)
		if c := s.Tables[table].Constraint(rs.Subname); c != nil {
			c.Name = rs.Newname
		}
		for _, key := range s.indexKeysOn(table) {
			if ix := s.Indexes[key]; ix.Constraint == rs.Subname {
				ix.Constraint = rs.Newname
				ix.Name = schemaOf(table) + "." + rs.Newname
				s.renameIndexKey(key, ix.Name, ix)
			}
		}
	case pg_query.ObjectType_OBJECT_INDEX:
		old := RangeVarName(rs.Relation)
		if ix := s.Indexes[old]; ix != nil {
			ix.Name = schemaOf(old) + "." + rs.Newname
			s.renameIndexKey(old, ix.Name, ix)
			if c := s.Tables[ix.Table].Constraint(ix.Constraint); ix.Constraint != "" && c != nil {
				c.Name = rs.Newname
				ix.Constraint = rs.Newname
			}
		}
	}
}
