package migrate

import (
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// columnParts splits an added column's inline constraints.
type columnParts struct {
	def       *pg_query.Node // DEFAULT expression
	notNull   bool
	identity  bool
	generated bool
	others    []*pg_query.Constraint // CHECK, REFERENCES, UNIQUE, PRIMARY KEY
}

func splitColumn(cd *pg_query.ColumnDef) columnParts {
	cp := columnParts{def: cd.RawDefault, notNull: cd.IsNotNull, identity: cd.Identity != ""}
	for _, cn := range cd.Constraints {
		con := cn.GetConstraint()
		if con == nil {
			continue
		}
		switch con.Contype {
		case pg_query.ConstrType_CONSTR_NOTNULL:
			cp.notNull = true
		case pg_query.ConstrType_CONSTR_DEFAULT:
			cp.def = con.RawExpr
		case pg_query.ConstrType_CONSTR_IDENTITY:
			cp.identity = true
		case pg_query.ConstrType_CONSTR_GENERATED:
			cp.generated = true
		case pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_FOREIGN,
			pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
			if con.Contype == pg_query.ConstrType_CONSTR_PRIMARY {
				cp.notNull = true
			}
			cp.others = append(cp.others, con)
		}
	}
	return cp
}

// rewritingDefault reports whether ADD COLUMN with this default rewrites
// the table: volatile defaults always, any default before PostgreSQL 11.
func (p *planner) rewritingDefault(def *pg_query.Node) bool {
	if def == nil {
		return false
	}
	if c := def.GetAConst(); c != nil && c.Isnull {
		return false
	}
	return p.opts.PGVersion < 11 || isVolatile(def)
}

func (p *planner) addColumnNeedsRecipe(cd *pg_query.ColumnDef) bool {
	if cd == nil {
		return false
	}
	cp := splitColumn(cd)
	typ := lint.TypeNameOf(cd.TypeName)
	switch typ.Name {
	case "serial", "bigserial", "smallserial":
		return true
	}
	if dt := p.schema.Types[qualifyName(typ.Name)]; dt != nil && dt.HasCheck {
		return true
	}
	return cp.identity || cp.generated || len(cp.others) > 0 ||
		p.rewritingDefault(cp.def) || (cp.notNull && cp.def == nil)
}

// addColumn plans ADD COLUMN whose default rewrites the table (R1), whose
// NOT NULL needs R3, or whose inline constraints need their own recipes
// (A8): the plain column first, then each part.
func (p *planner) addColumn(at *pg_query.AlterTableStmt, table string, t *lint.Table, cmd *pg_query.AlterTableCmd) {
	cd := cmd.Def.GetColumnDef()
	cp := splitColumn(cd)
	col := cd.Colname
	one := alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}})
	ael := lock(table, lint.AccessExclusive)
	typ := lint.TypeNameOf(cd.TypeName)
	switch {
	case typ.Name == "serial" || typ.Name == "bigserial" || typ.Name == "smallserial" || cp.identity:
		p.refuse(RuleSerialColumn, "an auto-increment or identity column rewrites the table under ACCESS EXCLUSIVE; "+
			"add a plain bigint column with a sequence default, backfill it, then add the identity (locks.md R2)", one, ael)
		return
	case cp.generated:
		p.refuse(RuleGeneratedColumn, "a stored generated column rewrites the table under ACCESS EXCLUSIVE; "+
			"add a plain column kept current by a BEFORE INSERT OR UPDATE trigger and backfill it", one, ael)
		return
	case cp.notNull && cp.def == nil:
		p.refuse(RuleRequiredField, "existing rows have no value for the new NOT NULL column, so the statement fails on a populated table; "+
			"give it a DEFAULT, or add it nullable, backfill it and then SET NOT NULL", one, ael)
		return
	}
	if dt := p.schema.Types[qualifyName(typ.Name)]; dt != nil && dt.HasCheck {
		p.refuse(RuleRewrite, "a column of a domain with a CHECK rewrites the table; add it as "+dt.Base.String()+
			", backfill, then add the CHECK NOT VALID and VALIDATE it", one, ael)
		return
	}

	rewrite := p.rewritingDefault(cp.def)
	plain := clone(cd)
	plain.RawDefault = nil
	plain.IsNotNull = false
	plain.Constraints = nil
	for _, cn := range cd.Constraints {
		con := cn.GetConstraint()
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_DEFAULT, pg_query.ConstrType_CONSTR_NOTNULL:
			if !rewrite {
				plain.Constraints = append(plain.Constraints, cn)
			}
		case pg_query.ConstrType_CONSTR_NULL, pg_query.ConstrType_CONSTR_ATTR_DEFERRABLE,
			pg_query.ConstrType_CONSTR_ATTR_NOT_DEFERRABLE, pg_query.ConstrType_CONSTR_ATTR_DEFERRED,
			pg_query.ConstrType_CONSTR_ATTR_IMMEDIATE:
			// Attributes of the constraints handled below; NULL is a no-op.
		}
	}
	if !rewrite && cp.notNull && !hasNotNull(plain) {
		// A PRIMARY KEY implied NOT NULL; with a constant default it is instant.
		plain.Constraints = append(plain.Constraints, &pg_query.Node{Node: &pg_query.Node_Constraint{
			Constraint: &pg_query.Constraint{Contype: pg_query.ConstrType_CONSTR_NOTNULL}}})
	}
	addCmd := clone(cmd)
	addCmd.Def = &pg_query.Node{Node: &pg_query.Node_ColumnDef{ColumnDef: plain}}
	sql := []string{alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: addCmd}})}
	desc := "add column " + col + " to " + lint.DisplayName(table)
	if rewrite {
		sql = append(sql, "ALTER TABLE "+qt(table)+" ALTER COLUMN "+qi(col)+" SET DEFAULT "+deparseExpr(cp.def)+";")
		desc += " without a value for existing rows (no rewrite); new rows get the default"
	} else {
		desc += " (catalog only)"
	}
	p.add(Expand, classDDL, desc, joinSQL(sql...),
		"ALTER TABLE "+qt(table)+" DROP COLUMN IF EXISTS "+qi(col)+";", ael)

	if rewrite {
		p.addBackfill(table, "fill "+col+" of existing rows with its default, in batches",
			&BackfillSpec{Table: qt(table), Set: qi(col) + " = " + deparseExpr(cp.def), Where: qi(col) + " IS NULL", Internal: true})
		if cp.notNull {
			ph := p.afterBackfill(table)
			p.setNotNull(table, []string{col}, []string{p.notNullCheck(table, col, ph)}, ph, "")
		}
	}
	for _, con := range cp.others {
		p.addConstraint(at, table, t, con, []string{col})
	}
}

