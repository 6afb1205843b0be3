package migrate

// Transaction groups (issue 11, defect 5). A migration file's author, or
// the runner the file is written for (goose, golang-migrate, Flyway,
// dbmate, diesel), makes some statements all-or-nothing: naive runs them
// in one transaction, and a failure rolls every one of them back. The
// plan cannot keep them in one transaction (CONCURRENTLY refuses one, a
// backfill commits in batches, a VALIDATE must not hold the group's strong
// locks for its scan), so it keeps their meaning another way: each step
// knows its group, the plan says which statements were split out and why,
// and the runner undoes the group's done steps when one of them fails on
// its data (run_group.go).

import (
	"fmt"
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// TxGroup is one transaction of the sources the plan was built from.
type TxGroup struct {
	ID int
	// Source is where the transaction opens: the BEGIN, or the first
	// statement of a transaction the runner opens around the file.
	Source Source
	// Kind says who opened it ("BEGIN ... COMMIT", "goose's transaction
	// around the file", ...).
	Kind string
	// Steps are the IDs of the steps planned from its statements.
	Steps []int
	// Irreversible are the steps of the group that have no undo and
	// change something, and after which another step of the group runs:
	// if that later step fails, the runner cannot roll the group back.
	Irreversible []int
	// RolledBack is set for a transaction that ends in ROLLBACK: naive
	// changes nothing, and the plan has no steps for it.
	RolledBack bool
}

// txKey identifies a transaction: lint numbers them per source.
type txKey struct {
	src *lint.Source
	tx  int
}

// groupTracker assigns the planned statements to transaction groups as
// Build walks them.
type groupTracker struct {
	byKey  map[txKey]*TxGroup
	groups []*TxGroup
	// rolledBack holds transactions that end in ROLLBACK.
	rolledBack map[txKey]bool
	// order counts the planned statements; cur and curOrder describe the
	// statement being planned.
	order    int
	cur      *TxGroup
	curOrder int
}

func newGroupTracker(stmts []*lint.Statement) *groupTracker {
	g := &groupTracker{byKey: map[txKey]*TxGroup{}, rolledBack: map[txKey]bool{}}
	for _, st := range stmts {
		if st.Node == nil || st.Down || st.Context != "" || st.Tx == 0 {
			continue
		}
		if ts := st.Node.GetTransactionStmt(); ts != nil && ts.Kind == pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK {
			g.rolledBack[txKey{st.Source, st.Tx}] = true
		}
	}
	return g
}

// enter starts statement st; it returns false when st is not to be planned
// because its transaction ends in ROLLBACK.
func (g *groupTracker) enter(st *lint.Statement, src Source) bool {
	g.order++
	g.curOrder, g.cur = g.order, nil
	if st.Tx == 0 || st.Source == nil {
		return true
	}
	k := txKey{st.Source, st.Tx}
	grp := g.byKey[k]
	if grp == nil {
		grp = &TxGroup{ID: len(g.groups) + 1, Source: src, Kind: txKind(st), RolledBack: g.rolledBack[k]}
		g.byKey[k] = grp
		g.groups = append(g.groups, grp)
	}
	g.cur = grp
	return !grp.RolledBack
}

// txKind names who opened st's transaction.
func txKind(st *lint.Statement) string {
	if st.Explicit {
		return "BEGIN ... COMMIT"
	}
	runner := "the runner"
	if st.Source != nil && st.Source.Format != "" && st.Source.Format != "sql" {
		runner = st.Source.Format
	}
	if st.Source != nil {
		for _, c := range st.Source.Chunks {
			if st.Start >= c.Start && st.Start < c.End && c.Tx == lint.TxImplicit {
				return runner + " sends the file as one string: one implicit transaction"
			}
		}
	}
	return runner + "'s transaction around the file"
}

// finish numbers the groups' steps (after Build gave steps their IDs),
// says why each step of a group of several runs on its own, and lists the
// steps that would make a rollback of their group impossible.
func (g *groupTracker) finish(plan *Plan) {
	byID := map[int]*TxGroup{}
	for _, grp := range g.groups {
		byID[grp.ID] = grp
	}
	for i := range plan.Steps {
		if grp := byID[plan.Steps[i].Group]; grp != nil {
			grp.Steps = append(grp.Steps, plan.Steps[i].ID)
		}
	}
	for _, grp := range g.groups {
		for _, id := range grp.Steps {
			s := &plan.Steps[id-1]
			if len(grp.Steps) > 1 {
				s.Split = splitReason(s)
			}
			if id != grp.Steps[len(grp.Steps)-1] && !undoable(plan.Steps, id-1) {
				grp.Irreversible = append(grp.Irreversible, id)
			}
		}
		plan.Groups = append(plan.Groups, *grp)
	}
}

// splitReason says why a step of a group runs in a transaction of its own
// (or none) rather than in the group's.
func splitReason(s *Step) string {
	switch {
	case s.Backfill != nil:
		return "backfill in batches, each committed on its own: one UPDATE would lock every row it changes until the end"
	case !s.InTransaction && strings.Contains(strings.ToUpper(s.SQL), "CONCURRENTLY"):
		return "CONCURRENTLY cannot run inside a transaction block"
	case !s.InTransaction:
		return "cannot run inside a transaction block"
	case validationOnly(s.SQL):
		return "VALIDATE in its own transaction: its scan holds only SHARE UPDATE EXCLUSIVE, not the group's strong locks"
	}
	for _, l := range s.Locks {
		if lint.IsStrong(l.Mode) {
			return "its own short transaction: at most one strong lock per step, under a short lock_timeout"
		}
	}
	return "its own transaction, journaled and retried on its own"
}

// undoable reports whether step i of steps can be reversed when its group
// fails: it has an undo, changes nothing (validation, a read-only check), or only fills a
// column that an earlier step adds and whose undo drops it.
func undoable(steps []Step, i int) bool {
	s := &steps[i]
	switch {
	case s.Undo != "", s.Backfill == nil && strings.TrimSpace(s.SQL) != "" && (validationOnly(s.SQL) || readOnlyCheck(s.SQL)):
		return true
	case s.Backfill == nil || s.Backfill.Delete:
		return false
	}
	table, cols := backfillTargets(s.Backfill)
	if len(cols) == 0 {
		return false
	}
	for _, c := range cols {
		dropped := false
		for j := 0; j < i && !dropped; j++ {
			dropped = dropsColumn(steps[j].Undo, table, c)
		}
		if !dropped {
			return false
		}
	}
	return true
}

// backfillTargets are the columns a backfill assigns, read with the parser so
// that commas and '=' inside the expressions do not matter.
func backfillTargets(b *BackfillSpec) (table string, cols []string) {
	tree, err := pg_query.Parse("UPDATE " + b.Table + " SET " + b.Set)
	if err != nil || len(tree.Stmts) != 1 {
		return "", nil
	}
	us := tree.Stmts[0].Stmt.GetUpdateStmt()
	if us == nil || us.Relation == nil {
		return "", nil
	}
	var out []string
	for _, t := range us.TargetList {
		if rt := t.GetResTarget(); rt != nil {
			out = append(out, rt.Name)
		}
	}
	return lint.RangeVarName(us.Relation), out
}

// dropsColumn reports whether undo drops column col of table (a name as
// lint.RangeVarName gives it).
func dropsColumn(undo, table, col string) bool {
	if undo == "" {
		return false
	}
	tree, err := pg_query.Parse(undo)
	if err != nil {
		return false
	}
	want := strings.TrimPrefix(table, "public.")
	for _, raw := range tree.Stmts {
		at := raw.Stmt.GetAlterTableStmt()
		if at == nil || at.Relation == nil {
			continue
		}
		if strings.TrimPrefix(lint.RangeVarName(at.Relation), "public.") != want {
			continue
		}
		for _, cn := range at.Cmds {
			if cmd := cn.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pg_query.AlterTableType_AT_DropColumn && cmd.Name == col {
				return true
			}
		}
	}
	return false
}

// groupOf returns the plan's group with id, or nil.
func (p *Plan) groupOf(id int) *TxGroup {
	for i := range p.Groups {
		if p.Groups[i].ID == id {
			return &p.Groups[i]
		}
	}
	return nil
}

// shown reports whether a group is worth describing: it was split into
// several steps, has steps that cannot be undone, or was rolled back.
func (g *TxGroup) shown() bool {
	return len(g.Steps) > 1 || len(g.Irreversible) > 0 || g.RolledBack
}

// Who undoes a failed group: apply does it by itself; a person running
// the sql output by hand does it with the undo comments.
const (
	undoByApply = "apply undoes the done ones in reverse"
	undoByHand  = "run the undo of its done steps, newest first"
)

// summary is the one-line description of a group in plan output.
func (g *TxGroup) summary(undo string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "transaction %d (%s, from %s)", g.ID, g.Kind, g.Source)
	switch {
	case g.RolledBack:
		b.WriteString(": ends in ROLLBACK, so naive changes nothing; not planned")
	case len(g.Steps) == 1:
		fmt.Fprintf(&b, ": step %d", g.Steps[0])
	default:
		fmt.Fprintf(&b, ": steps %s, all or nothing: if one fails on its data, %s", idList(g.Steps), undo)
	}
	return b.String()
}

// irreversibleNote warns, before anything runs, about a group that apply
// cannot roll back once a given step is done.
func (g *TxGroup) irreversibleNote() string {
	if len(g.Irreversible) == 0 {
		return ""
	}
	return fmt.Sprintf("step(s) %s cannot be undone: if a later step of transaction %d fails, apply cannot roll the group back and stops there (consistent, resumable)",
		idList(g.Irreversible), g.ID)
}

func idList(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}
