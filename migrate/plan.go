// Package migrate turns migration statements into a plan of expand,
// backfill and contract steps that never hold a strong lock on a busy table
// for longer than a catalog update, and (later) runs such plans.
//
// Build reads statements in order, keeping a schema model current, and
// rewrites each dangerous statement with one of the recipes of
// shared/reference/locks.md §1.11. Statements that are already safe pass
// through unchanged; statements with no online path are refused unless the
// caller accepts the outage for their rule (Options.AllowUnsafe).
//
// A plan's steps run in order. Each step runs in its own transaction when
// InTransaction is set, or alone in autocommit otherwise, so the runner can
// journal, retry and undo step by step. No step takes more than one strong
// lock, and where a step holds one it takes it in its last statements.
package migrate

import (
	"fmt"
	"strings"
	"time"

	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Phase is one of the three stages a plan runs in.
type Phase string

const (
	// Expand steps are additive: old and new application code both keep
	// working after them.
	Expand Phase = "expand"
	// Backfill steps change data in throttled batches (package backfill).
	Backfill Phase = "backfill"
	// Contract steps need the backfilled data (validation, column swaps) or
	// remove what the old application code uses (Step.Breaking).
	Contract Phase = "contract"
)

// Timeouts of the statement classes of locks.md §3.1 that do not depend on
// the caller's lock timeout.
const (
	// DDLStatementTimeout bounds a catalog-only strong-lock statement: one
	// wrongly believed instant is cancelled instead of holding its lock.
	DDLStatementTimeout = 30 * time.Second
	// DefaultLockTimeout is used when Options.LockTimeout is zero.
	DefaultLockTimeout = 2 * time.Second
)

// Step is one unit the runner executes and journals.
type Step struct {
	ID          int
	Phase       Phase
	Description string
	// SQL is one or more statements; empty for a backfill step.
	SQL      string
	Backfill *BackfillSpec
	// InTransaction is false for statements PostgreSQL refuses to run in a
	// transaction block (CONCURRENTLY, VACUUM): they run alone, autocommit.
	InTransaction bool
	// Locks are the locks the step takes on existing relations, strongest
	// first.
	Locks []lint.Lock
	// LockTimeout and StatementTimeout are what the runner sets for the
	// step (0 means none): short for strong-lock DDL, no statement limit
	// for validation, none at all for CONCURRENTLY, whose lock waits must
	// not be cut short or they leave invalid indexes behind.
	LockTimeout, StatementTimeout time.Duration
	// Breaking steps drop or rename something the running application
	// uses; the runner holds them back until `migrate complete`.
	Breaking bool
	// Unsafe names the rule whose outage the caller accepted with
	// --allow-unsafe; the step blocks the table while it runs.
	Unsafe string
	// Undo reverses the step and runs the way the step does (in a
	// transaction or not). It is empty when there is nothing to undo
	// (validation, a backfill whose column the expand undo drops) or when
	// the step cannot be undone (it dropped data).
	Undo string
	// Source is the original statement the step was planned from.
	Source Source
	// Assumes names the facts the step depends on that the planned files do
	// not give (a column of a table they do not create), when the plan was
	// built without the live catalog. Empty when nothing is assumed.
	Assumes string
	// Group is the ID of the transaction group (Plan.Groups) the source
	// statement was written in, 0 when it runs on its own. Split says why
	// the step runs apart from the rest of its group, when the group has
	// several steps.
	Group int
	Split string
	// groupFrom and groupKind are the group's Source and Kind, kept with
	// the step so the runner can name the group from the journal alone.
	groupFrom Source
	groupKind string
	// Order numbers the planned source statements (1-based): a group's
	// failure undoes the done steps of its statements and of the ones
	// after it, which naive would never have run.
	Order int
}

// BackfillSpec describes a batched data change for package backfill.
type BackfillSpec struct {
	Table string // as SQL names it, quoted where needed
	Set   string // "col = expr[, ...]"; empty for a delete
	// Where is the predicate that limits the change to rows still to do,
	// so a repeated batch changes nothing (empty: every row).
	Where string
	Key   []string // walk order; empty lets the backfiller choose
	// Delete makes the job delete the matching rows in batches instead of
	// updating them. The backfiller must support it before such a plan can
	// be applied.
	Delete bool
	// Ranges are the key bounds Where implies: the walk covers only the
	// range on its key's leading column (empty: the whole key range).
	Ranges []backfill.KeyRange `json:",omitempty"`
	// Internal marks a backfill that only writes the tool's own columns (a
	// shadow column's copy, the fill of a column the plan added): naive
	// runs no UPDATE there, so the application's row triggers must not
	// fire either (see internalTriggers).
	Internal bool `json:",omitempty"`
}

// Source locates the statement a step or refusal comes from.
type Source struct {
	File         string
	Line, Column int
	Statement    string // the statement's text as written
}

func (s Source) String() string { return fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Column) }

// Refusal is a statement (or one ALTER TABLE action) the planner has no
// online path for.
type Refusal struct {
	Source Source
	Rule   string // the rule --allow-unsafe must name to accept the outage
	Reason string
}

