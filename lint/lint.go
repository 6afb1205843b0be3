package lint

import "sort"

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
}

// Result is everything one lint run found. Its JSON form is the contract
// in DESIGN.md (see the report formats).
type Result struct {
	PGVersion int
	Files     []FileResult
	Findings  []Finding
	Errors    []Error
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
	for _, src := range sources {
		if len(src.Text) >= streamMinBytes {
			if fr, findings, ok := lintStream(src, schema, rules, &cfg); ok {
				res.Files = append(res.Files, fr)
				res.Findings = append(res.Findings, findings...)
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
		res.Findings = append(res.Findings, analyze(src, stmts, schema, rules, &cfg)...)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return fileOrder(res.Files, a.File) < fileOrder(res.Files, b.File)
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return res
}

// DefaultPGVersion is the server major version assumed without --pg-version or --dsn.
const DefaultPGVersion = 15

func fileOrder(files []FileResult, path string) int {
	for i, f := range files {
		if f.Path == path {
			return i
		}
	}
	return len(files)
}

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
