package migrate

// What the column swap of R4/R5 carries across besides the column's
// indexes and unique constraints: the constraints naive ALTER ... TYPE
// re-creates (checks and foreign keys on the column, other tables' foreign
// keys pointing at it), the identity and its sequence, and sequence
// ownership. What it cannot carry is refused at plan time.

import (
	"sort"
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// RuleRenamingColumn is the rule a refused rename names: --allow-unsafe
// with it runs the statement as written.
const RuleRenamingColumn = "renaming-column"

// swapVar is the transaction-local setting that hands the statements
// re-creating the carried objects from the capture block (before the old
// column is dropped) to the restore block (after the new one has its
// name, NOT NULL and key).
const swapVar = "migrate.swap_restore"

// carriedConstraint is a constraint the swap drops and re-adds NOT VALID
// under its own name, validated in a following step.
type carriedConstraint struct {
	table    string // the constraint's table
	name     string
	refTable string // FOREIGN KEY target, locked by the validation
	valid    bool   // validated before the migration: validate it again
	// referencing are the columns of a foreign key pointing at the swapped
	// column ("children.parent_id"): they keep their type, as with naive.
	referencing []string
}

// carriedConstraints lists the check and foreign key constraints on col
// of table and the foreign keys of any table (table itself included)
// that reference col, in a stable order.
func (p *planner) carriedConstraints(table string, t *lint.Table, col string) []carriedConstraint {
	var out []carriedConstraint
	seen := map[string]bool{}
	addCon := func(owner string, c *lint.Constraint, referencing []string) {
		if k := owner + "\x00" + c.Name; !seen[k] {
			seen[k] = true
			out = append(out, carriedConstraint{table: owner, name: c.Name, refTable: c.RefTable, valid: c.Valid, referencing: referencing})
		}
	}
	for _, c := range constraintsOf(t) {
		if (c.Kind == "check" || c.Kind == "foreign") && contains(c.Columns, col) {
			addCon(table, c, nil)
		}
	}
	for _, name := range p.tableNames() {
		for _, c := range p.schema.Tables[name].Constraints {
			if c.Kind != "foreign" || c.RefTable != table {
				continue
			}
			refs := p.referencedColumns(t, c)
			if i := indexOf(refs, col); i >= 0 {
				var referencing []string
				if i < len(c.Columns) && !(name == table && c.Columns[i] == col) {
					referencing = []string{lint.DisplayName(name) + "." + c.Columns[i]}
				}
				addCon(name, c, referencing)
			}
		}
	}
	return out
}

// referencedColumns are the columns a foreign key points at: its own
// list, or the referenced table's primary key.
func (p *planner) referencedColumns(ref *lint.Table, fk *lint.Constraint) []string {
	if len(fk.RefColumns) > 0 {
		return fk.RefColumns
	}
	for _, c := range constraintsOf(ref) {
		if c.Kind == "primary" {
			return c.Columns
		}
	}
	return nil
}

func (p *planner) tableNames() []string {
	names := make([]string, 0, len(p.schema.Tables))
	for name := range p.schema.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// swapBlockers names what depends on col and the swap cannot carry;
// byDefinition says constraints re-created from their definitions are
// carried (true when the column keeps its name).
func (p *planner) swapBlockers(table string, t *lint.Table, col string, byDefinition bool) []string {
	c := t.Column(col)
	if c == nil {
		return nil
	}
	var out []string
	if c.Generated {
		out = append(out, "the column is generated (the copy would be a plain column)")
	}
	out = append(out, c.Dependents...)
	for _, con := range constraintsOf(t) {
		if con.Kind == "exclude" && contains(con.Columns, col) {
			out = append(out, "exclusion constraint "+con.Name+" on "+lint.DisplayName(table))
		}
	}
	for _, cc := range p.carriedConstraints(table, t, col) {
		switch {
		case !byDefinition:
			out = append(out, "constraint "+cc.name+" on "+lint.DisplayName(cc.table))
		case cc.refTable != "" && p.schema.Table(cc.table).Partitioned:
			out = append(out, "foreign key "+cc.name+" of partitioned table "+lint.DisplayName(cc.table)+
				" (PostgreSQL cannot re-add it NOT VALID)")
		}
	}
	return out
}

// refuseSwap reports that the column swap cannot carry blockers; the
// statement runs as written only with --allow-unsafe rule.
func (p *planner) refuseSwap(rule, table, col, sql string, blockers []string) {
	p.refuse(rule, "the online column swap would drop or be blocked by what depends on "+lint.DisplayName(table)+"."+col+": "+
		strings.Join(blockers, "; ")+". Nothing was changed. Manual path: drop these objects, run the statement as written "+
		"(it rewrites or locks "+lint.DisplayName(table)+" under ACCESS EXCLUSIVE; --allow-unsafe "+rule+") and re-create them, "+
		"in a maintenance window", sql, lock(table, lint.AccessExclusive))
}

// swapCaptureSQL is run in the swap transaction once the table is locked
// (after DROP TRIGGER) and before the old column is dropped: it reads the
// old column's comment, privileges, statistics target and replica
// identity, reads the definitions of the carried constraints and drops
// them, reads the old
// column's identity (kind, sequence name and options, current value,
// grants), and leaves the statements that re-create them in swapVar for
// swapRestoreSQL. Reading the sequence's value only under the table's
// ACCESS EXCLUSIVE lock means no insert can take a value in between.
// final is the name the new column has when the restore runs.
func swapCaptureSQL(table, old, final string, cons []carriedConstraint, identity bool) string {
	reg := regclass(table)
	var b strings.Builder
	oldLit, finalLit := quoteLiteral(old), quoteLiteral(final)
	b.WriteString("DO $migrate$\nDECLARE\n  later text := '';\n  att int2;\n  r record;\n  seq regclass;\n  lv bigint;\n  called boolean;\nBEGIN\n")
	// The column's own properties DROP COLUMN loses and ALTER ... TYPE
	// keeps: comment, column privileges, statistics target, and the
	// replica identity index (re-created under its name by the swap).
	b.WriteString("  SELECT attnum INTO att FROM pg_attribute WHERE attrelid = " + reg + " AND attname = " + oldLit + " AND NOT attisdropped;\n" +
		"  SELECT later || CASE WHEN col_description(" + reg + ", att) IS NULL THEN ''\n" +
		"      ELSE format(E'COMMENT ON COLUMN %s.%I IS %L;\\n', " + reg + ", " + finalLit + ", col_description(" + reg + ", att)) END\n" +
		"    || CASE WHEN a.attstattarget >= 0 THEN format(E'ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s;\\n', " + reg + ", " + finalLit + ", a.attstattarget) ELSE '' END\n" +
		"    || coalesce((SELECT string_agg(format(E'GRANT %s (%I) ON %s TO %s%s;\\n', x.privilege_type, " + finalLit + ", " + reg + ",\n" +
		"         CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) END,\n" +
		"         CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), '') FROM aclexplode(a.attacl) x), '')\n" +
		"    || coalesce((SELECT format(E'ALTER TABLE %s REPLICA IDENTITY USING INDEX %I;\\n', " + reg + ", c.relname)\n" +
		"         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid\n" +
		"         WHERE i.indrelid = " + reg + " AND i.indisreplident AND t.relreplident = 'i' AND att = ANY (i.indkey::int2[])), '')\n" +
		"    INTO later FROM pg_attribute a WHERE a.attrelid = " + reg + " AND a.attnum = att;\n")
	if len(cons) > 0 {
		conds := make([]string, len(cons))
		for i, c := range cons {
			conds[i] = "(con.conrelid = " + regclass(c.table) + " AND con.conname = " + quoteLiteral(c.name) + ")"
		}
		b.WriteString("  FOR r IN SELECT con.conrelid::regclass AS rel, con.conname, pg_get_constraintdef(con.oid) AS def FROM pg_constraint con\n" +
			"    WHERE " + strings.Join(conds, "\n       OR ") + "\n    ORDER BY con.conname\n  LOOP\n" +
			"    later := later || format(E'ALTER TABLE %s ADD CONSTRAINT %I %s%s;\\n', r.rel, r.conname, r.def,\n" +
			"      CASE WHEN r.def LIKE '% NOT VALID' THEN '' ELSE ' NOT VALID' END);\n" +
			"    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.rel, r.conname);\n  END LOOP;\n")
	}
	if identity {
		// ALTER ... TYPE keeps the sequence and changes its type; a bound
		// that was the old type's default becomes the new type's (the
		// rule of ALTER SEQUENCE ... AS): NO MINVALUE / NO MAXVALUE.
		typeMax := "CASE s.seqtypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647 ELSE 9223372036854775807 END"
		typeMin := "CASE s.seqtypid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648 ELSE -9223372036854775808 END"
		b.WriteString("  SELECT d.objid::regclass INTO seq FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid\n" +
			"  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i'\n" +
			"    AND d.refobjid = " + reg + " AND a.attnum = att;\n" +
			"  IF seq IS NOT NULL THEN\n" +
			"    EXECUTE format('SELECT last_value, is_called FROM %s', seq) INTO lv, called;\n" +
			"    SELECT later || format(E'ALTER TABLE %s ALTER COLUMN %I ADD GENERATED %s AS IDENTITY (SEQUENCE NAME %s START WITH %s INCREMENT BY %s %s %s CACHE %s %s);\\nSELECT setval(%L, %s, %L);\\n',\n" +
			"        " + reg + ", " + finalLit + ", CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END,\n" +
			"        quote_ident(sn.nspname) || '.' || quote_ident(sc.relname), s.seqstart, s.seqincrement,\n" +
			"        CASE WHEN s.seqincrement > 0 AND s.seqmax = " + typeMax + " THEN 'NO MAXVALUE' ELSE 'MAXVALUE ' || s.seqmax END,\n" +
			"        CASE WHEN s.seqincrement < 0 AND s.seqmin = " + typeMin + " THEN 'NO MINVALUE' ELSE 'MINVALUE ' || s.seqmin END,\n" +
			"        s.seqcache, CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END,\n" +
			"        quote_ident(sn.nspname) || '.' || quote_ident(sc.relname), lv, called)\n" +
			"      || coalesce(string_agg(format(E'GRANT %s ON SEQUENCE %s TO %s%s;\\n', x.privilege_type,\n" +
			"           quote_ident(sn.nspname) || '.' || quote_ident(sc.relname),\n" +
			"           CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) END,\n" +
			"           CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), '') FILTER (WHERE x.grantee IS NOT NULL), '')\n" +
			"      INTO later\n" +
			"    FROM pg_sequence s JOIN pg_class sc ON sc.oid = s.seqrelid JOIN pg_namespace sn ON sn.oid = sc.relnamespace\n" +
			"    JOIN pg_attribute a ON a.attrelid = " + reg + " AND a.attnum = att\n" +
			"    LEFT JOIN LATERAL aclexplode(sc.relacl) x ON x.grantee <> sc.relowner\n" +
			"    WHERE s.seqrelid = seq\n" +
			"    GROUP BY a.attidentity, sn.nspname, sc.relname, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqtypid, s.seqcache, s.seqcycle;\n" +
			"  END IF;\n")
	}
	b.WriteString("  PERFORM set_config(" + quoteLiteral(swapVar) + ", later, true);\nEND\n$migrate$;")
	return b.String()
}

// swapRestoreSQL runs what swapCaptureSQL left in swapVar. When the new
// column took the old one's name (final), it also renames the index
// columns the copies got from the new column's name: an index column
// keeps the name it was built with (\d index shows it), and naive's
// rebuilt indexes have the column's.
func swapRestoreSQL(table, newCol, final string) string {
	var b strings.Builder
	b.WriteString("DO $migrate$\n")
	if newCol != final {
		b.WriteString("DECLARE\n  ix regclass;\n")
	}
	b.WriteString("BEGIN\n  IF current_setting(" + quoteLiteral(swapVar) + ", true) <> '' THEN\n" +
		"    EXECUTE current_setting(" + quoteLiteral(swapVar) + ");\n  END IF;\n")
	if newCol != final {
		b.WriteString("  FOR ix IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indexrelid\n" +
			"    WHERE i.indrelid = " + regclass(table) + " AND a.attname = " + quoteLiteral(newCol) + "\n" +
			"  LOOP\n" +
			"    EXECUTE format('ALTER TABLE %s RENAME COLUMN %I TO %I', ix, " + quoteLiteral(newCol) + ", " + quoteLiteral(final) + ");\n" +
			"  END LOOP;\n")
	}
	b.WriteString("END\n$migrate$;")
	return b.String()
}

// parseIndexDef parses pg_get_indexdef output, or returns nil.
func parseIndexDef(def string) *pg_query.IndexStmt {
	if def == "" {
		return nil
	}
	res, err := pg_query.Parse(def)
	if err != nil || len(res.Stmts) != 1 {
		return nil
	}
	return res.Stmts[0].Stmt.GetIndexStmt()
}

// indexUses reports whether the index defined by def reads col, as a
// key, an INCLUDE column, in an expression or in its predicate.
func indexUses(def, col string) bool {
	ix := parseIndexDef(def)
	if ix == nil {
		return false
	}
	used := false
	walk(ix, func(m proto.Message) {
		switch n := m.(type) {
		case *pg_query.IndexElem:
			used = used || n.Name == col
		case *pg_query.ColumnRef:
			used = used || (len(n.Fields) == 1 && lint.StringValue(n.Fields[0]) == col)
		}
	})
	return used
}

// indexCopySQL builds, from an index's definition, a CONCURRENTLY copy
// named copyName that reads column nc where the index reads old: same
// method, operator classes, order, INCLUDE list, expressions, predicate
// and storage, so that once renamed it is the index naive ALTER ... TYPE
// rebuilds. It returns "" when def is empty or does not parse.
func indexCopySQL(def, old, nc, copyName string) string {
	ix := parseIndexDef(def)
	if ix == nil {
		return ""
	}
	ix.Idxname = copyName
	ix.Concurrent = true
	ix.IfNotExists = false
	walk(ix, func(m proto.Message) {
		switch n := m.(type) {
		case *pg_query.IndexElem:
			if n.Name == old {
				n.Name = nc
			}
		case *pg_query.ColumnRef:
			if len(n.Fields) == 1 && lint.StringValue(n.Fields[0]) == old {
				n.Fields[0] = pg_query.MakeStrNode(nc)
			}
		}
	})
	sql := deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: ix}})
	if sql == "" {
		return ""
	}
	return strings.TrimSuffix(sql, ";") + ";"
}

