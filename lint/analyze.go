package lint

import (
	"strings"
)

// analyze runs rules over one source's statements in order, keeping the
// schema model and the transaction state current. Down statements are
// skipped unless the options include them: they are rollback code, and
// about half of what an undiscerning linter reports lands there. The
// findings go to log; the entries returned say which of them stand.
func analyze(src *Source, stmts []*Statement, schema *Schema, rules []*Rule, cfg *Config, log *findingLog, source int) []findingEntry {
	a := newAnalyzer(src, schema, rules, cfg, log, source)
	for _, st := range stmts {
		a.step(st)
	}
	return a.finish(stmts)
}

// analyzer is analyze taken one statement at a time, so that a large
// source can be parsed, checked and dropped in windows. What needs the
// whole source is settled in finish: ignore comments (a file-level one may
// come last) and findings that depend on an index created further down.
type analyzer struct {
	src     *Source
	source  int // src's index in the run, for ordering
	schema  *Schema
	rules   []*Rule
	cfg     *Config
	tx      *TxState
	session *TxState // autocommit statements share session settings
	n       int      // statements stepped, the index of the next one
	facts   *sourceFacts
	log     *findingLog
	pending []pendingFinding
	pass    Pass       // reused for every rule and statement
	shared  stepShared // the current statement's memo
}

// pendingFinding is a finding waiting for finish: ignore comments may
// still suppress it, and unlessIndexed withdraws it when a later statement
// creates the index it asks for. The finding itself is already in the log.
type pendingFinding struct {
	entry         findingEntry
	rule          string
	st            *Statement
	at            int
	internal      bool // the engine's own report: never suppressed
	unlessIndexed *indexWant
}

// findingEntry is a finding that stands: where the log holds it, and what
// orders it in the report and grades the run.
type findingEntry struct {
	ref       findingRef
	source    int32
	line, col int32
	severity  Severity
}

type indexWant struct {
	table string
	cols  []string
}

func newAnalyzer(src *Source, schema *Schema, rules []*Rule, cfg *Config, log *findingLog, source int) *analyzer {
	return &analyzer{src: src, source: source, schema: schema, rules: rules, cfg: cfg, session: &TxState{},
		facts: &sourceFacts{indexes: map[string][]laterIndex{}}, log: log}
}

// report is every Pass's sink: it fills in what the rule left out and
// logs the finding, pending until finish.
func (a *analyzer) report(f Finding, unless *indexWant) {
	pass := &a.pass
	fillFinding(&f, pass)
	a.pending = append(a.pending, pendingFinding{entry: a.logFinding(&f), rule: f.Rule, st: pass.Stmt, at: pass.index, unlessIndexed: unless})
}

func (a *analyzer) logFinding(f *Finding) findingEntry {
	return findingEntry{ref: a.log.add(f), source: int32(a.source), line: int32(f.Line), col: int32(f.Column), severity: f.Severity}
}

// step checks st against the schema and transaction as the statements
// before it left them, then applies it. Every statement of the source,
// down code included, must be stepped in order.
func (a *analyzer) step(st *Statement) {
	i := a.n
	a.n++
	a.facts.add(i, st)
	if st.Down && !a.cfg.IncludeDown {
		return
	}
	cur := a.session
	if st.Tx != 0 {
		if a.tx == nil || a.tx.ID != st.Tx {
			a.tx = &TxState{ID: st.Tx, Explicit: st.Explicit, SetLockTimeout: a.session.SetLockTimeout, TimeZoneUTC: a.session.TimeZoneUTC}
		}
		cur = a.tx
	} else {
		a.tx = nil
	}
	// One Pass serves every rule of the statement: a Pass and a closure
	// per rule and statement were a sixth of the analyzer's time.
	a.shared = stepShared{}
	pass := &a.pass
	*pass = Pass{Stmt: st, Schema: a.schema, Tx: cur, Options: &a.cfg.Options, index: i, shared: &a.shared, report: a.report}
	for _, r := range a.rules {
		if r.Run == nil {
			continue
		}
		pass.Rule = r
		a.safeRun(r, pass)
	}
	if st.Node != nil {
		locks := pass.locks()
		a.schema.Apply(st)
		cur.observe(st, locks)
	}
	if st.Context == "" {
		cur.Statements++
	}
}

// finish settles the pending findings against the source's ignore
// comments and index facts, in the order they were reported, and adds the
// reports about ignore comments themselves. stmts are all the statements
// stepped, with their ignore comments attached.
func (a *analyzer) finish(stmts []*Statement) []findingEntry {
	fileIgnores := map[string]*Ignore{}
	for _, st := range stmts {
		for i := range st.Ignores {
			ig := &st.Ignores[i]
			if ig.File {
				if _, seen := fileIgnores[ig.Rule]; !seen {
					fileIgnores[ig.Rule] = ig
				}
			}
		}
	}
	var kept []findingEntry
	for i := range a.pending {
		p := &a.pending[i]
		if p.unlessIndexed != nil && a.facts.indexedAfter(p.at, p.st.Down, p.unlessIndexed.table, p.unlessIndexed.cols) {
			continue
		}
		if !p.internal && suppressed(p.st, fileIgnores, p.rule) {
			continue
		}
		kept = append(kept, p.entry)
	}
	a.pending = nil
	for _, f := range ignoreFindings(a.src, stmts, fileIgnores, a.cfg) {
		kept = append(kept, a.logFinding(&f))
	}
	return kept
}