func hasNotNull(cd *pg_query.ColumnDef) bool {
	for _, cn := range cd.Constraints {
		if cn.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_NOTNULL {
			return true
		}
	}
	return false
}

// addBackfill appends a backfill step and marks the table's data as
// changing, so later steps that read it follow.
func (p *planner) addBackfill(table, desc string, spec *BackfillSpec) *Step {
	s := p.add(Backfill, classBackfill, desc, "", "", lock(table, lint.RowExclusive))
	s.Backfill = spec
	p.backfill[table] = true
	return s
}

// notNullCheck adds the first two steps of R3: a NOT VALID check (new
// writes are checked, no scan) and its validation in its own transaction.
// It returns the check's name.
func (p *planner) notNullCheck(table, col string, ph Phase) string {
	name := lint.NotNullCheckName(relName(table), col)
	p.add(ph, classDDL, "check "+col+" IS NOT NULL for new writes (NOT VALID: no scan)",
		"ALTER TABLE "+qt(table)+" ADD CONSTRAINT "+qi(name)+" CHECK ("+qi(col)+" IS NOT NULL) NOT VALID;",
		"ALTER TABLE "+qt(table)+" DROP CONSTRAINT IF EXISTS "+qi(name)+";",
		lock(table, lint.AccessExclusive))
	p.validate(table, name, ph)
	return name
}

// validate adds VALIDATE CONSTRAINT as its own step: it scans under SHARE
// UPDATE EXCLUSIVE, so writes go on, and its time depends on the table's
// size, so no statement timeout.
func (p *planner) validate(table, name string, ph Phase, extra ...lint.Lock) {
	p.add(ph, classValidate, "validate "+name+" (scans under SHARE UPDATE EXCLUSIVE; reads and writes go on)",
		"ALTER TABLE "+qt(table)+" VALIDATE CONSTRAINT "+qi(name)+";", "",
		append([]lint.Lock{lock(table, lint.ShareUpdateExclusive)}, extra...)...)
}

