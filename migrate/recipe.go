package migrate

import (
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// plan dispatches one top-level statement to its recipe.
func (p *planner) plan(st *lint.Statement) {
	n := st.Node
	if st.Tx != 0 && lint.RunsOutsideTransaction(n) {
		// The plan could run it on its own, but then it would succeed where
		// the migration as written fails and changes nothing: say so
		// instead, before anything runs.
		p.refuse(RuleConcurrentlyInTx, "this statement cannot run inside a transaction block, and here it runs in one ("+txWhere(st)+
			"), so the migration fails as written (SQLSTATE 25001) and changes nothing; move it out of the transaction "+
			"(drop BEGIN/COMMIT, goose: -- +goose NO TRANSACTION, dbmate: transaction:false, golang-migrate: a file of its own) and plan again",
			p.text())
		return
	}
	switch {
	case n.GetTransactionStmt() != nil:
		// The plan decides transactions: each step is its own.
	case n.GetVariableSetStmt() != nil && plannerSetting(n.GetVariableSetStmt().Name):
		// The runner sets timeouts per step (Step.LockTimeout).
	case n.GetAlterTableStmt() != nil:
		p.alterTable(n.GetAlterTableStmt())
	case n.GetIndexStmt() != nil:
		p.createIndex(n.GetIndexStmt())
	case n.GetDropStmt() != nil:
		p.drop(n.GetDropStmt())
	case n.GetReindexStmt() != nil:
		p.reindex(n.GetReindexStmt())
	case n.GetRenameStmt() != nil:
		p.rename(n.GetRenameStmt())
	case n.GetCreateStmt() != nil:
		p.createTable(n.GetCreateStmt())
	case n.GetUpdateStmt() != nil:
		p.update(n.GetUpdateStmt())
	case n.GetDeleteStmt() != nil:
		p.delete(n.GetDeleteStmt())
	case n.GetVacuumStmt() != nil && vacuumFull(n.GetVacuumStmt()):
		p.refuse(RuleRewrite, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock; use an online rebuild (pg_repack, pg_squeeze) instead",
			p.text(), p.relLocks(vacuumRelations(n.GetVacuumStmt()), lint.AccessExclusive)...)
	case n.GetClusterStmt() != nil:
		cs := n.GetClusterStmt()
		var rels []string
		if cs.Relation != nil {
			rels = append(rels, lint.RangeVarName(cs.Relation))
		}
		if len(rels) == 1 && p.isNew(p.schema.Table(rels[0])) {
			p.passThrough()
			return
		}
		p.refuse(RuleRewrite, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock; use an online rebuild (pg_repack) instead",
			p.text(), p.relLocks(rels, lint.AccessExclusive)...)
	default:
		p.passThrough()
	}
}

// plannerSetting reports whether a SET is one the plan replaces with its
// own per-step values.
func plannerSetting(name string) bool {
	switch name {
	case "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout", "transaction_timeout":
		return true
	}
	return false
}

func vacuumFull(v *pg_query.VacuumStmt) bool {
	for _, o := range v.Options {
		if d := o.GetDefElem(); d != nil && d.Defname == "full" {
			if d.Arg == nil || strings.ToLower(lint.StringValue(d.Arg)) != "false" {
				return true
			}
		}
	}
	return false
}

func vacuumRelations(v *pg_query.VacuumStmt) []string {
	var out []string
	for _, r := range v.Rels {
		if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil {
			out = append(out, lint.RangeVarName(vr.Relation))
		}
	}
	return out
}

// text is the current statement as written, terminated.
func (p *planner) text() string { return strings.TrimSpace(p.cur.Text()) + ";" }

func (p *planner) relLocks(rels []string, mode string) []lint.Lock {
	out := make([]lint.Lock, 0, len(rels))
	for _, r := range rels {
		out = append(out, lint.NewLock(r, mode))
	}
	return out
}

func lock(rel, mode string) lint.Lock { return lint.NewLock(rel, mode) }

// passThrough plans the current statement unchanged, as one step.
func (p *planner) passThrough() {
	n := p.cur.Node
	class := classDDL
	switch {
	case n.GetInsertStmt() != nil, n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil,
		n.GetSelectStmt() != nil, n.GetMergeStmt() != nil, n.GetCopyStmt() != nil:
		class = classData
	case lint.RunsOutsideTransaction(n):
		class = classConcurrent
	}
	s := p.add(Expand, class, describe(n)+" as written (safe)", p.text(), undoOf(n), lint.LocksOf(p.cur, p.schema)...)
	if a := n.GetAlterEnumStmt(); a != nil && p.opts.PGVersion < 12 {
		// ADD VALUE cannot run in a transaction block before PostgreSQL 12.
		s.InTransaction = false
	}
}

// describe names a statement's kind for step descriptions.
func describe(n *pg_query.Node) string {
	for _, m := range []struct {
		ok   bool
		name string
	}{
		{n.GetCreateStmt() != nil, "CREATE TABLE"},
		{n.GetCreateTableAsStmt() != nil, "CREATE TABLE AS"},
		{n.GetViewStmt() != nil, "CREATE VIEW"},
		{n.GetCreateFunctionStmt() != nil, "CREATE FUNCTION"},
		{n.GetCreateTrigStmt() != nil, "CREATE TRIGGER"},
		{n.GetCreateSeqStmt() != nil, "CREATE SEQUENCE"},
		{n.GetCreateEnumStmt() != nil, "CREATE TYPE"},
		{n.GetAlterEnumStmt() != nil, "ALTER TYPE"},
		{n.GetCreateSchemaStmt() != nil, "CREATE SCHEMA"},
		{n.GetCreateExtensionStmt() != nil, "CREATE EXTENSION"},
		{n.GetIndexStmt() != nil, "CREATE INDEX"},
		{n.GetAlterTableStmt() != nil, "ALTER"},
		{n.GetInsertStmt() != nil, "INSERT"},
		{n.GetUpdateStmt() != nil, "UPDATE"},
		{n.GetDeleteStmt() != nil, "DELETE"},
		{n.GetGrantStmt() != nil, "GRANT"},
		{n.GetCommentStmt() != nil, "COMMENT"},
		{n.GetDropStmt() != nil, "DROP"},
		{n.GetRenameStmt() != nil, "RENAME"},
		{n.GetVariableSetStmt() != nil, "SET"},
		{n.GetVacuumStmt() != nil, "VACUUM"},
		{n.GetDoStmt() != nil, "DO"},
		{n.GetTruncateStmt() != nil, "TRUNCATE"},
	} {
		if m.ok {
			return m.name
		}
	}
	return "SQL"
}

// undoOf reverses statements that only create something.
func undoOf(n *pg_query.Node) string {
	switch {
	case n.GetCreateStmt() != nil:
		return "DROP TABLE IF EXISTS " + qt(lint.RangeVarName(n.GetCreateStmt().Relation)) + ";"
	case n.GetIndexStmt() != nil && n.GetIndexStmt().Idxname != "":
		ix := n.GetIndexStmt()
		name := qt(inSchema(lint.RangeVarName(ix.Relation), ix.Idxname))
		if ix.Concurrent {
			return "DROP INDEX CONCURRENTLY IF EXISTS " + name + ";"
		}
		return "DROP INDEX IF EXISTS " + name + ";"
	case n.GetViewStmt() != nil && !n.GetViewStmt().Replace:
		return "DROP VIEW IF EXISTS " + qt(lint.RangeVarName(n.GetViewStmt().View)) + ";"
	case n.GetCreateSeqStmt() != nil:
		return "DROP SEQUENCE IF EXISTS " + qt(lint.RangeVarName(n.GetCreateSeqStmt().Sequence)) + ";"
	case n.GetCreateEnumStmt() != nil:
		return "DROP TYPE IF EXISTS " + qt(qualifyName(lint.NameList(n.GetCreateEnumStmt().TypeName))) + ";"
	case n.GetCreateSchemaStmt() != nil && len(n.GetCreateSchemaStmt().SchemaElts) == 0:
		return "DROP SCHEMA IF EXISTS " + qi(n.GetCreateSchemaStmt().Schemaname) + ";"
	}
	return ""
}

func qualifyName(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return "public." + name
}

// alterTable plans ALTER TABLE action by action: consecutive actions that
// are safe as written stay together in one statement; each action with a
// recipe gets its own steps.
func (p *planner) alterTable(at *pg_query.AlterTableStmt) {
	table := lint.RangeVarName(at.Relation)
	t := p.schema.Table(table)
	if at.Objtype != pg_query.ObjectType_OBJECT_TABLE || p.isNew(t) {
		p.passThrough()
		return
	}
	deferred := p.findKeySwaps(at, table, t)
	allSimple := len(deferred) == 0
	for _, cn := range at.Cmds {
		if cmd := cn.GetAlterTableCmd(); cmd != nil && !p.simpleAction(table, t, cmd) {
			allSimple = false
		}
	}
	var run []*pg_query.Node
	flush := func() {
		if len(run) == 0 {
			return
		}
		var names, undos []string
		var locks []lint.Lock
		undoable := true
		for _, cn := range run {
			cmd := cn.GetAlterTableCmd()
			names = append(names, actionName(cmd))
			u := p.undoAction(table, t, cmd)
			if u == "" {
				undoable = false
			}
			undos = append([]string{u}, undos...)
			locks = append(locks, p.actionLocks(table, cmd)...)
		}
		undo := ""
		if undoable {
			undo = joinSQL(undos...)
		}
		class := classDDL
		if len(run) == 1 && run[0].GetAlterTableCmd().Subtype == pg_query.AlterTableType_AT_ValidateConstraint {
			class = classValidate
		}
		sql := alterTable(at, run...)
		if allSimple {
			sql = p.text() // safe as a whole: keep the statement as written
		}
		p.add(Expand, class, "as written (catalog only): "+strings.Join(names, ", ")+" on "+lint.DisplayName(table),
			sql, undo, locks...)
		run = nil
	}
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil || deferred[cmd] {
			continue // a dropped key goes in the swap of its replacement
		}
		if p.simpleAction(table, t, cmd) {
			run = append(run, cn)
			continue
		}
		flush()
		p.alterAction(at, table, t, cmd)
	}
	flush()
}

