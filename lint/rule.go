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
	// Later holds the statements after Stmt in the same source, in order,
	// for rules whose verdict depends on what the migration does next
	// (an FK whose index is created a few lines further down).
	Later []*Statement

	report func(Finding)
}

// Report records a finding for the current statement. File, positions,
// rule, severity, statement text and doc are filled in by the caller when
// left empty.
func (p *Pass) Report(f Finding) { p.report(f) }

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
