package lint

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Rules about what a statement does beyond the tables it names (locks.md
// §4 hazards 3, 5, 7, 15). fk-locks-other-table works from the schema model
// alone, so it is an ordinary rule; the others need facts only a live
// database has (dependent views, sequence positions, sessions) and are
// registered by RegisterDatabaseRules, which the CLI calls: the shared
// testdata runner lints without a database and could not exercise them.

var ruleFKLocksOtherTable = register(&Rule{
	Name:     "fk-locks-other-table",
	Doc:      "a statement locks tables it does not name, through foreign keys (parents and children)",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if st.Node == nil || inFunctionBody(st) {
			return
		}
		// Most statements take no strong lock at all; finding that out
		// first keeps the FK lookups off the hot path.
		locks := pass.locks()
		strong := false
		for _, l := range locks {
			strong = strong || IsStrong(l.Mode)
		}
		if !strong {
			return
		}
		named := namedRelations(st.Node)
		if len(named) == 0 {
			return
		}
		var cross []Lock
		var why []string
		for _, l := range locks {
			q := qualify(l.Relation)
			if named[q] || !IsStrong(l.Mode) || !relExisting(pass, q) {
				continue
			}
			how := fkRelation(pass.Schema, q, named)
			if how == "" {
				continue
			}
			cross = append(cross, l)
			why = append(why, describeLock(l)+": "+DisplayName(q)+" "+how)
		}
		if len(cross) > 0 {
			pass.Report(Finding{
				Message: "this statement also locks tables it does not name, through foreign keys: " + strings.Join(why, "; ") +
					". Traffic on those tables queues behind it (and behind its lock request while it waits).",
				Locks: cross,
				Fix: "Run it in its own short transaction with SET LOCAL lock_timeout = '2s' and retry on timeout, while the other tables are quiet. " +
					"To drop a table or a column that has foreign keys, first drop each foreign key in its own transaction (ALTER TABLE ... DROP CONSTRAINT, ACCESS EXCLUSIVE on both sides, instant), then the table or column.",
			})
			return
		}
		// No lock on another table, but ACCESS EXCLUSIVE on a parent makes
		// every child INSERT/UPDATE wait too: the FK check locks the parent
		// row (locks.md §2, last row).
		for _, l := range locks {
			q := qualify(l.Relation)
			if !named[q] || (l.Mode != AccessExclusive && l.Mode != Exclusive) || !relExisting(pass, q) {
				continue
			}
			children, more := existingChildren(pass, q, named, 5)
			if len(children) == 0 {
				continue
			}
			list := joinDisplay(children)
			if more > 0 {
				list += fmt.Sprintf(" (and up to %d more)", more)
			}
			pass.Report(Finding{
				Severity: SeverityInfo,
				Message: l.Mode + " on " + DisplayName(q) + " also stops writes to " + list +
					": their foreign key checks lock the referenced row of " + DisplayName(q) + " and wait until this transaction ends",
				Locks: []Lock{l},
				Fix:   "Keep the transaction that holds this lock short (own transaction, SET LOCAL lock_timeout, nothing slow after it).",
			})
			return
		}
	},
})

// fkRelation says how table relates through a foreign key to one of the
// named tables, or "" when it does not. It looks from both ends without
// listing every child of a named table: a hot parent can have thousands.
func fkRelation(s *Schema, table string, named map[string]bool) string {
	for _, c := range s.Table(table).constraintsOfKind("foreign") {
		if named[c.RefTable] {
			return "has a foreign key referencing " + DisplayName(c.RefTable)
		}
	}
	// In name order: which named table the message cites must not depend
	// on map iteration, or the same migration lints differently each run.
	for _, t := range slices.Sorted(maps.Keys(named)) {
		for _, c := range s.Table(t).constraintsOfKind("foreign") {
			if c.RefTable == table {
				return "referenced by a foreign key of " + DisplayName(t)
			}
		}
	}
	return ""
}