// simpleAction reports whether an ALTER TABLE action is safe as written:
// catalog-only under a short lock, or already in its online form.
func (p *planner) simpleAction(table string, t *lint.Table, cmd *pg_query.AlterTableCmd) bool {
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		return !p.addColumnNeedsRecipe(cmd.Def.GetColumnDef())
	case pg_query.AlterTableType_AT_AddConstraint:
		con := cmd.Def.GetConstraint()
		if con == nil {
			return true
		}
		switch con.Contype {
		case pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_FOREIGN:
			return con.SkipValidation
		case pg_query.ConstrType_CONSTR_UNIQUE:
			return con.Indexname != ""
		case pg_query.ConstrType_CONSTR_PRIMARY:
			return con.Indexname != "" && p.allNotNull(t, p.indexColumns(table, con.Indexname))
		case pg_query.ConstrType_CONSTR_EXCLUSION:
			return false
		}
		return true
	case pg_query.AlterTableType_AT_SetNotNull:
		return p.opts.PGVersion >= 12 && t.HasValidNotNullCheck(cmd.Name)
	case pg_query.AlterTableType_AT_AlterColumnType:
		return p.binaryCoercible(t, cmd)
	case pg_query.AlterTableType_AT_DropColumn,
		pg_query.AlterTableType_AT_SetTableSpace, pg_query.AlterTableType_AT_SetLogged,
		pg_query.AlterTableType_AT_SetUnLogged, pg_query.AlterTableType_AT_SetAccessMethod,
		pg_query.AlterTableType_AT_AttachPartition, pg_query.AlterTableType_AT_DetachPartition,
		pg_query.AlterTableType_AT_ValidateConstraint:
		return false
	}
	return true
}