// safeRun keeps one rule's bug from taking the whole lint run down: the
// statement gets an internal-error finding instead of a stack trace.
func (a *analyzer) safeRun(r *Rule, pass *Pass) {
	defer func() {
		if v := recover(); v != nil {
			f := Finding{Rule: r.Name, Severity: SeverityWarning,
				Message: "internal error in rule " + r.Name + "; please report it with this statement"}
			fillFinding(&f, pass)
			a.pending = append(a.pending, pendingFinding{entry: a.logFinding(&f), rule: f.Rule, st: pass.Stmt, at: pass.index, internal: true})
		}
	}()
	r.Run(pass)
}

func fillFinding(f *Finding, pass *Pass) {
	st := pass.Stmt
	if f.Rule == "" {
		f.Rule = pass.Rule.Name
	}
	if f.Severity == 0 {
		f.Severity = pass.Rule.Severity
	}
	if f.File == "" {
		f.File = st.Source.Path
	}
	if f.Line == 0 {
		p, e := st.Pos(), st.EndPos()
		f.Line, f.Column, f.EndLine, f.EndColumn = p.Line, p.Column, e.Line, e.Column
	}
	if f.Statement == "" {
		f.Statement = st.Text()
	}
	if f.Doc == "" {
		f.Doc = "docs/rules/" + f.Rule + ".md"
	}
	if f.Locks == nil {
		f.Locks = []Lock{}
	}
	if st.Context != "" && !strings.Contains(f.Message, st.Context) {
		f.Message += " (inside " + st.Context + ")"
	}
}

func suppressed(st *Statement, fileIgnores map[string]*Ignore, rule string) bool {
	for i := range st.Ignores {
		ig := &st.Ignores[i]
		if !ig.File && ig.Rule == rule {
			ig.used = true
			return true
		}
	}
	if ig, ok := fileIgnores[rule]; ok {
		ig.used = true
		return true
	}
	return false
}

// ignoreFindings reports ignore comments that name no rule, name an unknown
// rule, or matched nothing: a silent, stale suppression hides the next real
// problem on that line.
func ignoreFindings(src *Source, stmts []*Statement, fileIgnores map[string]*Ignore, cfg *Config) []Finding {
	var out []Finding
	seen := map[int]bool{}
	add := func(ig *Ignore, msg string) {
		key := ig.Offset*31 + len(ig.Rule)
		if seen[key] {
			return
		}
		seen[key] = true
		p := src.Position(ig.Offset)
		out = append(out, Finding{File: src.Path, Line: p.Line, Column: p.Column, EndLine: p.Line, EndColumn: p.Column,
			Rule: RuleUnusedIgnore.Name, Severity: RuleUnusedIgnore.Severity, Message: msg,
			Locks: []Lock{}, Doc: RuleUnusedIgnore.DocPath()})
	}
	check := func(ig *Ignore, down bool) {
		switch {
		case ig.Rule == "":
			add(ig, "migrate:ignore must name the rules it silences, e.g. -- migrate:ignore require-concurrent-index")
		case Lookup(ig.Rule) == nil:
			add(ig, "migrate:ignore names unknown rule "+quote(ig.Rule))
		case !ig.used && !down && ruleEnabled(cfg, ig.Rule):
			add(ig, "migrate:ignore "+ig.Rule+" matched no finding; remove it")
		}
	}
	for _, st := range stmts {
		if st.Down && !cfg.IncludeDown {
			// Still catch malformed ignores in down code, but not unused ones.
			for i := range st.Ignores {
				if !st.Ignores[i].File {
					check(&st.Ignores[i], true)
				}
			}
			continue
		}
		for i := range st.Ignores {
			if !st.Ignores[i].File {
				check(&st.Ignores[i], false)
			}
		}
	}
	for _, ig := range fileIgnores {
		check(ig, false)
	}
	return out
}

func ruleEnabled(cfg *Config, name string) bool {
	for _, r := range cfg.rules() {
		if r.Name == name {
			return true
		}
	}
	return false
}

func quote(s string) string { return "\"" + s + "\"" }

// RuleUnusedIgnore is reported by the engine itself, not by a Run function.
var RuleUnusedIgnore = register(&Rule{
	Name:     "unused-ignore",
	Doc:      "a migrate:ignore comment names no rule, an unknown rule, or matched nothing",
	Severity: SeverityWarning,
})
