package lint

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestRules runs every lint/testdata/<rule>.sql with only that rule
// enabled. Each statement carries "-- want: <rule>" or "-- want: none" on
// the comment lines directly above it; findings must land exactly on the
// statements that want them.
//
// A file may start with "-- options: pg-version=N assume-in-transaction
// include-down", and may hold a line "-- migrate:test-split": what is above
// it is linted first as an earlier migration, so its tables exist with a
// known shape and are not new.
func TestRules(t *testing.T) {
	for _, r := range All() {
		r := r
		t.Run(r.Name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join("..", r.DocPath())); err != nil {
				t.Errorf("every rule needs a doc page: %v", err)
			}
			if r.Name == RuleUnusedIgnore.Name {
				return // reported on comments, not statements: TestIgnores covers it
			}
			path := filepath.Join("testdata", r.Name+".sql")
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("every rule needs %s: %v", path, err)
			}
			if r.Severity == 0 || r.Doc == "" {
				t.Errorf("rule %s needs a Doc line and a default Severity", r.Name)
			}
			checkRuleFile(t, r, path, text)
		})
	}
}

var (
	wantRe    = regexp.MustCompile(`--\s*want:\s*([a-z0-9, -]+)`)
	optionsRe = regexp.MustCompile(`(?m)^--\s*options:(.*)$`)
)

const splitMarker = "-- migrate:test-split"

func checkRuleFile(t *testing.T, r *Rule, path string, text []byte) {
	t.Helper()
	cfg := Config{Only: []string{r.Name}}
	cfg.PGVersion = DefaultPGVersion
	if m := optionsRe.FindSubmatch(text); m != nil {
		for _, opt := range strings.Fields(string(m[1])) {
			switch {
			case strings.HasPrefix(opt, "pg-version="):
				v, err := strconv.Atoi(strings.TrimPrefix(opt, "pg-version="))
				if err != nil {
					t.Fatalf("bad option %q", opt)
				}
				cfg.PGVersion = v
			case opt == "assume-in-transaction":
				cfg.AssumeInTransaction = true
			case opt == "include-down":
				cfg.IncludeDown = true
			default:
				t.Fatalf("unknown option %q", opt)
			}
		}
	}

	// The setup part and the main part keep the file's line numbers: each
	// is the whole file with the other part blanked out.
	var sources []*Source
	main := text
	if i := bytes.Index(text, []byte(splitMarker)); i >= 0 {
		setup := blank(text, i, len(text))
		main = blank(text, 0, i+len(splitMarker))
		sources = append(sources, testSource(path+" (setup)", setup, cfg.AssumeInTransaction))
	}
	src := testSource(path, main, cfg.AssumeInTransaction)
	sources = append(sources, src)

	res := Lint(sources, cfg)
	for _, e := range res.Errors {
		t.Fatalf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	}
	stmts, perr := Parse(testSource(path, main, cfg.AssumeInTransaction), cfg.Options)
	if perr != nil {
		t.Fatal(perr)
	}

	lines := strings.Split(string(main), "\n")
	unsafe, safe := 0, 0
	for _, st := range stmts {
		if st.Context != "" || (st.Down && !cfg.IncludeDown) {
			continue
		}
		start, end := st.Pos().Line, st.EndPos().Line
		want, ok := wantAbove(lines, start)
		if !ok {
			if isTxControl(st) {
				continue
			}
			t.Errorf("%s:%d: statement has no -- want: annotation above it", path, start)
			continue
		}
		var got []string
		for _, f := range res.Findings {
			if f.File == path && f.Line >= start && f.Line <= end {
				got = append(got, f.Rule)
				checkFindingShape(t, path, f)
			}
		}
		sort.Strings(got)
		got = dedupe(got)
		if want == "none" {
			safe++
			if len(got) > 0 {
				t.Errorf("%s:%d: want no finding, got %v\n\t%s", path, start, got, firstLine(st.Text()))
			}
			continue
		}
		unsafe++
		wantList := dedupe(splitList(want))
		if strings.Join(got, ",") != strings.Join(wantList, ",") {
			t.Errorf("%s:%d: want %v, got %v\n\t%s", path, start, wantList, got, firstLine(st.Text()))
		}
	}
	if unsafe < 3 || safe < 2 {
		t.Errorf("%s: need at least 3 unsafe and 2 safe examples, have %d and %d", path, unsafe, safe)
	}
}

// checkFindingShape holds every finding to the contract: a message, and
// for errors a fix and the doc page.
func checkFindingShape(t *testing.T, path string, f Finding) {
	t.Helper()
	if f.Message == "" {
		t.Errorf("%s:%d: %s finding has no message", path, f.Line, f.Rule)
	}
	if f.Severity == SeverityError && f.Fix == "" {
		t.Errorf("%s:%d: %s error has no fix", path, f.Line, f.Rule)
	}
	if f.Doc != "docs/rules/"+f.Rule+".md" {
		t.Errorf("%s:%d: %s finding links %q", path, f.Line, f.Rule, f.Doc)
	}
	if f.EndLine < f.Line || f.Column < 1 {
		t.Errorf("%s:%d: bad span %d:%d-%d:%d", path, f.Line, f.Line, f.Column, f.EndLine, f.EndColumn)
	}
}

func testSource(path string, text []byte, wrapped bool) *Source {
	tx := TxAutocommit
	if wrapped {
		tx = TxWrapped
	}
	return &Source{Path: path, Format: "sql", Text: text, Chunks: []Chunk{{Start: 0, End: len(text), Tx: tx, Group: 1}}}
}

// blank replaces text[from:to] with spaces, keeping newlines, so positions
// in the rest of the file do not move.
func blank(text []byte, from, to int) []byte {
	out := append([]byte(nil), text...)
	for i := from; i < to; i++ {
		if out[i] != '\n' {
			out[i] = ' '
		}
	}
	return out
}

// wantAbove reads the comment block directly above line (1-based).
func wantAbove(lines []string, line int) (string, bool) {
	for i := line - 2; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "--") {
			break
		}
		if m := wantRe.FindStringSubmatch(l); m != nil {
			return strings.TrimSpace(m[1]), true
		}
	}
	// An annotation may also trail the statement's first line.
	if line-1 < len(lines) {
		if m := wantRe.FindStringSubmatch(lines[line-1]); m != nil {
			return strings.TrimSpace(m[1]), true
		}
	}
	return "", false
}

func isTxControl(st *Statement) bool {
	return st.Node != nil && (st.Node.GetTransactionStmt() != nil || st.Node.GetVariableSetStmt() != nil)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