// alterAction plans one ALTER TABLE action that simpleAction rejected.
func (p *planner) alterAction(at *pg_query.AlterTableStmt, table string, t *lint.Table, cmd *pg_query.AlterTableCmd) {
	one := alterTable(at, &pg_query.Node{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}})
	ael := lock(table, lint.AccessExclusive)
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		p.addColumn(at, table, t, cmd)
	case pg_query.AlterTableType_AT_AddConstraint:
		p.addConstraint(at, table, t, cmd.Def.GetConstraint(), nil)
	case pg_query.AlterTableType_AT_SetNotNull:
		ph := p.afterBackfill(table)
		check := p.notNullCheck(table, cmd.Name, ph)
		p.setNotNull(table, []string{cmd.Name}, []string{check}, ph, "")
	case pg_query.AlterTableType_AT_AlterColumnType:
		defer p.assumeColumn(table, t, cmd.Name)()
		p.changeType(at, table, t, cmd)
	case pg_query.AlterTableType_AT_DropColumn:
		p.add(Contract, classDDL, "drop column "+lint.DisplayName(table)+"."+cmd.Name+" once no running code uses it",
			one, "", ael).Breaking = true
	case pg_query.AlterTableType_AT_ValidateConstraint:
		p.add(p.afterBackfill(table), classValidate, "validate "+cmd.Name+" in its own transaction (scan under SHARE UPDATE EXCLUSIVE)",
			one, "", lock(table, lint.ShareUpdateExclusive))
	case pg_query.AlterTableType_AT_SetTableSpace:
		p.refuse(RuleRewrite, "SET TABLESPACE copies the whole table under an ACCESS EXCLUSIVE lock; no online path", one, ael)
	case pg_query.AlterTableType_AT_SetLogged, pg_query.AlterTableType_AT_SetUnLogged:
		p.refuse(RuleRewrite, "SET LOGGED / UNLOGGED rewrites the table under an ACCESS EXCLUSIVE lock; no online path", one, ael)
	case pg_query.AlterTableType_AT_SetAccessMethod:
		p.refuse(RuleRewrite, "SET ACCESS METHOD rewrites the table under an ACCESS EXCLUSIVE lock; no online path", one, ael)
	case pg_query.AlterTableType_AT_AttachPartition:
		p.attachPartition(table, cmd.Def.GetPartitionCmd(), "")
	case pg_query.AlterTableType_AT_DetachPartition:
		p.detachPartition(at, table, cmd)
	}
}