// setNotNull is the last step of R3: SET NOT NULL finds the validated
// checks and skips its scan (PostgreSQL 12+), then the checks go. then is
// SQL to run in the same transaction before the checks are dropped.
func (p *planner) setNotNull(table string, cols, checks []string, ph Phase, then string) {
	var sql []string
	for _, c := range cols {
		sql = append(sql, "ALTER TABLE "+qt(table)+" ALTER COLUMN "+qi(c)+" SET NOT NULL;")
	}
	sql = append(sql, then)
	for _, ch := range checks {
		sql = append(sql, "ALTER TABLE "+qt(table)+" DROP CONSTRAINT "+qi(ch)+";")
	}
	desc := "set NOT NULL on " + strings.Join(cols, ", ") + " (no scan: the validated check proves it) and drop the check"
	if p.opts.PGVersion < 12 {
		desc = "set NOT NULL on " + strings.Join(cols, ", ") + " (PostgreSQL < 12 still scans under ACCESS EXCLUSIVE) and drop the check"
	}
	var undo []string
	if then == "" {
		for _, c := range cols {
			undo = append(undo, "ALTER TABLE "+qt(table)+" ALTER COLUMN "+qi(c)+" DROP NOT NULL;")
		}
	}
	p.add(ph, classDDL, desc, joinSQL(sql...), joinSQL(undo...), lock(table, lint.AccessExclusive))
}

// typeSQL renders a model type as SQL, quoting user-defined type names.
func typeSQL(t lint.TypeName) string {
	if strings.Contains(t.Name, ".") {
		s := qt(t.Name)
		return s + strings.TrimPrefix(t.String(), t.Name)
	}
	return t.String()
}

// typeVerdict classifies a type change with lint's classifier, the one
// place that knows what PostgreSQL does with it; known is false when the
// model does not know the column's current type.
func (p *planner) typeVerdict(t *lint.Table, cmd *pg_query.AlterTableCmd) (v lint.TypeChangeVerdict, known bool) {
	cd := cmd.Def.GetColumnDef()
	col := t.Column(cmd.Name)
	if cd == nil || col == nil {
		return v, false
	}
	return lint.ClassifyTypeChange(p.schema, cmd.Name, col.Type, lint.TypeNameOf(cd.TypeName), cd.RawDefault, p.opts.PGVersion), true
}

// binaryCoercible reports whether the type change runs as written without
// a rewrite: catalog-only, or timestamp <-> timestamptz under a session
// TimeZone that is UTC.
func (p *planner) binaryCoercible(t *lint.Table, cmd *pg_query.AlterTableCmd) bool {
	v, known := p.typeVerdict(t, cmd)
	if !known {
		return false
	}
	switch v.Kind {
	case lint.TypeChangeCatalogOnly:
		return true
	case lint.TypeChangeCatalogOnlyIfUTC:
		return lint.TimeZoneIsUTC(p.opts.TimeZone)
	}
	return false
}