// existingChildren returns up to limit existing, unnamed tables with a
// foreign key referencing parent, and how many other referrers there are
// (not all of them checked, so "up to").
func existingChildren(pass *Pass, parent string, named map[string]bool, limit int) ([]string, int) {
	all, self := pass.Schema.referrersNoCopy(qualify(parent))
	total := len(all)
	if self >= 0 {
		total--
	}
	var out []string
	i := -1 // position among the referrers other than parent itself
	for j, c := range all {
		if j == self {
			continue
		}
		i++
		if named[c] || !relExisting(pass, c) {
			continue
		}
		out = append(out, c)
		if len(out) == limit {
			return out, total - i - 1
		}
	}
	return out, 0
}

// namedRelations lists the relations a statement names (qualified),
// including the objects of DROP and the tables of TRUNCATE and REFERENCES.
func namedRelations(n *pg_query.Node) map[string]bool {
	out := map[string]bool{}
	if at := n.GetAlterTableStmt(); at != nil && at.Objtype == pg_query.ObjectType_OBJECT_TABLE {
		// The common case, walked by type: the reflective walk below costs
		// more than the rest of the rule on a file of ALTER TABLEs.
		out[RangeVarName(at.Relation)] = true
		fk := func(con *pg_query.Constraint) {
			if con != nil && con.Pktable != nil {
				out[RangeVarName(con.Pktable)] = true
			}
		}
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			fk(cmd.Def.GetConstraint())
			if cd := cmd.Def.GetColumnDef(); cd != nil {
				for _, c := range cd.Constraints {
					fk(c.GetConstraint())
				}
			}
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Name != nil {
				out[RangeVarName(pc.Name)] = true
			}
		}
		return out
	}
	if ix := n.GetIndexStmt(); ix != nil {
		// PostgreSQL allows no subquery in index expressions or
		// predicates: the indexed table is the only relation named.
		out[RangeVarName(ix.Relation)] = true
		return out
	}
	if cs := n.GetCreateStmt(); cs != nil {
		createStmtRelations(cs, out)
		return out
	}
	if d := n.GetDropStmt(); d != nil {
		switch d.RemoveType {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_FOREIGN_TABLE,
			pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
			for _, obj := range d.Objects {
				if name := dropObjectName(obj, false); name != "" {
					out[name] = true
				}
			}
		}
	}
	walkRangeVars(n, out)
	return out
}

// createStmtRelations adds the relations CREATE TABLE names: the table, its
// parents, the tables it copies with LIKE and those its foreign keys
// reference. Defaults and checks cannot hold subqueries, so nothing else
// can name a relation.
func createStmtRelations(cs *pg_query.CreateStmt, out map[string]bool) {
	add := func(rv *pg_query.RangeVar) {
		if rv != nil {
			out[RangeVarName(rv)] = true
		}
	}
	add(cs.Relation)
	for _, p := range cs.InhRelations {
		add(p.GetRangeVar())
	}
	for _, el := range cs.TableElts {
		switch {
		case el.GetColumnDef() != nil:
			cd := el.GetColumnDef()
			add(cd.IdentitySequence)
			for _, c := range cd.Constraints {
				if con := c.GetConstraint(); con != nil {
					add(con.Pktable)
				}
			}
		case el.GetConstraint() != nil:
			add(el.GetConstraint().Pktable)
		case el.GetTableLikeClause() != nil:
			add(el.GetTableLikeClause().Relation)
		}
	}
}

// walkRangeVars adds every RangeVar in the tree under n, by reflection:
// the general case, for statements without a typed path.
func walkRangeVars(n *pg_query.Node, out map[string]bool) {
	var walk func(m protoreflect.Message, depth int)
	walk = func(m protoreflect.Message, depth int) {
		if depth > 64 || !m.IsValid() {
			return
		}
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok {
			out[RangeVarName(rv)] = true
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
				return true
			}
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message(), depth+1)
				}
				return true
			}
			walk(v.Message(), depth+1)
			return true
		})
	}
	walk(n.ProtoReflect(), 0)
}

