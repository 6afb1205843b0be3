package lint

// Rule is one check. Rules are values, registered in the All list, so that
// tests, docs and configuration can enumerate them.
type Rule struct {
	// Name is kebab-case, stable, used in output, ignore comments and config.
	Name string
	// Doc is one line for --help listings.
	Doc string
	// Severity is the default; configuration may override it per rule.
	Severity Severity
	// Run inspects pass.Stmt and calls pass.Report for each problem.
	Run func(pass *Pass)
}

// DocPath is the rule's documentation page, relative to the repository root.
func (r *Rule) DocPath() string { return "docs/rules/" + r.Name + ".md" }

// Pass is what a rule sees for one statement: the statement, the schema as
// it stands just before the statement runs, the transaction it runs in, and
// the options.
type Pass struct {
	Rule    *Rule
	Stmt    *Statement
	Schema  *Schema
	Tx      *TxState
	Options *Options
	report  func(Finding, *indexWant)
	index   int // of Stmt among the source's statements
	// shared is what the rules' helpers work out once per statement for
	// all rules (nil for a Pass built by hand).
	shared *stepShared
}

// stepShared memoizes per-statement helpers: some twenty rules ask for the
// same facts about every ALTER TABLE.
type stepShared struct {
	alter     *alterTarget
	alterDone bool
	locks     []Lock
	locksDone bool
}

// locks is LocksOf(p.Stmt, p.Schema), worked out once per statement. The
// slice is shared: callers that change it must copy it first.
func (p *Pass) locks() []Lock {
	if p.shared == nil {
		return LocksOf(p.Stmt, p.Schema)
	}
	if !p.shared.locksDone {
		p.shared.locks, p.shared.locksDone = LocksOf(p.Stmt, p.Schema), true
	}
	return p.shared.locks
}

// sourceFacts are facts about a whole source that rules need from further
// down: they are gathered as statements are stepped and consulted when the
// source is finished.
type sourceFacts struct {
	// indexes maps a table to the CREATE INDEX statements on it, in order.
	indexes map[string][]laterIndex
}

type laterIndex struct {
	at   int // statement index
	down bool
	cols []string
}

func (f *sourceFacts) add(i int, st *Statement) {
	if st.Node == nil {
		return
	}
	ix := st.Node.GetIndexStmt()
	if ix == nil {
		return
	}
	cols := make([]string, 0, len(ix.IndexParams))
	for _, p := range ix.IndexParams {
		if ie := p.GetIndexElem(); ie != nil {
			cols = append(cols, ie.Name)
		}
	}
	t := RangeVarName(ix.Relation)
	f.indexes[t] = append(f.indexes[t], laterIndex{at: i, down: st.Down, cols: cols})
}

// indexedAfter reports whether a statement after statement at, in the
// same direction, creates an index on table whose leading columns are cols.
func (f *sourceFacts) indexedAfter(at int, down bool, table string, cols []string) bool {
	for _, ix := range f.indexes[table] {
		if ix.at <= at || ix.down != down || len(ix.cols) < len(cols) {
			continue
		}
		match := true
		for i, c := range cols {
			if ix.cols[i] != c {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// Report records a finding for the current statement. File, positions,
// rule, severity, statement text and doc are filled in by the caller when
// left empty.
func (p *Pass) Report(f Finding) { p.report(f, nil) }

// ReportUnlessIndexedLater records a finding that is withdrawn when a later
// statement of the same migration, in the same direction, creates an index
// on table whose leading columns are cols: creating a table with its
// foreign keys and then its indexes is the usual order. The later
// statements may not have been read yet, so the answer waits for the end
// of the source.
func (p *Pass) ReportUnlessIndexedLater(table string, cols []string, f Finding) {
	p.report(f, &indexWant{table: table, cols: cols})
}

// Options are the inputs to linting that do not come from the SQL itself.
type Options struct {
	PGVersion int // major version, e.g. 15
	// IncludeDown lints down/revert code too.
	IncludeDown bool
	// AssumeInTransaction treats plain SQL files as wrapped in a transaction.
	AssumeInTransaction bool
}

// TxState is what the current transaction has done before the statement
// under inspection. It is nil-safe to read through its methods.
type TxState struct {
	ID       int
	Explicit bool
	// StrongLocks lists the tables (qualified names) on which the
	// transaction already holds SHARE or stronger, in order taken.
	StrongLocks []string
	// SetLockTimeout is true once SET [LOCAL] lock_timeout to a non-zero
	// value ran in this transaction or, for autocommit, in the session.
	SetLockTimeout bool
	// TimeZoneUTC is true once SET [LOCAL] TimeZone = 'UTC' ran, which
	// makes timestamp <-> timestamptz a relabel rather than a rewrite.
	TimeZoneUTC bool
	// Statements counts statements already run in this transaction.
	Statements int
}