// actionName is a short human name for an ALTER TABLE action.
func actionName(cmd *pg_query.AlterTableCmd) string {
	col := cmd.Name
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		if cd := cmd.Def.GetColumnDef(); cd != nil {
			return "add column " + cd.Colname
		}
	case pg_query.AlterTableType_AT_ColumnDefault:
		if cmd.Def == nil {
			return "drop default of " + col
		}
		return "set default of " + col
	case pg_query.AlterTableType_AT_DropNotNull:
		return "drop not null of " + col
	case pg_query.AlterTableType_AT_SetNotNull:
		return "set not null of " + col + " (validated check present)"
	case pg_query.AlterTableType_AT_AlterColumnType:
		return "binary-coercible type change of " + col
	case pg_query.AlterTableType_AT_AddConstraint:
		if con := cmd.Def.GetConstraint(); con != nil {
			return "add constraint " + con.Conname
		}
	case pg_query.AlterTableType_AT_DropConstraint:
		return "drop constraint " + col
	}
	name := strings.ToLower(strings.TrimPrefix(cmd.Subtype.String(), "AT_"))
	if col != "" {
		name += " " + col
	}
	return name
}

// undoAction reverses one simple ALTER TABLE action, or returns "".
func (p *planner) undoAction(table string, t *lint.Table, cmd *pg_query.AlterTableCmd) string {
	alter := "ALTER TABLE " + qt(table) + " "
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		if cd := cmd.Def.GetColumnDef(); cd != nil {
			return alter + "DROP COLUMN IF EXISTS " + qi(cd.Colname) + ";"
		}
	case pg_query.AlterTableType_AT_AddConstraint:
		if con := cmd.Def.GetConstraint(); con != nil {
			name := con.Conname
			if name == "" {
				name = p.constraintName(table, con, nil)
			}
			return alter + "DROP CONSTRAINT IF EXISTS " + qi(name) + ";"
		}
	case pg_query.AlterTableType_AT_ColumnDefault:
		if c := t.Column(cmd.Name); c != nil && !c.HasDefault && cmd.Def != nil {
			return alter + "ALTER COLUMN " + qi(cmd.Name) + " DROP DEFAULT;"
		}
	case pg_query.AlterTableType_AT_SetNotNull:
		return alter + "ALTER COLUMN " + qi(cmd.Name) + " DROP NOT NULL;"
	case pg_query.AlterTableType_AT_AlterColumnType:
		if c := t.Column(cmd.Name); c != nil {
			return alter + "ALTER COLUMN " + qi(cmd.Name) + " TYPE " + typeSQL(c.Type) + ";"
		}
	}
	return ""
}