// changeType plans a rewriting type change with R4: a shadow column kept
// current by a trigger, a backfill, copies of the column's indexes, and
// one short transaction that swaps the columns under the old name. A
// narrowing is checked against the existing data first.
func (p *planner) changeType(at *pg_query.AlterTableStmt, table string, t *lint.Table, cmd *pg_query.AlterTableCmd) {
	cd := cmd.Def.GetColumnDef()
	old := cmd.Name
	to := lint.TypeNameOf(cd.TypeName)
	v, known := p.typeVerdict(t, cmd)
	if known && v.Kind == lint.TypeChangeNoAutoCast {
		p.refuse(RuleTypeChange, "PostgreSQL has no automatic cast from "+v.From.String()+" to "+to.String()+
			", so the statement fails as written; say how to convert with USING (e.g. USING "+qi(old)+"::"+to.String()+")",
			alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}}), lock(table, lint.AccessExclusive))
		return
	}
	one := alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}})
	if blockers := p.swapBlockers(table, t, old, true); len(blockers) > 0 {
		p.refuseSwap(RuleTypeChange, table, old, one, blockers)
		return
	}
	if c := t.Column(old); c != nil && c.Identity && !integerType(to.Name) {
		p.refuse(RuleTypeChange, "an identity column must be smallint, integer or bigint: the statement as written fails too; "+
			"drop the identity first (ALTER COLUMN "+qi(old)+" DROP IDENTITY) in its own migration", one, lock(table, lint.AccessExclusive))
		return
	}
	// With no USING the shadow column is assigned the plain column, which
	// PostgreSQL converts with the assignment cast, as ALTER ... TYPE does:
	// a value that does not fit fails instead of being cut to length.
	expr := cd.RawDefault
	note := ""
	switch {
	case !known:
		note = " (the old type is unknown to the plan; if the change is binary-coercible the plain ALTER would be instant)"
	case v.Kind == lint.TypeChangeCatalogOnlyIfUTC && p.opts.TimeZone == "":
		note = " (the session TimeZone is unknown to the plan, so it assumes a rewrite; under TimeZone UTC the plain ALTER is catalog-only)"
	case v.Kind == lint.TypeChangeCatalogOnlyIfUTC && expr == nil:
		// Convert in the zone the plain ALTER would use, whatever the
		// zone of the session whose write fires the trigger.
		expr = atTimeZone(old, p.opts.TimeZone)
		note = " (under TimeZone " + p.opts.TimeZone + " PostgreSQL rewrites, converting in that zone; so does the copy)"
	}
	if known && v.MayFail {
		switch misfit := v.Misfit(qi(old)); {
		case misfit != "":
			p.fitCheck(table, old, to, lint.FitCheckSQL(table, primaryKey(t), old, to.String(), misfit))
			note += " (a narrowing: checked against the existing rows first)"
		case v.CastCheck():
			p.fitCheck(table, old, to, lint.CastCheckSQL(table, primaryKey(t), old, cd.TypeName))
			note += " (some values may not convert: checked against the existing rows first)"
		default:
			note += " (some existing values may not convert; the copy then fails and the old column stays in use)"
		}
	}
	newCol := reservedName("new", old)
	add := &pg_query.ColumnDef{Colname: newCol, TypeName: cd.TypeName, CollClause: cd.CollClause, IsLocal: true}
	addSQL := alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: &pg_query.AlterTableCmd{
		Subtype: pg_query.AlterTableType_AT_AddColumn, Def: &pg_query.Node{Node: &pg_query.Node_ColumnDef{ColumnDef: add}}}}})
	p.shadowColumn(shadow{
		table: table, t: t, old: old, newCol: newCol, final: old,
		addSQL: addSQL, expr: expr,
		why: "change the type of " + old + " to " + to.String() + " without a rewrite" + note,
	})
}

// atTimeZone is `col AT TIME ZONE zone`: timestamp <-> timestamptz
// converted in zone, as the cast does in a session whose TimeZone is zone.
func atTimeZone(col, zone string) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_FuncCall{FuncCall: &pg_query.FuncCall{
		Funcname: []*pg_query.Node{pg_query.MakeStrNode("pg_catalog"), pg_query.MakeStrNode("timezone")},
		Args: []*pg_query.Node{pg_query.MakeAConstStrNode(zone, -1),
			pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(col)}, -1)},
		Funcformat: pg_query.CoercionForm_COERCE_SQL_SYNTAX, Location: -1}}}
}

// fitCheck adds the read-only check of a narrowing: one scan that fails,
// naming a row, when an existing value would not convert. It runs first in
// the plan, before any change, unless an earlier step may change what it
// reads; then it runs just before the copy.
func (p *planner) fitCheck(table, col string, to lint.TypeName, sql string) {
	touched := false
	for _, s := range p.steps {
		if p.mayChangeColumn(s, table, col) {
			touched = true
		}
	}
	s := p.add(Expand, classValidate, fitCheckDesc+col+" of "+lint.DisplayName(table)+" fits "+to.String()+
		" (one read-only scan; it fails naming a row that does not, and nothing is changed)",
		sql+";", "", lock(table, lint.AccessShare))
	if touched {
		s.Phase = Backfill
		return
	}
	// Move it in front of every step but the checks already there.
	at := 0
	for at < len(p.steps)-1 && strings.HasPrefix(p.steps[at].Description, fitCheckDesc) {
		at++
	}
	copy(p.steps[at+1:], p.steps[at:len(p.steps)-1])
	p.steps[at] = s
}

// mayChangeColumn reports whether an earlier step may change the values
// of table.col or the column itself: a data change on the table, or a
// statement on it that names the column.
func (p *planner) mayChangeColumn(s *Step, table, col string) bool {
	for _, l := range s.Locks {
		if lint.DisplayName(l.Relation) != lint.DisplayName(table) {
			continue
		}
		if s.Backfill != nil || l.Mode == lint.RowExclusive || mentions(s.SQL, qi(col)) {
			return true
		}
	}
	return false
}

