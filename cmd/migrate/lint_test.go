package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

// dangerous holds statements that are unsafe on an existing table under
// any reasonable rule set; the tests read what was found from the JSON
// rather than naming rules, so they do not break when rules are renamed.
const dangerous = `CREATE INDEX users_email_idx ON users (email);
ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE users ALTER COLUMN name TYPE integer;
UPDATE users SET active = true;
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
`

// lintCLI runs `migrate lint args...` in-process in a fresh temporary
// working directory (so no .migrate.toml above the repository is picked
// up by accident) and returns the exit code and both streams.
func lintCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"migrate", "lint"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// inTempDir makes a fresh working directory holding files.
func inTempDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

type jsonOut struct {
	Version   int               `json:"version"`
	PGVersion int               `json:"pg_version"`
	Files     []lint.FileResult `json:"files"`
	Findings  []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
	} `json:"findings"`
	Errors []lint.Error `json:"errors"`
}

func decodeJSON(t *testing.T, s string) jsonOut {
	t.Helper()
	var doc jsonOut
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", s)
	}
	return doc
}

func TestLintNoPathsExits2WithUsage(t *testing.T) {
	inTempDir(t, nil)
	code, _, errOut := lintCLI(t, "")
	if code != exitUsage || !strings.Contains(errOut, "usage: migrate lint") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestLintHelpHasExamples(t *testing.T) {
	code, out, _ := lintCLI(t, "", "--help")
	for _, want := range []string{"pbpaste | migrate lint -", "--fail-on", "--format", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestLintBadFlagValuesExit2(t *testing.T) {
	inTempDir(t, map[string]string{"a.sql": "SELECT 1;\n"})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml", "a.sql"}, "--format"},
		{[]string{"--pg-version", "8.4", "a.sql"}, "--pg-version"},
		{[]string{"--pg-version", "20", "a.sql"}, "--pg-version"},
		{[]string{"--pg-version", "fifteen", "a.sql"}, "--pg-version"},
		{[]string{"--fail-on", "never", "a.sql"}, "--fail-on"},
		{[]string{"--rule", "no-such-rule", "a.sql"}, `unknown rule "no-such-rule"`},
		{[]string{"--disable", "no-such-rule", "a.sql"}, `unknown rule "no-such-rule"`},
		{[]string{"--config", "missing.toml", "a.sql"}, "missing.toml"},
		{[]string{"--frobnicate", "a.sql"}, "frobnicate"},
	} {
		code, _, errOut := lintCLI(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestLintCleanInputExits0(t *testing.T) {
	inTempDir(t, map[string]string{"ok.sql": "SELECT 1;\n"})
	code, out, errOut := lintCLI(t, "", "ok.sql")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "in 1 file") {
		t.Errorf("no summary line:\n%s", out)
	}

	code, out, _ = lintCLI(t, "", "--format", "json", "ok.sql")
	doc := decodeJSON(t, out)
	if code != exitOK || doc.Version != 1 || doc.PGVersion != lint.DefaultPGVersion || len(doc.Files) != 1 || doc.Errors == nil || doc.Findings == nil {
		t.Errorf("exit %d, %+v", code, doc)
	}
}

func TestLintUnreadableInputExits2(t *testing.T) {
	inTempDir(t, nil)
	code, out, errOut := lintCLI(t, "", "--format", "json", "missing.sql")
	if code != exitUsage || !strings.HasPrefix(errOut, "missing.sql") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if doc := decodeJSON(t, out); len(doc.Errors) == 0 {
		t.Errorf("the JSON report lacks the error: %s", out)
	}
}

var errLine = regexp.MustCompile(`^(.+):(\d+):(\d+): (.+)$`)

func TestLintParseErrorExits2WithPosition(t *testing.T) {
	inTempDir(t, map[string]string{"bad.sql": "-- a comment\nSELECT 1;\nALTER TABEL users ADD COLUMN x int;\n"})
	for _, format := range []string{"text", "json", "sarif"} {
		code, out, errOut := lintCLI(t, "", "--format", format, "bad.sql")
		if code != exitUsage {
			t.Fatalf("%s: exit %d, want 2; stderr %q", format, code, errOut)
		}
		line := strings.SplitN(strings.TrimSpace(errOut), "\n", 2)[0]
		m := errLine.FindStringSubmatch(line)
		if m == nil || m[1] != "bad.sql" || m[2] != "3" {
			t.Fatalf("%s: stderr %q, want bad.sql:3:COL: message", format, errOut)
		}
		switch format {
		case "json":
			doc := decodeJSON(t, out)
			if len(doc.Errors) != 1 || doc.Errors[0].Line != 3 || doc.Errors[0].Column < 1 {
				t.Errorf("json errors = %+v", doc.Errors)
			}
		case "sarif":
			if !strings.Contains(out, `"ruleId":"parse-error"`) || !strings.Contains(out, `"executionSuccessful":false`) {
				t.Errorf("SARIF does not carry the parse error:\n%s", out)
			}
		}
	}
}

// requireFindings lints dangerous and returns what was found, skipping the
// test while no rule reports anything (rules land separately).
func requireFindings(t *testing.T) jsonOut {
	t.Helper()
	code, out, errOut := lintCLI(t, "", "--format", "json", "--fail-on", "info", "danger.sql")
	if code == exitUsage {
		t.Fatalf("exit 2: %s", errOut)
	}
	doc := decodeJSON(t, out)
	if len(doc.Findings) == 0 {
		t.Skip("no rule reports anything yet")
	}
	return doc
}

func TestLintFailOn(t *testing.T) {
	inTempDir(t, map[string]string{"danger.sql": dangerous})
	doc := requireFindings(t)
	worst := lint.SeverityInfo
	for _, f := range doc.Findings {
		sev, err := lint.ParseSeverity(f.Severity)
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, sev)
	}
	for _, failOn := range []lint.Severity{lint.SeverityError, lint.SeverityWarning, lint.SeverityInfo} {
		want := exitOK
		if worst >= failOn {
			want = exitFindings
		}
		if code, _, errOut := lintCLI(t, "", "--fail-on", failOn.String(), "danger.sql"); code != want {
			t.Errorf("--fail-on %s: exit %d, want %d (worst finding: %s) %s", failOn, code, want, worst, errOut)
		}
	}
	// Without --fail-on, errors fail the run.
	want := exitOK
	if worst == lint.SeverityError {
		want = exitFindings
	}
	if code, _, _ := lintCLI(t, "", "danger.sql"); code != want {
		t.Errorf("default --fail-on: exit %d, want %d", code, want)
	}
	// fail_on in the config file, overridden by the flag.
	if err := os.WriteFile(lint.ConfigFileName, []byte("fail_on = \"info\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := lintCLI(t, "", "danger.sql"); code != exitFindings {
		t.Errorf("config fail_on = info: exit %d, want 1", code)
	}
}

func TestLintFindingsInEveryFormat(t *testing.T) {
	inTempDir(t, map[string]string{"danger.sql": dangerous})
	doc := requireFindings(t)
	first := doc.Findings[0]

	_, out, _ := lintCLI(t, "", "danger.sql")
	head := fmt.Sprintf("danger.sql:%d:%d: %s: %s: ", first.Line, first.Column, first.Severity, first.Rule)
	if !strings.Contains(out, head) {
		t.Errorf("text output lacks %q:\n%s", head, out)
	}
	_, out, _ = lintCLI(t, "", "--format", "github", "danger.sql")
	if !strings.Contains(out, fmt.Sprintf("file=danger.sql,line=%d,col=%d", first.Line, first.Column)) {
		t.Errorf("github output:\n%s", out)
	}
	for _, format := range []string{"sarif", "gitlab"} {
		_, out, _ = lintCLI(t, "", "--format", format, "danger.sql")
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil || !strings.Contains(out, first.Rule) {
			t.Errorf("%s output (%v):\n%s", format, err, out)
		}
	}

	// --rule runs only that rule; --disable removes it.
	_, out, _ = lintCLI(t, "", "--format", "json", "--fail-on", "info", "--rule", first.Rule, "danger.sql")
	for _, f := range decodeJSON(t, out).Findings {
		if f.Rule != first.Rule {
			t.Errorf("--rule %s reported %s", first.Rule, f.Rule)
		}
	}
	_, out, _ = lintCLI(t, "", "--format", "json", "--fail-on", "info", "--disable", first.Rule, "danger.sql")
	for _, f := range decodeJSON(t, out).Findings {
		if f.Rule == first.Rule {
			t.Errorf("--disable %s still reported it", first.Rule)
		}
	}

	// The config's disabled list and --disable merge.
	if len(doc.Findings) > 1 {
		var second string
		for _, f := range doc.Findings {
			if f.Rule != first.Rule {
				second = f.Rule
				break
			}
		}
		if second != "" {
			if err := os.WriteFile(lint.ConfigFileName, []byte(fmt.Sprintf("disabled = [%q]\n", second)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, out, errOut := lintCLI(t, "", "--format", "json", "--fail-on", "info", "--disable", first.Rule, "danger.sql")
			for _, f := range decodeJSON(t, out).Findings {
				if f.Rule == first.Rule || f.Rule == second {
					t.Errorf("disabled rule %s still reported (%s)", f.Rule, errOut)
				}
			}
		}
	}
}

func TestLintStdin(t *testing.T) {
	inTempDir(t, nil)
	code, out, errOut := lintCLI(t, "SELECT 1;\n", "--format", "json", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if doc := decodeJSON(t, out); len(doc.Files) != 1 {
		t.Errorf("files = %+v", doc.Files)
	}
}

func TestLintOutputFile(t *testing.T) {
	inTempDir(t, map[string]string{"ok.sql": "SELECT 1;\n"})
	code, out, errOut := lintCLI(t, "", "--format", "sarif", "--output", "report.sarif", "ok.sql")
	if code != exitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	data, err := os.ReadFile("report.sarif")
	if err != nil || !bytes.Contains(data, []byte(`"version":"2.1.0"`)) {
		t.Errorf("report.sarif: %v\n%s", err, data)
	}
	if code, _, _ := lintCLI(t, "", "--output", filepath.Join("no", "such", "dir", "r.txt"), "ok.sql"); code != exitUsage {
		t.Errorf("unwritable --output: exit %d, want 2", code)
	}
}

func TestLintConfigPickup(t *testing.T) {
	dir := inTempDir(t, map[string]string{
		lint.ConfigFileName:    "pg_version = 12\n",
		"db/migrations/ok.sql": "SELECT 1;\n",
	})
	// Found from a subdirectory of the working directory's ancestors.
	t.Chdir(filepath.Join(dir, "db"))
	code, out, errOut := lintCLI(t, "", "--format", "json", "migrations/ok.sql")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if doc := decodeJSON(t, out); doc.PGVersion != 12 {
		t.Errorf("pg_version = %d, want 12 from the config file", doc.PGVersion)
	}
	// Flags override the file.
	_, out, _ = lintCLI(t, "", "--format", "json", "--pg-version", "9.6", "migrations/ok.sql")
	if doc := decodeJSON(t, out); doc.PGVersion != 9 {
		t.Errorf("pg_version = %d, want 9 (9.6) from the flag", doc.PGVersion)
	}
	// --config names another file.
	other := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(other, []byte("pg_version = 17\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, _ = lintCLI(t, "", "--format", "json", "--config", other, "migrations/ok.sql")
	if doc := decodeJSON(t, out); doc.PGVersion != 17 {
		t.Errorf("pg_version = %d, want 17 from --config", doc.PGVersion)
	}
}

func TestLintConfigUnknownKeyExits2(t *testing.T) {
	inTempDir(t, map[string]string{
		lint.ConfigFileName: "pg_version = 15\nassume_in_transactions = true\n",
		"ok.sql":            "SELECT 1;\n",
	})
	code, _, errOut := lintCLI(t, "", "ok.sql")
	if code != exitUsage || !strings.Contains(errOut, lint.ConfigFileName+":2") || !strings.Contains(errOut, `"assume_in_transactions"`) {
		t.Errorf("exit %d, stderr %q; want 2 naming the key and file:line", code, errOut)
	}
	if err := os.WriteFile(lint.ConfigFileName, []byte("disabled = [\"no-such-rule\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = lintCLI(t, "", "ok.sql")
	if code != exitUsage || !strings.Contains(errOut, `"no-such-rule"`) {
		t.Errorf("unknown rule in config: exit %d, stderr %q", code, errOut)
	}
}

func TestLintListRules(t *testing.T) {
	code, out, errOut := lintCLI(t, "", "--list-rules")
	if code != exitOK || !strings.HasPrefix(out, "RULE") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, r := range lint.All() {
		if !strings.Contains(out, r.Name) {
			t.Errorf("--list-rules lacks %s", r.Name)
		}
	}
}

func TestFormatLintError(t *testing.T) {
	if got := formatLintError(lint.Error{File: "a.sql", Line: 3, Column: 7, Message: "syntax error"}); got != "a.sql:3:7: syntax error" {
		t.Errorf("got %q", got)
	}
	if got := formatLintError(lint.Error{File: "a.sql", Message: "permission denied"}); got != "a.sql: permission denied" {
		t.Errorf("got %q", got)
	}
}