// Plan is the planner's output.
type Plan struct {
	Steps   []Step
	Refused []Refusal
	// Groups are the transactions of the sources (BEGIN ... COMMIT, or the
	// runner's transaction around a file), in source order.
	Groups []TxGroup
}

// Options tune the planner.
type Options struct {
	PGVersion int // server major version; 0 means lint.DefaultPGVersion
	// LockTimeout is the lock_timeout of strong-lock steps (0: 2s).
	LockTimeout time.Duration
	// AllowUnsafe lists rules whose outage the caller accepts: statements
	// with no online path under these rules pass through unchanged.
	AllowUnsafe []string
	// Before are statements already run on the database (earlier
	// migrations): they build the schema model, and are not planned.
	Before []*lint.Statement
	// Live says the schema was read from the database the plan is for
	// (apply, plan --dsn): what it does not hold does not exist. Without
	// it, a table or column the files never create is unknown, and steps
	// that depend on its facts say so (Step.Assumes).
	Live bool
	// TimeZone is the session TimeZone the steps will run under (the
	// runner reads it from its connection); "" when unknown, in which case
	// timestamp <-> timestamptz is planned as the rewrite it may be.
	TimeZone string
	// Batch is the most rows an UPDATE or DELETE bounded by key may reach
	// and still run as written (0: backfill.DefaultBatch).
	Batch int
}

// Rules under which the planner refuses statements; the names are the
// linter's, so that one --allow-unsafe name works for both commands.
const (
	RuleRewrite          = "rewriting-table-operation"
	RuleExclusion        = "adding-exclusion-constraint"
	RuleRequiredField    = "adding-required-column"
	RuleForeignKey       = "adding-foreign-key"
	RuleReindex          = "require-concurrent-reindex"
	RuleDataChange       = "whole-table-dml"
	RuleGeneratedColumn  = "adding-stored-generated-column"
	RuleSerialColumn     = "adding-auto-increment-column"
	RuleTypeChange       = "changing-column-type"
	RuleConcurrentlyInTx = "concurrently-in-transaction"
	RulePartitionedIndex = "partitioned-index"
)