// mentions reports whether sql has the identifier ident as a whole word
// (case-insensitive: an unquoted name may be written in capitals).
func mentions(sql, ident string) bool {
	word := func(b byte) bool {
		return b == '_' || b == '$' || b == '"' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
	}
	lower, id := strings.ToLower(sql), strings.ToLower(ident)
	for i := 0; ; {
		j := strings.Index(lower[i:], id)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(id)
		if (start == 0 || !word(lower[start-1])) && (end == len(lower) || !word(lower[end])) {
			return true
		}
		i = start + 1
	}
}

// fitCheckDesc starts the description of every fit check.
const fitCheckDesc = "check that every existing value of "

func primaryKey(t *lint.Table) []string {
	for _, c := range constraintsOf(t) {
		if c.Kind == "primary" {
			return c.Columns
		}
	}
	return nil
}

// rename plans RENAME of a column (R5) or a table (rename plus a view
// under the old name); other renames pass through.
func (p *planner) rename(rs *pg_query.RenameStmt) {
	table := lint.RangeVarName(rs.Relation)
	t := p.schema.Table(table)
	if p.isNew(t) || rs.Relation == nil {
		p.passThrough()
		return
	}
	switch rs.RenameType {
	case pg_query.ObjectType_OBJECT_COLUMN:
		if rs.RelationType != pg_query.ObjectType_OBJECT_TABLE {
			p.passThrough()
			return
		}
		defer p.assumeColumn(table, t, rs.Subname)()
		p.renameColumn(table, t, rs.Subname, rs.Newname)
	case pg_query.ObjectType_OBJECT_TABLE:
		newName := inSchema(table, rs.Newname)
		p.add(Expand, classDDL, "rename "+lint.DisplayName(table)+" to "+rs.Newname+" and keep the old name working as a view",
			joinSQL("ALTER TABLE "+qt(table)+" RENAME TO "+qi(rs.Newname)+";",
				"CREATE VIEW "+qt(table)+" AS SELECT * FROM "+qt(newName)+";"),
			joinSQL("DROP VIEW IF EXISTS "+qt(table)+";", "ALTER TABLE "+qt(newName)+" RENAME TO "+qi(relName(table))+";"),
			lock(table, lint.AccessExclusive))
		p.add(Contract, classDDL, "drop the compatibility view "+lint.DisplayName(table)+" once no running code uses the old name",
			"DROP VIEW "+qt(table)+";", "CREATE VIEW "+qt(table)+" AS SELECT * FROM "+qt(newName)+";",
			lock(table, lint.AccessExclusive)).Breaking = true
	default:
		p.passThrough()
	}
}

// renameColumn is R5: the new column is added and kept in sync with the
// old one in both directions, so old and new application code can run
// side by side; the old column goes in a breaking contract step.
func (p *planner) renameColumn(table string, t *lint.Table, old, newName string) {
	if blockers := p.swapBlockers(table, t, old, false); len(blockers) > 0 {
		p.refuseSwap(RuleRenamingColumn, table, old, p.text(), blockers)
		return
	}
	var addSQL string
	if c := t.Column(old); c != nil {
		addSQL = "ALTER TABLE " + qt(table) + " ADD COLUMN " + qi(newName) + " " + typeSQL(c.Type) + ";"
	} else {
		// The type is only known to the database: read it there.
		addSQL = "DO $migrate$\nBEGIN\n  EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', " + regclass(table) + ", " +
			quoteLiteral(newName) + ",\n    (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = " +
			regclass(table) + " AND attname = " + quoteLiteral(old) + " AND NOT attisdropped));\nEND\n$migrate$;"
	}
	p.shadowColumn(shadow{
		table: table, t: t, old: old, newCol: newName, addSQL: addSQL, twoWay: true,
		why: "rename " + old + " to " + newName + " while old and new application code both run",
	})
}

// shadow describes a column copied into a new one (R4, R5).
type shadow struct {
	table  string
	t      *lint.Table
	old    string
	newCol string
	final  string         // name the new column takes in the swap; "" keeps newCol
	addSQL string         // adds newCol
	expr   *pg_query.Node // newCol's value from the row; nil copies old
	twoWay bool           // writes to either column reach the other
	why    string
}

