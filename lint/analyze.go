package lint

import (
	"strings"
)

// analyze runs rules over one source's statements in order, keeping the
// schema model and the transaction state current. Down statements are
// skipped unless the options include them: they are rollback code, and
// about half of what an undiscerning linter reports lands there.
func analyze(src *Source, stmts []*Statement, schema *Schema, rules []*Rule, cfg *Config) []Finding {
	var findings []Finding
	var tx *TxState
	session := &TxState{} // autocommit statements share session settings
	fileIgnores := map[string]*Ignore{}
	facts := newSourceFacts(stmts)

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

	for i, st := range stmts {
		if st.Down && !cfg.IncludeDown {
			continue
		}
		cur := session
		if st.Tx != 0 {
			if tx == nil || tx.ID != st.Tx {
				tx = &TxState{ID: st.Tx, Explicit: st.Explicit, SetLockTimeout: session.SetLockTimeout, TimeZoneUTC: session.TimeZoneUTC}
			}
			cur = tx
		} else {
			tx = nil
		}
		for _, r := range rules {
			if r.Run == nil {
				continue
			}
			pass := &Pass{Rule: r, Stmt: st, Schema: schema, Tx: cur, Options: &cfg.Options, facts: facts, index: i}
			pass.report = func(f Finding) {
				fillFinding(&f, pass)
				if suppressed(st, fileIgnores, f.Rule) {
					return
				}
				findings = append(findings, f)
			}
			safeRun(r, pass, &findings)
		}
		if st.Node != nil {
			locks := LocksOf(st, schema)
			schema.Apply(st)
			cur.observe(st, locks)
		}
		if st.Context == "" {
			cur.Statements++
		}
	}
	findings = append(findings, ignoreFindings(src, stmts, fileIgnores, cfg)...)
	return findings
}

// safeRun keeps one rule's bug from taking the whole lint run down: the
// statement gets an internal-error finding instead of a stack trace.
func safeRun(r *Rule, pass *Pass, findings *[]Finding) {
	defer func() {
		if v := recover(); v != nil {
			f := Finding{Rule: r.Name, Severity: SeverityWarning,
				Message: "internal error in rule " + r.Name + "; please report it with this statement"}
			fillFinding(&f, pass)
			*findings = append(*findings, f)
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
