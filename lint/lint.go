package lint

import (
	"iter"
	"sort"
)

// Config selects and grades rules. The zero value runs every rule at its
// default severity for PostgreSQL 15.
type Config struct {
	Options
	// Only, when non-empty, runs just these rules (--rule).
	Only []string
	// Disabled rules never run (--disable, config disabled = [...]).
	Disabled []string
	// Severity overrides a rule's default severity.
	Severity map[string]Severity
	// Schema, when set, is the database the migrations will run on (read
	// from the live catalog with --dsn); it is updated in place as
	// statements are applied. Nil starts from an empty model.
	Schema *Schema
	// Compact leaves Result.Findings nil and keeps the findings compressed
	// inside the Result, to be read with AllFindings: a fraction of the
	// memory on a large migration. For callers that only print them.
	Compact bool
}

// Result is everything one lint run found. Its JSON form is the contract
// in DESIGN.md (see the report formats).
type Result struct {
	PGVersion int
	Files     []FileResult
	// Findings are in report order: by file, line and column. Nil when
	// Config.Compact was set; AllFindings reads either form.
	Findings []Finding
	Errors   []Error

	compact *compactFindings
}

// compactFindings are a Result's findings while they stay in the log.
type compactFindings struct {
	log     *findingLog
	entries []findingEntry // report order
}

// AllFindings yields the findings in report order, whether the Result holds
// them as a slice or compact. A compact Result decodes into one Finding
// that each step overwrites: copy it to keep it.
func (r *Result) AllFindings() iter.Seq[*Finding] {
	return func(yield func(*Finding) bool) {
		if r.compact == nil {
			for i := range r.Findings {
				if !yield(&r.Findings[i]) {
					return
				}
			}
			return
		}
		var f Finding
		for _, e := range r.compact.entries {
			r.compact.log.read(e.ref, &f)
			if !yield(&f) {
				return
			}
		}
	}
}

// Materialize turns a compact Result into an ordinary one, with every
// finding in Findings, for callers that edit or re-sort them.
func (r *Result) Materialize() {
	if r.compact == nil {
		return
	}
	c := r.compact
	r.compact = nil
	r.Findings = nil
	if len(c.entries) > 0 {
		r.Findings = make([]Finding, len(c.entries))
	}
	for i, e := range c.entries {
		c.log.read(e.ref, &r.Findings[i])
	}
}

// NumFindings is the number of findings AllFindings yields.
func (r *Result) NumFindings() int {
	if r.compact != nil {
		return len(r.compact.entries)
	}
	return len(r.Findings)
}

// SeverityCounts counts the findings at each severity without decoding them.
func (r *Result) SeverityCounts() (errors, warnings, infos int) {
	count := func(s Severity) {
		switch s {
		case SeverityError:
			errors++
		case SeverityWarning:
			warnings++
		default:
			infos++
		}
	}
	if r.compact != nil {
		for _, e := range r.compact.entries {
			count(e.severity)
		}
	} else {
		for i := range r.Findings {
			count(r.Findings[i].Severity)
		}
	}
	return errors, warnings, infos
}

// FileResult is one linted source.
type FileResult struct {
	Path       string `json:"path"`
	Format     string `json:"format"`
	Statements int    `json:"statements"`
}

// Lint parses and checks sources in order: earlier sources feed the schema
// model of later ones, as the migrations they are would on a database.
func Lint(sources []*Source, cfg Config) *Result {
	if cfg.PGVersion == 0 {
		cfg.PGVersion = DefaultPGVersion
	}
	res := &Result{PGVersion: cfg.PGVersion}
	rules := cfg.rules()
	schema := cfg.Schema
	if schema == nil {
		schema = NewSchema()
	}
	if schema.openView() {
		defer schema.closeView()
	}
	log := newFindingLog()
	var entries []findingEntry
	for si, src := range sources {
		if len(src.Text) >= streamMinBytes {
			if fr, kept, ok := lintStream(src, schema, rules, &cfg, log, si); ok {
				res.Files = append(res.Files, fr)
				entries = append(entries, kept...)
				continue
			}
		}
		stmts, err := Parse(src, cfg.Options)
		if err != nil {
			res.Errors = append(res.Errors, *err)
			res.Files = append(res.Files, FileResult{Path: src.Path, Format: src.Format})
			continue
		}
		res.Files = append(res.Files, FileResult{Path: src.Path, Format: src.Format, Statements: countTopLevel(stmts)})
		entries = append(entries, analyze(src, stmts, schema, rules, &cfg, log, si)...)
	}
	// Sources are linted in order and each one's findings come mostly in
	// order already; the sort settles a statement's several findings and
	// the reports about ignore comments.
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := &entries[i], &entries[j]
		if a.source != b.source {
			return a.source < b.source
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.col < b.col
	})
	res.compact = &compactFindings{log: log, entries: entries}
	if !cfg.Compact {
		res.Materialize()
	}
	return res
}

// DefaultPGVersion is the server major version assumed without --pg-version or --dsn.
const DefaultPGVersion = 15

func countTopLevel(stmts []*Statement) int {
	n := 0
	for _, st := range stmts {
		if st.Context == "" {
			n++
		}
	}
	return n
}

// rules returns the rules this configuration runs, with severities applied.
func (cfg *Config) rules() []*Rule {
	disabled := map[string]bool{}
	for _, name := range cfg.Disabled {
		disabled[name] = true
	}
	only := map[string]bool{}
	for _, name := range cfg.Only {
		only[name] = true
	}
	var out []*Rule
	for _, r := range All() {
		if disabled[r.Name] || (len(only) > 0 && !only[r.Name]) {
			continue
		}
		if sev, ok := cfg.Severity[r.Name]; ok {
			copied := *r
			copied.Severity = sev
			r = &copied
		}
		out = append(out, r)
	}
	return out
}

// Lookup returns the rule with the given name, or nil.
func Lookup(name string) *Rule {
	for _, r := range All() {
		if r.Name == name {
			return r
		}
	}
	return nil
}