// Build plans stmts, which run in order on a database described by schema.
// schema is updated with each statement as it goes (pass lint.NewSchema()
// when nothing is known); tables created by the planned sources count as
// new and everything on them passes through. Down statements and
// statements inside function bodies are skipped. Build returns an error
// only for inputs it cannot plan at all (a nil schema); statements it will
// not rewrite are listed in Plan.Refused.
func Build(stmts []*lint.Statement, schema *lint.Schema, opts Options) (*Plan, error) {
	if schema == nil {
		return nil, fmt.Errorf("migrate: nil schema")
	}
	if opts.PGVersion == 0 {
		opts.PGVersion = lint.DefaultPGVersion
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	p := &planner{
		opts:     opts,
		schema:   schema,
		sources:  map[*lint.Source]bool{},
		backfill: map[string]bool{},
		partKeys: map[string]*pg_query.PartitionSpec{},
		defaults: map[string]string{},
		allowed:  map[string]bool{},
		groups:   newGroupTracker(stmts),
	}
	for _, r := range opts.AllowUnsafe {
		p.allowed[r] = true
	}
	for _, st := range opts.Before {
		if st.Node != nil && !st.Down && st.Context == "" {
			p.remember(st)
			schema.Apply(st)
		}
	}
	for _, st := range stmts {
		if st.Source != nil {
			p.sources[st.Source] = true
		}
	}
	p.stmts = stmts
	for _, st := range stmts {
		if st.Node == nil || st.Down || st.Context != "" {
			continue
		}
		p.cur = st
		if !p.groups.enter(st, p.source(st)) {
			continue // its transaction ends in ROLLBACK: naive changes nothing
		}
		p.plan(st)
		p.remember(st)
		schema.Apply(st)
	}
	plan := &Plan{Refused: p.refused}
	for _, ph := range []Phase{Expand, Backfill, Contract} {
		for _, s := range p.steps {
			if s.Phase == ph {
				plan.Steps = append(plan.Steps, *s)
			}
		}
	}
	for i := range plan.Steps {
		plan.Steps[i].ID = i + 1
	}
	p.groups.finish(plan)
	return plan, nil
}

// planner is the state of one Build.
type planner struct {
	opts    Options
	schema  *lint.Schema
	sources map[*lint.Source]bool
	steps   []*Step
	refused []Refusal
	allowed map[string]bool
	cur     *lint.Statement
	groups  *groupTracker

	// backfill records tables with a backfill planned so far: later steps
	// that read their data (validation, unique builds) must follow it.
	backfill map[string]bool
	// partKeys and defaults are what the schema model does not keep about
	// partitioned tables created in the sources: the partition key and the
	// DEFAULT partition, both needed to attach partitions without a scan.
	partKeys map[string]*pg_query.PartitionSpec
	defaults map[string]string

	// stmts are the statements being planned, for recipes that look ahead;
	// swaps are the key replacements found so far (recipe_keyswap.go).
	stmts []*lint.Statement
	swaps map[*pg_query.Constraint]*keySwap
}

// stepClass picks the timeouts of locks.md §3.1.
type stepClass int

const (
	classDDL        stepClass = iota // short strong-lock catalog change
	classValidate                    // long scan under a weak lock
	classConcurrent                  // CONCURRENTLY: no timeouts
	classData                        // DML passed through: lock timeout only
	classBackfill                    // the backfiller sets its own
)

// add appends a step planned from the current statement.
func (p *planner) add(phase Phase, class stepClass, desc, sql, undo string, locks ...lint.Lock) *Step {
	s := &Step{Phase: phase, Description: desc, SQL: sql, Undo: undo, InTransaction: true,
		Locks: sortLocks(locks), Source: p.source(p.cur), Order: p.groups.curOrder}
	if g := p.groups.cur; g != nil {
		s.Group, s.groupFrom, s.groupKind = g.ID, g.Source, g.Kind
	}
	switch class {
	case classDDL:
		s.LockTimeout, s.StatementTimeout = p.opts.LockTimeout, DDLStatementTimeout
	case classValidate, classData:
		s.LockTimeout = p.opts.LockTimeout
	case classConcurrent:
		s.InTransaction = false
	case classBackfill:
		s.InTransaction = false
	}
	p.steps = append(p.steps, s)
	return s
}

func (p *planner) source(st *lint.Statement) Source {
	if st == nil || st.Source == nil {
		return Source{}
	}
	pos := st.Pos()
	return Source{File: st.Source.Path, Line: pos.Line, Column: pos.Column, Statement: strings.TrimSpace(st.Text())}
}

// refuse records that the current statement has no online path, or, when
// the caller accepted the outage for rule, passes sql through with locks.
func (p *planner) refuse(rule, reason, sql string, locks ...lint.Lock) {
	if p.allowed[rule] {
		class := classDDL
		if isNonTransactional(sql) {
			class = classConcurrent
		}
		s := p.add(Expand, class, "as written, with its outage accepted (--allow-unsafe "+rule+"): "+reason, sql, "", locks...)
		s.Unsafe = rule
		if class == classConcurrent {
			// Still bound the wait for the lock: the outage accepted is the
			// statement's run time, not an unbounded queue in front of it.
			s.LockTimeout = p.opts.LockTimeout
		}
		return
	}
	p.refused = append(p.refused, Refusal{Source: p.source(p.cur), Rule: rule, Reason: reason})
}

// isNew reports whether the table was created by the statements being
// planned: it is empty and unseen by the running application.
func (p *planner) isNew(t *lint.Table) bool {
	return t != nil && t.Origin != nil && p.sources[t.Origin]
}

// afterBackfill is the phase for a step that reads the table's data:
// contract when a backfill of the table precedes it, expand otherwise.
func (p *planner) afterBackfill(table string) Phase {
	if p.backfill[table] {
		return Contract
	}
	return Expand
}

// remember keeps what later recipes need and the schema model lacks.
func (p *planner) remember(st *lint.Statement) {
	cs := st.Node.GetCreateStmt()
	if cs == nil {
		return
	}
	name := lint.RangeVarName(cs.Relation)
	if cs.Partspec != nil {
		p.partKeys[name] = cs.Partspec
	}
	if cs.Partbound != nil && cs.Partbound.IsDefault && len(cs.InhRelations) > 0 {
		p.defaults[lint.RangeVarName(cs.InhRelations[0].GetRangeVar())] = name
	}
}

// sortLocks orders locks strongest first, dropping duplicates.
func sortLocks(locks []lint.Lock) []lint.Lock {
	out := make([]lint.Lock, 0, len(locks))
	seen := map[string]bool{}
	for _, l := range locks {
		k := l.Relation + "\x00" + l.Mode
		if l.Relation == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && modeRank(out[j].Mode) > modeRank(out[j-1].Mode); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func modeRank(mode string) int {
	for i, m := range []string{lint.AccessShare, lint.RowShare, lint.RowExclusive, lint.ShareUpdateExclusive,
		lint.Share, lint.ShareRowExclusive, lint.Exclusive, lint.AccessExclusive} {
		if m == mode {
			return i
		}
	}
	return -1
}

// assumeColumn marks the steps planned until the returned func runs as
// depending on table.col's facts when the plan cannot know them: a column
// copy must carry the column's NOT NULL, indexes, constraints, identity and
// dependent objects, and the files only tell those for what they create.
func (p *planner) assumeColumn(table string, t *lint.Table, col string) func() {
	first := len(p.steps)
	return func() {
		if p.opts.Live || t.Column(col) != nil {
			return
		}
		what := lint.DisplayName(table) + "." + col
		for _, s := range p.steps[first:] {
			s.Assumes = what + " is not created by the files: its NOT NULL, default, identity, indexes, constraints " +
				"and dependent objects are unknown here, and the swap stops, changing nothing, on one it was not given"
		}
	}
}