// actionLocks are the locks one simple ALTER TABLE action takes.
func (p *planner) actionLocks(table string, cmd *pg_query.AlterTableCmd) []lint.Lock {
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_SetStatistics, pg_query.AlterTableType_AT_SetRelOptions,
		pg_query.AlterTableType_AT_ResetRelOptions, pg_query.AlterTableType_AT_ClusterOn,
		pg_query.AlterTableType_AT_ValidateConstraint:
		return []lint.Lock{lock(table, lint.ShareUpdateExclusive)}
	case pg_query.AlterTableType_AT_AddConstraint:
		if con := cmd.Def.GetConstraint(); con != nil && con.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
			return []lint.Lock{lock(table, lint.ShareRowExclusive), lock(lint.RangeVarName(con.Pktable), lint.ShareRowExclusive)}
		}
	case pg_query.AlterTableType_AT_EnableTrig, pg_query.AlterTableType_AT_DisableTrig,
		pg_query.AlterTableType_AT_EnableTrigAll, pg_query.AlterTableType_AT_DisableTrigAll,
		pg_query.AlterTableType_AT_EnableTrigUser, pg_query.AlterTableType_AT_DisableTrigUser:
		return []lint.Lock{lock(table, lint.ShareRowExclusive)}
	}
	return []lint.Lock{lock(table, lint.AccessExclusive)}
}

// allNotNull reports whether the model knows every column to be NOT NULL.
func (p *planner) allNotNull(t *lint.Table, cols []string) bool {
	if len(cols) == 0 {
		return false
	}
	for _, c := range cols {
		col := t.Column(c)
		if col == nil || !col.NotNull {
			return false
		}
	}
	return true
}

func (p *planner) indexColumns(table, index string) []string {
	if ix := p.schema.Indexes[inSchema(table, index)]; ix != nil {
		return ix.Columns
	}
	return nil
}

// txWhere names the transaction st runs in, for a refusal.
func txWhere(st *lint.Statement) string {
	if st.Explicit {
		return "BEGIN ... COMMIT"
	}
	if st.Source != nil && st.Source.Format != "" && st.Source.Format != "sql" {
		return "the transaction " + st.Source.Format + " runs the file in"
	}
	return "the transaction the runner opens around the file"
}
