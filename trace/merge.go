package trace

import (
	"fmt"
	"sort"
	"strings"

	"github.com/migrate-tool/migrate/lint"
)

// Merge adds the trace to a lint result: each finding of a traced
// statement gets the traced facts appended; disagreements become
// trace-contradicts-lint findings and statements the trace could not run
// become trace-untraced findings.
func Merge(res *lint.Result, rep *Report) {
	merge(res, rep, lint.Config{})
}

// MergeWith is Merge honouring cfg's --rule/--disable choices.
func MergeWith(res *lint.Result, rep *Report, cfg lint.Config) { merge(res, rep, cfg) }

func merge(res *lint.Result, rep *Report, cfg lint.Config) {
	enabled := func(rule string) bool {
		for _, d := range cfg.Disabled {
			if d == rule {
				return false
			}
		}
		if len(cfg.Only) == 0 {
			return true
		}
		for _, o := range cfg.Only {
			if o == rule {
				return true
			}
		}
		return false
	}
	var added []lint.Finding
	for _, rec := range rep.Statements {
		var mine []*lint.Finding
		for i := range res.Findings {
			f := &res.Findings[i]
			if f.File == rec.File && f.Line >= rec.Line && f.Line <= rec.EndLine && !strings.HasPrefix(f.Rule, "trace-") {
				mine = append(mine, f)
			}
		}
		if s := Summary(rec); s != "" {
			for _, f := range mine {
				f.Message += " [" + s + "]"
			}
		}
		newFinding := func(rule *lint.Rule, sev lint.Severity, msg, fix string, locks []lint.Lock, rewrite, scan bool) {
			if !enabled(rule.Name) || ignored(rec.Stmt, rule.Name) {
				return
			}
			if locks == nil {
				locks = []lint.Lock{}
			}
			added = append(added, lint.Finding{File: rec.File, Line: rec.Line, Column: rec.Column, EndLine: rec.EndLine, EndColumn: rec.EndCol,
				Rule: rule.Name, Severity: sev, Message: msg, Statement: rec.SQL, Locks: locks, Rewrite: rewrite, Scan: scan,
				Fix: fix, Doc: rule.DocPath()})
		}
		switch rec.Mode {
		case ModeProbed:
			if len(mine) == 0 {
				// Nothing else carries the probe's facts: say what was seen.
				newFinding(lint.RuleTraceUntraced, lint.RuleTraceUntraced.Severity, "not traced in a transaction; "+Summary(rec), "", nil, false, false)
			}
		case ModeUntraceable:
			newFinding(lint.RuleTraceUntraced, lint.RuleTraceUntraced.Severity, "not traced: "+rec.Note+"; the verdict for this statement is static only", "", nil, false, false)
		case ModeFailed:
			newFinding(lint.RuleTraceUntraced, lint.RuleTraceUntraced.Severity,
				"not traced: the statement failed on the scratch database ("+rec.Err+"); if the scratch schema matches production, it will fail there too",
				"", nil, false, false)
		case ModeTraced:
			for _, c := range Contradictions(rec, mine) {
				newFinding(lint.RuleTraceContradictsLint, c.Severity, c.Message,
					"The rule behind this verdict needs fixing: report the statement with this trace. Until then, trust the trace.",
					c.Locks, c.Rewrite, c.Scan)
			}
		}
	}
	if len(added) == 0 {
		return
	}
	res.Findings = append(res.Findings, added...)
	order := map[string]int{}
	for i, f := range res.Files {
		order[f.Path] = i
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return order[a.File] < order[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

func ignored(st *lint.Statement, rule string) bool {
	if st == nil {
		return false
	}
	for _, ig := range st.Ignores {
		if ig.Rule == rule {
			return true
		}
	}
	return false
}

// Summary renders what a statement did, for appending to findings:
// "traced: rewrote books and its 3 indexes; 4 scans of books; ACCESS
// EXCLUSIVE on books (and 3 indexes), SHARE ROW EXCLUSIVE on authors".
func Summary(rec *Statement) string {
	switch rec.Mode {
	case ModeTraced:
		var parts []string
		if rw := rewriteSummary(rec); rw != "" {
			parts = append(parts, "rewrote "+rw)
		}
		for _, name := range sortedKeys(rec.Scans) {
			n := rec.Scans[name]
			word := "scan"
			if n > 1 {
				word = "scans"
			}
			parts = append(parts, fmt.Sprintf("%d full %s of %s", n, word, lint.DisplayName(name)))
		}
		if l := lockSummary(rec.Locks); l != "" {
			parts = append(parts, l)
		} else if len(rec.Held) == 0 {
			parts = append(parts, "no locks on existing relations")
		}
		if len(rec.Held) > 0 {
			parts = append(parts, "already held from earlier statements of the trace transaction: "+lockSummary(rec.Held))
		}
		for _, c := range rec.Constraints {
			v := "valid"
			if !c.Valid {
				v = "NOT VALID"
			}
			parts = append(parts, "created constraint "+c.Name+" on "+lint.DisplayName(c.Table)+" ("+v+")")
		}
		return "traced: " + strings.Join(parts, "; ")
	case ModeProbed:
		s := "probed (" + rec.Note + ")"
		if l := lockSummary(rec.Locks); l != "" {
			s += ": holds " + l
		}
		if len(rec.Waiting) > 0 {
			s += "; waits for " + strings.Join(rec.Waiting, ", ")
		}
		return s
	}
	return ""
}

// rewriteSummary groups rewritten indexes under their table.
func rewriteSummary(rec *Statement) string {
	tables := map[string]int{}
	var order []string
	var loose []string
	for _, name := range rec.Rewritten {
		r := rec.kindOf(name)
		if r.kind == "index" && r.table != "" {
			if _, ok := tables[r.table]; !ok {
				order = append(order, r.table)
			}
			tables[r.table]++
			continue
		}
		if r.kind == "table" || r.kind == "matview" || r.kind == "" {
			if _, ok := tables[name]; !ok {
				order = append(order, name)
				tables[name] = 0
			}
			continue
		}
		loose = append(loose, lint.DisplayName(name))
	}
	var parts []string
	for _, t := range order {
		s := lint.DisplayName(t)
		rewrote := contains(rec.Rewritten, t)
		switch n := tables[t]; {
		case !rewrote && n > 0:
			s = plural(n, "index", "indexes") + " of " + s
		case n == 1:
			s += " and its index"
		case n > 1:
			s += fmt.Sprintf(" and its %d indexes", n)
		}
		parts = append(parts, s)
	}
	parts = append(parts, loose...)
	return strings.Join(parts, ", ")
}

// lockSummary lists locks per table, with index locks folded in:
// "ACCESS EXCLUSIVE on books (+3 indexes ACCESS EXCLUSIVE)".
func lockSummary(locks []Lock) string {
	type entry struct {
		modes   []string
		indexes map[string]int // mode -> count
	}
	byRel := map[string]*entry{}
	var order []string
	get := func(rel string) *entry {
		e := byRel[rel]
		if e == nil {
			e = &entry{indexes: map[string]int{}}
			byRel[rel] = e
			order = append(order, rel)
		}
		return e
	}
	for _, l := range locks {
		if l.Kind == "index" && l.Table != "" {
			get(l.Table).indexes[l.Mode]++
			continue
		}
		e := get(l.Relation)
		e.modes = append(e.modes, l.Mode)
	}
	var parts []string
	for _, rel := range order {
		e := byRel[rel]
		sort.Slice(e.modes, func(i, j int) bool { return lockRank[e.modes[i]] > lockRank[e.modes[j]] })
		s := ""
		if len(e.modes) > 0 {
			s = strings.Join(e.modes, " + ") + " on " + lint.DisplayName(rel)
		} else {
			s = "on " + lint.DisplayName(rel) + " only its indexes"
		}
		var ix []string
		for _, m := range sortedKeys(e.indexes) {
			ix = append(ix, plural(e.indexes[m], "index", "indexes")+" "+m)
		}
		if len(ix) > 0 {
			s += " (" + strings.Join(ix, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// Contradiction is a disagreement between the trace and the static verdict.
type Contradiction struct {
	Severity lint.Severity
	Message  string
	Locks    []lint.Lock
	Rewrite  bool
	Scan     bool
}

// Contradictions compares one traced statement with the findings lint
// reported on it and with lint's lock model (rec.StaticLocks). Only
// relations that existed before the migration count: new ones are empty
// and unseen. Index locks are left out: lint models them through the
// table.
func Contradictions(rec *Statement, findings []*lint.Finding) []Contradiction {
	if rec.Mode != ModeTraced {
		return nil
	}
	staticRewrite, staticScan := false, false
	static := map[string]int{}
	for _, l := range rec.StaticLocks {
		q := qualify(l.Relation)
		static[q] = max(static[q], lockRank[l.Mode])
	}
	for _, f := range findings {
		staticRewrite = staticRewrite || f.Rewrite
		staticScan = staticScan || f.Scan || f.Rewrite
		for _, l := range f.Locks {
			q := qualify(l.Relation)
			static[q] = max(static[q], lockRank[l.Mode])
		}
	}
	var out []Contradiction

	var rewritten []string
	for _, name := range rec.Rewritten {
		r := rec.kindOf(name)
		if (r.kind == "table" || r.kind == "matview") && r.preexisting {
			rewritten = append(rewritten, name)
		}
	}
	if len(rewritten) > 0 && !staticRewrite {
		out = append(out, Contradiction{Severity: lint.SeverityWarning, Rewrite: true,
			Message: "the trace saw a rewrite of " + joinNames(rewritten) + " (new relfilenode) that lint did not report: " +
				"the whole table is copied while the lock is held"})
	}
	if staticRewrite && len(rewritten) == 0 && rec.PreexistingTouch {
		out = append(out, Contradiction{Severity: lint.SeverityInfo,
			Message: "lint reported a rewrite, but the trace saw none (no relfilenode changed): the static verdict overstates this statement"})
	}

	var missed []lint.Lock
	var missedText []string
	for _, l := range rec.Locks {
		r := rec.kindOf(l.Relation)
		if (l.Kind != "table" && l.Kind != "matview") || !r.preexisting || !lint.IsStrong(l.Mode) {
			continue
		}
		if static[l.Relation] >= lockRank[l.Mode] {
			continue
		}
		missed = append(missed, lint.NewLock(l.Relation, l.Mode))
		missedText = append(missedText, l.Mode+" on "+lint.DisplayName(l.Relation))
	}
	if len(missed) > 0 {
		out = append(out, Contradiction{Severity: lint.SeverityWarning, Locks: missed,
			Message: "the trace saw " + strings.Join(missedText, ", ") + ", which lint's verdict does not include"})
	}

	if !staticScan {
		var scanned []string
		for _, name := range sortedKeys(rec.Scans) {
			r := rec.kindOf(name)
			if !r.preexisting || contains(rewritten, name) || !holdsStrong(rec.Locks, name) {
				continue
			}
			scanned = append(scanned, name)
		}
		if len(scanned) > 0 {
			out = append(out, Contradiction{Severity: lint.SeverityWarning, Scan: true,
				Message: "the trace saw a full scan of " + joinNames(scanned) + " while this statement held a lock that blocks writes, which lint did not report"})
		}
	}
	return out
}

func holdsStrong(locks []Lock, rel string) bool {
	for _, l := range locks {
		if l.Relation == rel && lint.IsStrong(l.Mode) {
			return true
		}
	}
	return false
}

func joinNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = lint.DisplayName(n)
	}
	return strings.Join(out, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
