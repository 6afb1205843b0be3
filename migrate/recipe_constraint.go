package migrate

import (
	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// constraintName is the name PostgreSQL gives an unnamed constraint, so
// that the VALIDATE and USING INDEX steps can refer to it.
func (p *planner) constraintName(table string, con *pg_query.Constraint, cols []string) string {
	if con.Conname != "" {
		return con.Conname
	}
	switch con.Contype {
	case pg_query.ConstrType_CONSTR_CHECK:
		refs := columnRefs(con.RawExpr)
		if len(cols) == 1 {
			refs = cols
		}
		if len(refs) == 1 {
			return pgDefaultName(table, refs, "check")
		}
		return pgDefaultName(table, nil, "check")
	case pg_query.ConstrType_CONSTR_FOREIGN:
		if fk := lint.ColumnNames(con.FkAttrs); len(fk) > 0 {
			cols = fk
		}
		return pgDefaultName(table, cols, "fkey")
	case pg_query.ConstrType_CONSTR_UNIQUE:
		if k := lint.ColumnNames(con.Keys); len(k) > 0 {
			cols = k
		}
		return pgDefaultName(table, cols, "key")
	case pg_query.ConstrType_CONSTR_PRIMARY:
		return pgDefaultName(table, nil, "pkey")
	case pg_query.ConstrType_CONSTR_EXCLUSION:
		return pgDefaultName(table, nil, "excl")
	}
	return pgDefaultName(table, cols, "constraint")
}

// addConstraint plans a constraint on an existing table. cols is the
// column of a column constraint (ADD COLUMN ... REFERENCES), nil for a
// table constraint. Constraint steps follow any backfill of the table
// planned before them: they check the data the backfill writes.
func (p *planner) addConstraint(at *pg_query.AlterTableStmt, table string, t *lint.Table, con *pg_query.Constraint, cols []string) {
	if con == nil {
		return
	}
	name := p.constraintName(table, con, cols)
	ph := p.afterBackfill(table)
	tq := qt(table)
	dropUndo := "ALTER TABLE " + tq + " DROP CONSTRAINT IF EXISTS " + qi(name) + ";"
	named := clone(con)
	named.Conname = name
	addSQL := func(c *pg_query.Constraint) string {
		return alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: &pg_query.AlterTableCmd{
			Subtype: pg_query.AlterTableType_AT_AddConstraint, Def: &pg_query.Node{Node: &pg_query.Node_Constraint{Constraint: c}}}}})
	}

	switch con.Contype {
	case pg_query.ConstrType_CONSTR_CHECK:
		named.SkipValidation, named.InitiallyValid = true, false
		p.add(ph, classDDL, "add CHECK "+name+" NOT VALID: new writes are checked, existing rows are not scanned",
			addSQL(named), dropUndo, lock(table, lint.AccessExclusive))
		p.validate(table, name, ph)

	case pg_query.ConstrType_CONSTR_FOREIGN:
		fkCols := lint.ColumnNames(con.FkAttrs)
		if len(fkCols) == 0 {
			fkCols = cols
			named.FkAttrs = nil
			for _, c := range cols {
				named.FkAttrs = append(named.FkAttrs, pg_query.MakeStrNode(c))
			}
		}
		ref := lint.RangeVarName(con.Pktable)
		if t != nil && t.Partitioned && p.opts.PGVersion < 18 {
			p.refuse(RuleForeignKey, "a NOT VALID foreign key on a partitioned table needs PostgreSQL 18; "+
				"add it to each partition NOT VALID and VALIDATE it there, then to the parent",
				addSQL(named), lock(table, lint.ShareRowExclusive), lock(ref, lint.ShareRowExclusive))
			return
		}
		if len(fkCols) > 0 && !p.schema.HasIndexLeading(table, fkCols) {
			ixName := pgDefaultName(table, fkCols, "idx")
			p.add(Expand, classConcurrent, "index the referencing columns concurrently, so deletes on "+lint.DisplayName(ref)+" do not scan "+lint.DisplayName(table),
				"CREATE INDEX CONCURRENTLY "+qi(ixName)+" ON "+tq+" ("+identList(fkCols)+");",
				"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, ixName))+";",
				lock(table, lint.ShareUpdateExclusive))
			p.schema.Indexes[inSchema(table, ixName)] = &lint.Index{Name: inSchema(table, ixName), Table: table, Columns: fkCols}
		}
		named.SkipValidation, named.InitiallyValid = true, false
		p.add(ph, classDDL, "add foreign key "+name+" NOT VALID: new writes are checked, no scan of either table",
			addSQL(named), dropUndo, lock(table, lint.ShareRowExclusive), lock(ref, lint.ShareRowExclusive))
		p.validate(table, name, ph, lock(ref, lint.RowShare))

	case pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
		keys := lint.ColumnNames(con.Keys)
		if len(keys) == 0 {
			keys = cols
		}
		primary := con.Contype == pg_query.ConstrType_CONSTR_PRIMARY
		if sw := p.swaps[con]; sw != nil {
			p.swapKey(at, table, t, con, name, keys, sw, ph)
			return
		}
		if t != nil && t.Partitioned {
			p.refuse(RuleRewrite, "USING INDEX is not supported on partitioned tables; add the constraint to each partition, or accept the outage",
				addSQL(named), lock(table, lint.AccessExclusive))
			return
		}
		ix := &pg_query.IndexStmt{Idxname: name, Relation: clone(at.Relation), AccessMethod: "",
			Unique: true, Concurrent: true, NullsNotDistinct: con.NullsNotDistinct, Options: con.Options, TableSpace: con.Indexspace}
		for _, k := range keys {
			ix.IndexParams = append(ix.IndexParams, indexElem(k))
		}
		for _, inc := range lint.ColumnNames(con.Including) {
			ix.IndexIncludingParams = append(ix.IndexIncludingParams, indexElem(inc))
		}
		p.add(ph, classConcurrent, "build the unique index for "+name+" concurrently (reads and writes go on)",
			deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: ix}})+";",
			"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, name))+";",
			lock(table, lint.ShareUpdateExclusive))
		using := &pg_query.Constraint{Contype: con.Contype, Conname: name, Indexname: name,
			Deferrable: con.Deferrable, Initdeferred: con.Initdeferred}
		if !primary {
			p.add(ph, classDDL, "attach the index as constraint "+name+" (catalog only)",
				addSQL(using), dropUndo, lock(table, lint.AccessExclusive))
			return
		}
		var nullable, checks []string
		for _, k := range keys {
			if c := t.Column(k); c != nil && c.NotNull {
				continue
			}
			nullable = append(nullable, k)
			checks = append(checks, p.notNullCheck(table, k, ph))
		}
		if len(nullable) == 0 {
			p.add(ph, classDDL, "attach the index as primary key "+name+" (catalog only)",
				addSQL(using), dropUndo, lock(table, lint.AccessExclusive))
			return
		}
		p.setNotNull(table, nullable, checks, ph, addSQL(using))
		p.steps[len(p.steps)-1].Description = "set NOT NULL on the key columns (no scan: validated checks), attach the index as primary key " + name + ", drop the checks"
		p.steps[len(p.steps)-1].Undo = dropUndo

	case pg_query.ConstrType_CONSTR_EXCLUSION:
		p.refuse(RuleExclusion, "an exclusion constraint cannot be added NOT VALID or USING INDEX: it builds its index under ACCESS EXCLUSIVE; "+
			"no online path (build it on a new table filled by dual writes, or accept the outage)",
			addSQL(named), lock(table, lint.AccessExclusive))
	}
}

func indexElem(col string) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_IndexElem{IndexElem: &pg_query.IndexElem{Name: col,
		Ordering: pg_query.SortByDir_SORTBY_DEFAULT, NullsOrdering: pg_query.SortByNulls_SORTBY_NULLS_DEFAULT}}}
}