func (sh shadow) value(rec string) string {
	if sh.expr == nil {
		return rec + qi(sh.old)
	}
	if rec == "" {
		return deparseExpr(sh.expr)
	}
	return deparseExpr(qualifyRefs(sh.expr, strings.ToLower(strings.TrimSuffix(rec, "."))))
}

// shadowColumn plans the steps shared by R4 and R5.
func (p *planner) shadowColumn(sh shadow) {
	table, old, nc := sh.table, sh.old, sh.newCol
	tq := qt(table)
	ael := lock(table, lint.AccessExclusive)
	p.add(Expand, classDDL, sh.why+": add column "+nc, sh.addSQL,
		"ALTER TABLE "+tq+" DROP COLUMN IF EXISTS "+qi(nc)+";", ael)

	trig := lint.SyncTriggerName(relName(table), old)
	body := lint.CopyBody(nc, sh.value("NEW."))
	if sh.twoWay {
		// json has no equality operator: compare the text.
		c := sh.t.Column(old)
		body = lint.TwoWayBody(old, nc, c != nil && c.Type.Name == "json")
	}
	sync := lint.NewSyncTrigger(table, old, body, p.opts.PGVersion)
	fn := qt(inSchema(table, lint.SyncFunctionName(relName(table), old)))
	direction := "copy every write of " + old + " into " + nc
	if sh.twoWay {
		direction = "keep " + old + " and " + nc + " in sync both ways (the side a writer changed wins)"
	}
	p.add(Expand, classDDL, direction+" with a trigger",
		joinSQL(sync.Function+";", sync.Trigger+";"),
		joinSQL("DROP TRIGGER IF EXISTS "+qi(trig)+" ON "+tq+";", "DROP FUNCTION IF EXISTS "+fn+"();"),
		lock(table, lint.ShareRowExclusive))

	p.addBackfill(table, "copy "+old+" into "+nc+" for existing rows, in batches",
		&BackfillSpec{Table: tq, Set: qi(nc) + " = " + sh.value(""), Where: qi(nc) + " IS NULL AND " + qi(old) + " IS NOT NULL", Internal: true})

	var nnChecks, nnCols []string
	if c := sh.t.Column(old); c != nil && c.NotNull {
		nnChecks = append(nnChecks, p.notNullCheck(table, nc, Contract))
		nnCols = append(nnCols, nc)
	}

	// Copies of the indexes and unique constraints that include the old
	// column, built before the swap so it stays short.
	var kept []string // names of the old column's indexes/constraints the swap recreates
	var swapTail []string
	for _, ix := range p.indexesWith(table, old) {
		copyName := reservedName("dup", relName(ix.Name))
		build := indexCopySQL(ix.Def, old, nc, copyName)
		if build == "" {
			build = "CREATE " + uniqueSQL(ix.Unique) + "INDEX CONCURRENTLY " + qi(copyName) + " ON " + tq + " (" + identList(replaceCol(ix.Columns, old, nc)) + ");"
		}
		p.add(Contract, classConcurrent, "build a copy of index "+relName(ix.Name)+" on "+nc,
			build,
			"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, copyName))+";",
			lock(table, lint.ShareUpdateExclusive))
		kept = append(kept, relName(ix.Name))
		swapTail = append(swapTail, "ALTER INDEX "+qt(inSchema(table, copyName))+" RENAME TO "+qi(relName(ix.Name))+";")
	}
	for _, con := range constraintsOf(sh.t) {
		if (con.Kind != "unique" && con.Kind != "primary") || !contains(con.Columns, old) {
			continue
		}
		copyName := reservedName("dup", con.Name)
		build := indexCopySQL(con.IndexDef, old, nc, copyName)
		if build == "" {
			build = "CREATE UNIQUE INDEX CONCURRENTLY " + qi(copyName) + " ON " + tq + " (" + identList(replaceCol(con.Columns, old, nc)) + ");"
		}
		p.add(Contract, classConcurrent, "build a unique index for a copy of "+con.Name+" on "+nc,
			build,
			"DROP INDEX CONCURRENTLY IF EXISTS "+qt(inSchema(table, copyName))+";",
			lock(table, lint.ShareUpdateExclusive))
		kind := "UNIQUE"
		if con.Kind == "primary" {
			kind = "PRIMARY KEY"
		}
		kept = append(kept, con.Name)
		swapTail = append(swapTail, "ALTER TABLE "+tq+" ADD CONSTRAINT "+qi(con.Name)+" "+kind+" USING INDEX "+qi(copyName)+deferrableSQL(con.Def)+";")
	}

	final := nc
	if sh.final != "" {
		final = sh.final
	}
	// Constraints naive ALTER ... TYPE re-creates from their definitions
	// (checks and foreign keys on the column, foreign keys pointing at it)
	// are carried only when the column keeps its name: renameColumn
	// refuses them.
	var carried []carriedConstraint
	if sh.final != "" {
		carried = p.carriedConstraints(table, sh.t, old)
	}
	identity := false
	if c := sh.t.Column(old); c != nil && c.Identity {
		identity = true
	}
	locks := []lint.Lock{ael}
	for _, cc := range carried {
		kept = append(kept, cc.name)
		// DROP CONSTRAINT of a foreign key locks both its tables.
		locks = append(locks, lock(cc.table, lint.AccessExclusive))
		if cc.refTable != "" {
			locks = append(locks, lock(cc.refTable, lint.AccessExclusive))
		}
	}

	// The table, and with it every partition, is locked first, parent
	// before partitions as the application's statements lock them: the
	// swap's later statements would otherwise take a partition before the
	// parent (dropping a partitioned trigger drops its clones first) and
	// can deadlock with a writer.
	swap := []string{"LOCK TABLE " + tq + " IN ACCESS EXCLUSIVE MODE;"}
	swap = append(swap, p.swapGuard(sh, kept, len(nnCols) > 0, identity),
		"DROP TRIGGER "+qi(trig)+" ON "+tq+";",
		"DROP FUNCTION "+fn+"();")
	swap = append(swap, swapCaptureSQL(table, old, final, carried, identity))
	swap = append(swap, "ALTER TABLE "+tq+" DROP COLUMN "+qi(old)+";")
	if sh.final != "" {
		swap = append(swap, "ALTER TABLE "+tq+" RENAME COLUMN "+qi(nc)+" TO "+qi(sh.final)+";")
	}
	for _, c := range nnCols {
		swap = append(swap, "ALTER TABLE "+tq+" ALTER COLUMN "+qi(renamed(c, nc, final))+" SET NOT NULL;")
	}
	swap = append(swap, swapTail...)
	swap = append(swap, swapRestoreSQL(table, nc, final))
	for _, ch := range nnChecks {
		swap = append(swap, "ALTER TABLE "+tq+" DROP CONSTRAINT "+qi(ch)+";")
	}
	s := p.add(Contract, classDDL, "", joinSQL(swap...), "", locks...)
	takes, more := swapSummary(identity, carried)
	if sh.final != "" {
		s.Description = "swap in one short transaction: drop the trigger and the old " + old + ", give " + nc +
			" its name, " + takes + " (same name, so running code keeps working; the column moves to the end)" + more
	} else {
		s.Breaking = true
		s.Description = "drop the old column " + old + " and the sync trigger once no running code uses " + old +
			"; " + nc + " takes over its " + takes + more
	}
	p.validateCarried(carried)
}

