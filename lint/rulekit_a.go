package lint

import (
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Shared pieces of the column and constraint rules: finding the table an
// ALTER TABLE works on, phrasing locks the same way in every message, and
// building the multi-step fixes.

// alterTarget is an ALTER TABLE on a table that the migration being linted
// did not create. table is nil when no migration read so far created it:
// then it exists with a shape the model does not know.
type alterTarget struct {
	stmt   *pg_query.AlterTableStmt
	name   string // qualified
	table  *Table
	cmds   []*pg_query.AlterTableCmd
	quoted string // sql(), once: a fix names the table a dozen times
}

// existingAlter returns the statement's ALTER TABLE when it targets a table
// that existed before this migration, nil otherwise. A table created by the
// same migration is empty and unseen, so rewrites and scans of it cost
// nothing and these rules stay silent.
func existingAlter(pass *Pass) *alterTarget {
	if sh := pass.shared; sh != nil {
		if !sh.alterDone {
			sh.alter, sh.alterDone = findExistingAlter(pass), true
		}
		return sh.alter
	}
	return findExistingAlter(pass)
}

func findExistingAlter(pass *Pass) *alterTarget {
	at := pass.Stmt.Node.GetAlterTableStmt()
	if at == nil || at.Relation == nil || at.Objtype != pg_query.ObjectType_OBJECT_TABLE {
		return nil
	}
	name := RangeVarName(at.Relation)
	t := pass.Schema.Table(name)
	if t.IsNew(pass.Stmt.Source) {
		return nil
	}
	if t != nil && t.Kind != "" && t.Kind != "table" {
		return nil
	}
	out := &alterTarget{stmt: at, name: name, table: t, cmds: make([]*pg_query.AlterTableCmd, 0, len(at.Cmds))}
	for _, n := range at.Cmds {
		if cmd := n.GetAlterTableCmd(); cmd != nil {
			out.cmds = append(out.cmds, cmd)
		}
	}
	return out
}

// sql is the table's name as it must be written in generated SQL.
func (a *alterTarget) sql() string {
	if a.quoted == "" {
		a.quoted = QuoteQualified(a.name)
	}
	return a.quoted
}

// alone is a note for fixes of multi-subcommand statements: the fix replaces
// one subcommand, and the reader must not drop the others.
func (a *alterTarget) alone(what string) string {
	if len(a.cmds) < 2 {
		return ""
	}
	return "The other subcommands of this ALTER TABLE can stay in it; take " + what + " out and run it as below."
}

// isExisting reports whether a table named in the statement (an FK target,
// say) existed before the migration being linted.
func isExisting(pass *Pass, qualified string) bool {
	return !pass.Schema.Table(qualified).IsNew(pass.Stmt.Source)
}

// lockTimeoutSet reports whether a lock_timeout bounds how long the
// statement can queue for its locks (and so block everyone queued behind it).
func lockTimeoutSet(pass *Pass) bool { return pass.Tx != nil && pass.Tx.SetLockTimeout }

// addedColumn returns the column definition of an ADD COLUMN subcommand.
func addedColumn(cmd *pg_query.AlterTableCmd) *pg_query.ColumnDef {
	if cmd.Subtype != pg_query.AlterTableType_AT_AddColumn {
		return nil
	}
	return cmd.Def.GetColumnDef()
}

// columnConstraints returns a column definition's inline constraints.
func columnConstraints(cd *pg_query.ColumnDef) []*pg_query.Constraint {
	var out []*pg_query.Constraint
	for _, n := range cd.Constraints {
		if c := n.GetConstraint(); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// columnDefault returns the DEFAULT expression of a column definition, or
// nil. DEFAULT NULL counts as none: PostgreSQL stores no default for it, so
// it never rewrites.
func columnDefault(cd *pg_query.ColumnDef) *pg_query.Node {
	expr := cd.RawDefault
	for _, c := range columnConstraints(cd) {
		if c.Contype == pg_query.ConstrType_CONSTR_DEFAULT {
			expr = c.RawExpr
		}
	}
	if isNullConst(expr) {
		return nil
	}
	return expr
}

func isNullConst(n *pg_query.Node) bool {
	if n == nil {
		return false
	}
	if tc := n.GetTypeCast(); tc != nil {
		return isNullConst(tc.Arg)
	}
	if c := n.GetAConst(); c != nil {
		return c.Isnull
	}
	return false
}

// columnNotNull reports whether a column definition says NOT NULL.
func columnNotNull(cd *pg_query.ColumnDef) bool {
	if cd.IsNotNull {
		return true
	}
	for _, c := range columnConstraints(cd) {
		if c.Contype == pg_query.ConstrType_CONSTR_NOTNULL {
			return true
		}
	}
	return false
}

// hasConstraint reports whether a column definition carries one of kinds.
func hasConstraint(cd *pg_query.ColumnDef, kinds ...pg_query.ConstrType) bool {
	for _, c := range columnConstraints(cd) {
		for _, k := range kinds {
			if c.Contype == k {
				return true
			}
		}
	}
	return false
}

// isSerialType reports whether a column type is one of the serial
// pseudo-types, which expand to a sequence plus a nextval() default.
func isSerialType(tn TypeName) bool {
	switch tn.Name {
	case "serial", "bigserial", "smallserial":
		return true
	}
	return false
}

// serialBase is the real integer type behind a serial pseudo-type.
func serialBase(tn TypeName) TypeName {
	switch tn.Name {
	case "serial":
		return TypeName{Name: "int4"}
	case "bigserial":
		return TypeName{Name: "int8"}
	case "smallserial":
		return TypeName{Name: "int2"}
	}
	return tn
}

// lockPhrase says which lock a statement takes on which table and what that
// blocks, worded the same way in every finding.
func lockPhrase(mode, table string) string {
	var blocks string
	switch b := Blocks(mode); len(b) {
	case 0:
		blocks = "reads and writes continue"
	case 1:
		blocks = "blocks " + b[0]
	default:
		blocks = "blocks " + strings.Join(b, " and ")
	}
	article := "a "
	if strings.HasPrefix(mode, "ACCESS") || strings.HasPrefix(mode, "EXCLUSIVE") {
		article = "an "
	}
	return article + mode + " lock on " + QuoteQualified(table) + " (" + blocks + ")"
}

// plainColumnDef is cd without its constraints and default: the shape the
// expand step of most recipes adds, which is a catalog-only change.
func plainColumnDef(cd *pg_query.ColumnDef, typ *pg_query.TypeName) *pg_query.ColumnDef {
	if typ == nil {
		typ = cd.TypeName
	}
	return &pg_query.ColumnDef{Colname: cd.Colname, TypeName: typ, CollClause: cd.CollClause, IsLocal: true}
}

// alterSQL renders ALTER TABLE rel <cmds> with the parser's own deparser,
// so identifiers, literals and types come back exactly as PostgreSQL reads
// them.
func alterSQL(rel *pg_query.RangeVar, cmds ...*pg_query.AlterTableCmd) string {
	nodes := make([]*pg_query.Node, 0, len(cmds))
	for _, c := range cmds {
		if c.Behavior == pg_query.DropBehavior_DROP_BEHAVIOR_UNDEFINED {
			c.Behavior = pg_query.DropBehavior_DROP_RESTRICT
		}
		nodes = append(nodes, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: c}})
	}
	out := Deparse(&pg_query.Node{Node: &pg_query.Node_AlterTableStmt{AlterTableStmt: &pg_query.AlterTableStmt{
		Relation: &pg_query.RangeVar{Schemaname: rel.Schemaname, Relname: rel.Relname, Inh: true, Relpersistence: "p"},
		Cmds:     nodes, Objtype: pg_query.ObjectType_OBJECT_TABLE,
	}}})
	if out == "" {
		return ""
	}
	return out + ";"
}

func addColumnCmd(cd *pg_query.ColumnDef) *pg_query.AlterTableCmd {
	return &pg_query.AlterTableCmd{Subtype: pg_query.AlterTableType_AT_AddColumn,
		Def: &pg_query.Node{Node: &pg_query.Node_ColumnDef{ColumnDef: cd}}}
}

func addConstraintCmd(c *pg_query.Constraint) *pg_query.AlterTableCmd {
	return &pg_query.AlterTableCmd{Subtype: pg_query.AlterTableType_AT_AddConstraint,
		Def: &pg_query.Node{Node: &pg_query.Node_Constraint{Constraint: c}}}
}

// typeSQL renders a parsed type name as SQL.
func typeSQL(tn *pg_query.TypeName) string {
	if tn == nil {
		return ""
	}
	s := DeparseExpr(&pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: &pg_query.TypeCast{
		Arg:      &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Isnull: true}}},
		TypeName: tn,
	}}})
	return strings.TrimPrefix(s, "NULL::")
}