// Database-only rules. Their testdata cannot be judged without a live
// catalog; integration tests cover them.
var (
	RuleColumnUsedByView = &Rule{
		Name:     "column-used-by-view",
		Doc:      "dropping or retyping a column that views or materialized views use: it fails, or CASCADE silently drops the views (needs --dsn)",
		Severity: SeverityError,
		Run:      runColumnUsedByView,
	}
	RuleInt4KeyOverflow = &Rule{
		Name:     "int4-key-overflow",
		Doc:      "an int4 key or sequence past half its range on a table the migration touches (needs --dsn)",
		Severity: SeverityInfo,
		Run:      runInt4KeyOverflow,
	}
	RuleLiveHazard = &Rule{
		Name:     "live-hazard",
		Doc:      "long or idle-in-transaction sessions, or an anti-wraparound autovacuum, that a strong lock would queue behind right now (needs --dsn)",
		Severity: SeverityWarning,
		Run:      runLiveHazard,
	}
	// RuleTraceContradictsLint and RuleTraceUntraced are reported by the
	// trace package (--trace), not by a Run function.
	RuleTraceContradictsLint = &Rule{
		Name:     "trace-contradicts-lint",
		Doc:      "running the statement on a scratch database showed a lock, rewrite or scan the static verdict missed or overstated (needs --trace)",
		Severity: SeverityWarning,
	}
	RuleTraceUntraced = &Rule{
		Name:     "trace-untraced",
		Doc:      "a statement --trace could not run or probe, so its verdict is static only (needs --trace)",
		Severity: SeverityInfo,
	}
)

var registerDBOnce sync.Once

// RegisterDatabaseRules adds the rules that need --dsn or --trace to the
// rule list, so --list-rules, --rule, --disable and ignore comments know
// them. Safe to call more than once.
func RegisterDatabaseRules() {
	registerDBOnce.Do(func() {
		for _, r := range []*Rule{RuleColumnUsedByView, RuleInt4KeyOverflow, RuleLiveHazard, RuleTraceContradictsLint, RuleTraceUntraced} {
			register(r)
		}
	})
}

func runColumnUsedByView(pass *Pass) {
	cat := CatalogOf(pass.Schema)
	at := pass.Stmt.Node.GetAlterTableStmt()
	if cat == nil || at == nil || at.Objtype != pg_query.ObjectType_OBJECT_TABLE {
		return
	}
	table := RangeVarName(at.Relation)
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		var what string
		cascade := cmd.Behavior == pg_query.DropBehavior_DROP_CASCADE
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_DropColumn:
			what = "DROP COLUMN " + QuoteIdent(cmd.Name)
		case pg_query.AlterTableType_AT_AlterColumnType:
			what = "ALTER COLUMN " + QuoteIdent(cmd.Name) + " TYPE"
			cascade = false
		default:
			continue
		}
		views := cat.ViewsOn[table+"."+cmd.Name]
		if len(views) == 0 {
			continue
		}
		var names, drops, creates []string
		for _, v := range views {
			kind := "VIEW"
			if v.Kind == "matview" {
				kind = "MATERIALIZED VIEW"
			}
			names = append(names, strings.ToLower(kind)+" "+DisplayName(v.Name))
			drops = append(drops, "DROP "+kind+" "+QuoteQualified(v.Name)+";")
			creates = append(creates, "CREATE "+kind+" "+QuoteQualified(v.Name)+" AS ...;  -- from SELECT pg_get_viewdef('"+strings.ReplaceAll(QuoteQualified(v.Name), "'", "''")+"'::regclass), without the column")
		}
		msg := what + " on " + DisplayName(table) + ": " + strings.Join(names, ", ") + " use the column. "
		if cascade {
			msg += "CASCADE silently drops them, and the application's queries on them start failing."
		} else {
			msg += "The statement fails (cannot drop or alter a column used by a view or rule); adding CASCADE would silently drop them."
		}
		pass.Report(Finding{
			Message: msg,
			Locks:   []Lock{NewLock(table, AccessExclusive)},
			Fix: "In one short transaction with SET LOCAL lock_timeout: " + strings.Join(drops, " ") + " then this statement, then " +
				strings.Join(creates, " ") + " (and GRANTs). Deploy application code that no longer reads the column first.",
		})
	}
}