// deferrableSQL is the DEFERRABLE clause of a constraint definition, for
// re-attaching a unique or primary key constraint USING INDEX.
func deferrableSQL(def string) string {
	switch {
	case strings.HasSuffix(def, " DEFERRABLE INITIALLY DEFERRED"):
		return " DEFERRABLE INITIALLY DEFERRED"
	case strings.HasSuffix(def, " DEFERRABLE"):
		return " DEFERRABLE"
	}
	return ""
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// swapSummary describes what the new column takes over (takes) and what
// else the swap re-creates (more), for the swap step's description.
func swapSummary(identity bool, carried []carriedConstraint) (takes, more string) {
	takes = "default and indexes"
	if identity {
		takes = "identity (same sequence, options and value), " + takes
	}
	if len(carried) == 0 {
		return takes, ""
	}
	var names, referencing []string
	for _, cc := range carried {
		names = append(names, cc.name)
		referencing = append(referencing, cc.referencing...)
	}
	more = "; re-create " + strings.Join(names, ", ") + " NOT VALID (validated next)"
	if len(referencing) > 0 {
		more += "; " + strings.Join(referencing, ", ") + " keep their type, as with the statement as written " +
			"(widen them with their own ALTER COLUMN ... TYPE)"
	}
	return takes, more
}

// validateCarried validates, after the swap, the carried constraints
// that were valid before it; naive keeps a NOT VALID one NOT VALID.
func (p *planner) validateCarried(carried []carriedConstraint) {
	for _, cc := range carried {
		if !cc.valid {
			continue
		}
		var extra []lint.Lock
		if cc.refTable != "" {
			extra = append(extra, lock(cc.refTable, lint.RowShare))
		}
		p.validate(cc.table, cc.name, Contract, extra...)
	}
}