// pgName builds an identifier from parts the way PostgreSQL names implicit
// objects, cut to the 63-byte limit so the name in the fix is the name the
// server keeps.
func pgName(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	s := strings.Join(kept, "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// baseName is the unqualified name of a qualified table.
func baseName(qualified string) string {
	if i := strings.LastIndexByte(qualified, '.'); i >= 0 {
		return qualified[i+1:]
	}
	return qualified
}

// shellQuote wraps s in single quotes for the backfiller command line in a
// fix: column names with capitals come with double quotes of their own.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// backfillComment is the batched-backfill step of a recipe: a whole-table
// UPDATE inside a migration is itself a long lock, so the fix routes it to
// the backfiller.
func backfillComment(table, set, where string) string {
	return "migrate backfill --table " + shellQuote(QuoteQualified(table)) + " --set " + shellQuote(set) + " --where " + shellQuote(where)
}

// recipe builds a fix: numbered steps, each a comment saying where it runs
// and why, followed by its SQL.
type recipe struct {
	b strings.Builder
	n int
}

// note adds a comment line without a step number.
func (r *recipe) note(text string) {
	if text == "" {
		return
	}
	for {
		line, rest, more := strings.Cut(text, "\n")
		r.b.WriteString("-- ")
		r.b.WriteString(line)
		r.b.WriteByte('\n')
		if !more {
			return
		}
		text = rest
	}
}

// step adds a numbered step: a comment and its SQL statements. The
// pieces go straight into the builder; a concatenated line per write was
// a visible share of what large migrations spend on fixes.
func (r *recipe) step(comment string, sql ...string) {
	r.n++
	r.b.WriteString("-- ")
	r.b.WriteString(itoa(r.n))
	r.b.WriteString(". ")
	r.b.WriteString(comment)
	r.b.WriteByte('\n')
	for _, s := range sql {
		if s == "" {
			continue
		}
		r.b.WriteString(s)
		if !strings.HasPrefix(s, "--") && !strings.HasSuffix(s, ";") {
			r.b.WriteByte(';')
		}
		r.b.WriteByte('\n')
	}
}

func (r *recipe) String() string { return strings.TrimRight(r.b.String(), "\n") }

// notNullSteps appends R3 (locks.md §1.11) for one column: a NOT VALID
// check, a backfill, validation in its own transaction, then SET NOT NULL,
// which on PostgreSQL 12+ trusts the validated check instead of scanning.
func notNullSteps(r *recipe, table, col string, pgVersion int, backfillSet string) {
	tbl := QuoteQualified(table)
	c := QuoteIdent(col)
	ck := QuoteIdent(NotNullCheckName(baseName(table), col))
	r.step("Own transaction: a NOT VALID check is a catalog change only (brief ACCESS EXCLUSIVE, no scan).",
		"ALTER TABLE "+tbl+" ADD CONSTRAINT "+ck+" CHECK ("+c+" IS NOT NULL) NOT VALID")
	if backfillSet != "" {
		r.step("Outside any transaction: fill the NULLs in batches.",
			"-- "+backfillComment(table, backfillSet, c+" IS NULL"))
	}
	r.step("Own transaction: VALIDATE scans under SHARE UPDATE EXCLUSIVE, so reads and writes continue.",
		"ALTER TABLE "+tbl+" VALIDATE CONSTRAINT "+ck)
	if pgVersion > 0 && pgVersion < 12 {
		r.note("Before PostgreSQL 12, SET NOT NULL scans again whatever checks exist: keep the validated check\n" +
			"as the constraint, or run the two statements below in a quiet window.")
	}
	r.step("Own transaction: with the validated check in place SET NOT NULL skips its scan (PostgreSQL 12+); the check is then redundant.",
		"ALTER TABLE "+tbl+" ALTER COLUMN "+c+" SET NOT NULL",
		"ALTER TABLE "+tbl+" DROP CONSTRAINT "+ck)
	if pgVersion >= 18 {
		r.note("PostgreSQL 18 can do steps 1-4 with a NOT NULL constraint of its own:\n" +
			"ALTER TABLE " + tbl + " ADD CONSTRAINT " + ck + " NOT NULL " + c + " NOT VALID; then VALIDATE CONSTRAINT " + ck + " in its own transaction.")
	}
}

// triggerExec is the EXECUTE clause of CREATE TRIGGER: FUNCTION from
// PostgreSQL 11, PROCEDURE before.
func triggerExec(pgVersion int) string {
	if pgVersion > 0 && pgVersion < 11 {
		return "EXECUTE PROCEDURE"
	}
	return "EXECUTE FUNCTION"
}

// withNewPrefix rewrites an expression so that its bare column references
// read NEW.col, for use in a row trigger. It works on a fresh parse of the
// expression's text, so the statement's own tree is never modified.
func withNewPrefix(expr *pg_query.Node) string {
	text := DeparseExpr(expr)
	if text == "" {
		return ""
	}
	// The answer depends on the text alone, and a migration converts the
	// same few expressions again and again (c::bigint for every type
	// change): a parse through cgo per finding cost more than the rest of
	// the fix.
	newPrefixMemo.Lock()
	out, ok := newPrefixMemo.m[text]
	newPrefixMemo.Unlock()
	if ok {
		return out
	}
	out = prefixNew(text)
	newPrefixMemo.Lock()
	if len(newPrefixMemo.m) >= 4096 || newPrefixMemo.m == nil {
		newPrefixMemo.m = make(map[string]string)
	}
	newPrefixMemo.m[text] = out
	newPrefixMemo.Unlock()
	return out
}

// newPrefixMemo holds withNewPrefix's recent answers; emptied when full so
// that a long-running process does not grow it without bound.
var newPrefixMemo struct {
	sync.Mutex
	m map[string]string
}

// prefixNew is withNewPrefix on an expression's deparsed text.
func prefixNew(text string) string {
	tree, err := pg_query.Parse("SELECT " + text)
	if err != nil || len(tree.Stmts) != 1 {
		return ""
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 {
		return ""
	}
	val := sel.TargetList[0].GetResTarget().GetVal()
	walkExpr(val, func(n *pg_query.Node) bool {
		if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
			cr.Fields = append([]*pg_query.Node{pg_query.MakeStrNode("new")}, cr.Fields...)
		}
		return true
	})
	return DeparseExpr(val)
}

// walkExpr calls fn on n and on every sub-expression of the node kinds a
// DEFAULT, CHECK, USING or generation expression can contain. fn returns
// false to stop the descent below a node.
func walkExpr(n *pg_query.Node, fn func(*pg_query.Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	each := func(list []*pg_query.Node) {
		for _, c := range list {
			walkExpr(c, fn)
		}
	}
	switch {
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall()
		each(f.Args)
		walkExpr(f.AggFilter, fn)
	case n.GetTypeCast() != nil:
		walkExpr(n.GetTypeCast().Arg, fn)
	case n.GetAExpr() != nil:
		walkExpr(n.GetAExpr().Lexpr, fn)
		walkExpr(n.GetAExpr().Rexpr, fn)
	case n.GetBoolExpr() != nil:
		each(n.GetBoolExpr().Args)
	case n.GetCoalesceExpr() != nil:
		each(n.GetCoalesceExpr().Args)
	case n.GetMinMaxExpr() != nil:
		each(n.GetMinMaxExpr().Args)
	case n.GetNullIfExpr() != nil:
		each(n.GetNullIfExpr().Args)
	case n.GetCaseExpr() != nil:
		c := n.GetCaseExpr()
		walkExpr(c.Arg, fn)
		each(c.Args)
		walkExpr(c.Defresult, fn)
	case n.GetCaseWhen() != nil:
		walkExpr(n.GetCaseWhen().Expr, fn)
		walkExpr(n.GetCaseWhen().Result, fn)
	case n.GetAArrayExpr() != nil:
		each(n.GetAArrayExpr().Elements)
	case n.GetRowExpr() != nil:
		each(n.GetRowExpr().Args)
	case n.GetNullTest() != nil:
		walkExpr(n.GetNullTest().Arg, fn)
	case n.GetBooleanTest() != nil:
		walkExpr(n.GetBooleanTest().Arg, fn)
	case n.GetCollateClause() != nil:
		walkExpr(n.GetCollateClause().Arg, fn)
	case n.GetNamedArgExpr() != nil:
		walkExpr(n.GetNamedArgExpr().Arg, fn)
	case n.GetAIndirection() != nil:
		walkExpr(n.GetAIndirection().Arg, fn)
	case n.GetList() != nil:
		each(n.GetList().Items)
	}
}

// exprColumns returns the bare column names an expression references, in
// order of first appearance.
func exprColumns(expr *pg_query.Node) []string {
	var out []string
	walkExpr(expr, func(n *pg_query.Node) bool {
		if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) > 0 {
			if name := StringValue(cr.Fields[len(cr.Fields)-1]); name != "" && !contains(out, name) {
				out = append(out, name)
			}
		}
		return true
	})
	return out
}