func integerType(name string) bool { return name == "int2" || name == "int4" || name == "int8" }

// swapGuard is a DO block run first in the swap transaction: it copies the
// old column's default to the new one and moves the ownership of the
// sequences the old column owns (serial) to it, and aborts the swap
// (changing nothing) when the old column has indexes, constraints,
// dependent objects or properties the plan did not carry, since DROP
// COLUMN would silently drop them or fail. The planner refuses what it
// knows of before any step runs; this is the last defence against what
// changed since.
func (p *planner) swapGuard(sh shadow, kept []string, notNullCopied, identityCarried bool) string {
	reg := regclass(sh.table)
	oldLit := quoteLiteral(sh.old)
	keptList := "''"
	if len(kept) > 0 {
		q := make([]string, len(kept))
		for i, k := range kept {
			q[i] = quoteLiteral(k)
		}
		keptList = strings.Join(q, ", ")
	}
	var props string
	if !notNullCopied {
		props += "  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = " + reg + " AND attnum = att AND attnotnull) THEN\n" +
			"    RAISE EXCEPTION 'migrate: % is NOT NULL but the plan did not carry that over; re-plan with the migration that created the table', " + oldLit + ";\n" +
			"  END IF;\n"
	}
	if !identityCarried {
		props += "  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = " + reg + " AND attnum = att AND attidentity <> '') THEN\n" +
			"    RAISE EXCEPTION 'migrate: % is an identity column but the plan did not carry the identity over; re-plan against the database', " + oldLit + ";\n" +
			"  END IF;\n"
	}
	return "DO $migrate$\nDECLARE\n  att int2;\n  missing text;\n  def text;\n  seq regclass;\nBEGIN\n" +
		"  SELECT attnum INTO att FROM pg_attribute WHERE attrelid = " + reg + " AND attname = " + oldLit + " AND NOT attisdropped;\n" +
		"  SELECT string_agg(name, ', ') INTO missing FROM (\n" +
		"    SELECT c.relname::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n" +
		"    WHERE i.indrelid = " + reg + " AND att = ANY (i.indkey::int2[])\n" +
		"    UNION SELECT c.relname::text FROM pg_depend d JOIN pg_class c ON c.oid = d.objid\n" +
		"    WHERE d.classid = 'pg_class'::regclass AND d.refobjid = " + reg + " AND d.refobjsubid = att AND c.relkind IN ('i', 'I')\n" +
		"    UNION SELECT conname::text FROM pg_constraint WHERE conrelid = " + reg + " AND contype <> 'n' AND att = ANY (conkey)\n" +
		"    UNION SELECT conname::text FROM pg_constraint WHERE confrelid = " + reg + " AND contype = 'f' AND att = ANY (confkey)\n" +
		"    UNION SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d\n" +
		"    WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = " + reg + " AND d.refobjsubid = att\n" +
		"      AND d.classid NOT IN ('pg_class'::regclass, 'pg_constraint'::regclass)\n" +
		"      AND NOT (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid = " + reg + " AND adnum = att))\n" +
		"      AND NOT (d.classid = 'pg_trigger'::regclass AND d.objid IN (SELECT oid FROM pg_trigger WHERE tgisinternal))\n" +
		"  ) s WHERE name NOT IN (" + keptList + ");\n" +
		"  IF missing IS NOT NULL THEN\n" +
		"    RAISE EXCEPTION 'migrate: dropping % would also drop or be blocked by %, which the plan did not carry; re-plan against the database', " + oldLit + ", missing;\n" +
		"  END IF;\n" + props +
		"  SELECT pg_get_expr(d.adbin, d.adrelid) INTO def FROM pg_attrdef d WHERE d.adrelid = " + reg + " AND d.adnum = att;\n" +
		"  IF def IS NOT NULL THEN\n" +
		"    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', " + reg + ", " + quoteLiteral(sh.newCol) + ", def);\n" +
		"  END IF;\n" +
		"  -- A sequence the old column owns (serial) would go with it, and the\n" +
		"  -- default copied above depends on it.\n" +
		"  FOR seq IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid\n" +
		"    WHERE d.classid = 'pg_class'::regclass AND d.refobjid = " + reg + " AND d.refobjsubid = att AND d.deptype = 'a' AND c.relkind = 'S'\n" +
		"  LOOP\n" +
		"    EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', seq, " + reg + ", " + quoteLiteral(sh.newCol) + ");\n" +
		"  END LOOP;\n" +
		"END\n$migrate$;"
}