func runInt4KeyOverflow(pass *Pass) {
	cat := CatalogOf(pass.Schema)
	if cat == nil || pass.Stmt.Node == nil {
		return
	}
	touched := map[string]bool{}
	for t := range namedRelations(pass.Stmt.Node) {
		touched[t] = true
	}
	for _, l := range pass.locks() {
		touched[qualify(l.Relation)] = true
	}
	for _, s := range cat.Sequences {
		if s.Table == "" || !touched[s.Table] || s.Used() < 0.5 || !cat.once("int4:"+s.Name) {
			continue
		}
		typ := s.ColType
		if typ == "" {
			typ = s.SeqType
		}
		key := "column " + DisplayName(s.Table) + "." + QuoteIdent(s.Column)
		if s.Primary {
			key = "primary key " + key
		}
		pass.Report(Finding{
			Message: fmt.Sprintf("%s (%s) is fed by sequence %s, which is at %d of %d (%.0f%% of the range); when it runs out every INSERT fails with "+
				"\"integer out of range\" or \"reached maximum value of sequence\", and ALTER SEQUENCE ... AS bigint alone does not help while the column is %s",
				key, typ, DisplayName(s.Name), s.LastValue, s.Max, 100*s.Used(), typ),
			Locks: []Lock{},
			Fix: "Plan the expand/contract widening to bigint (locks.md R6): 1) ADD COLUMN " + QuoteIdent(s.Column+"_new") + " bigint on " + DisplayName(s.Table) +
				" (and on each FK child); 2) a trigger copies the value on INSERT/UPDATE; 3) batched backfill (migrate backfill); " +
				"4) CREATE UNIQUE INDEX CONCURRENTLY on the new column; 5) CHECK (... IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL; " +
				"6) one short transaction per table, parent first: swap the primary key USING INDEX and rename the columns; " +
				"7) re-add foreign keys NOT VALID, then VALIDATE; 8) ALTER SEQUENCE " + QuoteQualified(s.Name) + " AS bigint.",
		})
	}
}

func runLiveHazard(pass *Pass) {
	cat := CatalogOf(pass.Schema)
	st := pass.Stmt
	if cat == nil || st.Node == nil || inFunctionBody(st) {
		return
	}
	locks := pass.locks()
	concurrent := isConcurrently(st.Node)
	var strong []Lock
	for _, l := range locks {
		if IsStrong(l.Mode) && relExisting(pass, l.Relation) {
			strong = append(strong, l)
		}
	}
	if (len(strong) > 0 || concurrent) && len(cat.Hazards) > 0 && cat.once("sessions") {
		var parts []string
		for i, h := range cat.Hazards {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("and %d more", len(cat.Hazards)-5))
				break
			}
			app := h.Application
			if app == "" {
				app = "no application_name"
			}
			parts = append(parts, fmt.Sprintf("pid %d (%s, %s, transaction open %s)", h.PID, app, h.State, h.Age.Round(time.Second)))
		}
		what := "its lock request queues behind them, and every query on the table queues behind the request"
		if concurrent && len(strong) == 0 {
			what = "CONCURRENTLY waits for every older snapshot in the database, so it cannot finish before they do"
		}
		pass.Report(Finding{
			Message: "right now the database has long-running or idle-in-transaction sessions: " + strings.Join(parts, "; ") + ". " +
				"If this migration ran now, " + what + " (locks.md §2).",
			Locks: strong,
			Fix: "Before running it, end or wait out those sessions (pg_stat_activity), set a short lock_timeout with retries, and give " +
				"application roles an idle_in_transaction_session_timeout.",
		})
	}
	for _, l := range locks {
		q := qualify(l.Relation)
		if t, ok := cat.IndexTable[q]; ok {
			q = t
		}
		pid, ok := cat.Wraparound[q]
		if !ok || lockRank[l.Mode] < lockRank[ShareUpdateExclusive] || !cat.once("wrap:"+q) {
			continue
		}
		pass.Report(Finding{
			Message: fmt.Sprintf("an anti-wraparound autovacuum (pid %d) is working on %s right now; it holds SHARE UPDATE EXCLUSIVE and does not "+
				"cancel itself for lock waiters, so this statement's %s waits until it finishes, and traffic queues behind the wait", pid, DisplayName(q), l.Mode),
			Locks: []Lock{l},
			Fix:   "Run the migration after the vacuum finishes (pg_stat_progress_vacuum); do not cancel it, it will restart.",
		})
	}
}

// isConcurrently reports whether a statement is one of the CONCURRENTLY
// forms that wait for old snapshots.
func isConcurrently(n *pg_query.Node) bool {
	what, _ := nonTransactional(n, nil)
	return strings.Contains(what, "CONCURRENTLY")
}