// indexesWith lists the model's indexes on table that use col: plain
// ones, and any whose definition from the database mentions it. An index
// behind a constraint is copied with its constraint.
func (p *planner) indexesWith(table, col string) []*lint.Index {
	var out []*lint.Index
	for _, ix := range p.schema.IndexesOn(table) {
		if ix.Constraint != "" {
			continue
		}
		plain := contains(ix.Columns, col) && !contains(ix.Columns, "")
		if (plain || indexUses(ix.Def, col)) && !ix.Only {
			out = append(out, ix)
		}
	}
	sortIndexes(out)
	return out
}

func sortIndexes(ixs []*lint.Index) {
	for i := 1; i < len(ixs); i++ {
		for j := i; j > 0 && ixs[j].Name < ixs[j-1].Name; j-- {
			ixs[j], ixs[j-1] = ixs[j-1], ixs[j]
		}
	}
}

func renamed(c, from, to string) string {
	if c == from {
		return to
	}
	return c
}

func replaceCol(cols []string, from, to string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = renamed(c, from, to)
	}
	return out
}

func identList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = qi(c)
	}
	return strings.Join(q, ", ")
}

func uniqueSQL(u bool) string {
	if u {
		return "UNIQUE "
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func constraintsOf(t *lint.Table) []*lint.Constraint {
	if t == nil {
		return nil
	}
	return t.Constraints
}
