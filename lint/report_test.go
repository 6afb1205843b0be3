package lint

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/* from the current output")

// goldenRules describe the rule ids of goldenResult. They are not
// registered: the golden files must not change whenever a real rule is
// added or reworded.
var goldenRules = []*Rule{
	{Name: "adding-column-rewrite", Doc: "Adding a column with a volatile default rewrites the table under ACCESS EXCLUSIVE.", Severity: SeverityError},
	{Name: "foreign-key-without-not-valid", Doc: "Adding a foreign key validates it under SHARE ROW EXCLUSIVE on both tables.", Severity: SeverityError},
	{Name: "missing-lock-timeout", Doc: "A strong lock without lock_timeout queues every later query behind it.", Severity: SeverityWarning},
	{Name: "dynamic-sql", Doc: "EXECUTE runs SQL that cannot be read before it runs.", Severity: SeverityInfo},
}

// goldenResult covers what the formats must get right: several files in
// an order that is not alphabetical, every severity, a finding with two
// locks, one with none, a rule the descriptor list does not know, the same
// statement twice in one file, an unreadable file and a parse error, and
// text that needs escaping in each format (quotes, newlines, %, commas,
// colons, <, &).
func goldenResult() *Result {
	users := "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()"
	fk := "ALTER TABLE orders\n  ADD CONSTRAINT orders_user_fk\n  FOREIGN KEY (user_id)\n  REFERENCES users (id)\n  ON DELETE CASCADE"
	return &Result{
		PGVersion: 16,
		Files: []FileResult{
			{Path: "db/migrations/0002_users.up.sql", Format: "golang-migrate", Statements: 3},
			{Path: "db/migrations/0001_orders.sql", Format: "goose", Statements: 5},
			{Path: "/repo/db/answer, v2: draft%.md", Format: "markdown", Statements: 2},
			{Path: "db/migrations/0003_broken.sql", Format: "sql", Statements: 0},
		},
		Findings: []Finding{
			{
				File: "db/migrations/0002_users.up.sql", Line: 3, Column: 1, EndLine: 3, EndColumn: 75,
				Rule: "adding-column-rewrite", Severity: SeverityError,
				Message:   `Adding column "token" with volatile default gen_random_uuid() rewrites "users".`,
				Statement: users,
				Locks:     []Lock{{Relation: "public.users", Mode: "ACCESS EXCLUSIVE", Blocks: []string{"reads", "writes"}}},
				Rewrite:   true,
				Fix:       "ALTER TABLE users ADD COLUMN token uuid;\nALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n-- backfill in batches: migrate backfill --table users --set \"token = gen_random_uuid()\"",
				Doc:       "docs/rules/adding-column-rewrite.md",
			},
			{
				File: "db/migrations/0002_users.up.sql", Line: 3, Column: 1, EndLine: 3, EndColumn: 75,
				Rule: "missing-lock-timeout", Severity: SeverityWarning,
				Message:   "ACCESS EXCLUSIVE on public.users without lock_timeout: every query queues behind it, 100% of traffic stalls",
				Statement: users,
				Locks:     []Lock{{Relation: "public.users", Mode: "ACCESS EXCLUSIVE", Blocks: []string{"reads", "writes"}}},
				Fix:       "SET lock_timeout = '2s';",
				Doc:       "docs/rules/missing-lock-timeout.md",
			},
			{
				File: "db/migrations/0001_orders.sql", Line: 12, Column: 3, EndLine: 16, EndColumn: 19,
				Rule: "foreign-key-without-not-valid", Severity: SeverityError,
				Message:   "Foreign key \"orders_user_fk\" is validated while holding SHARE ROW EXCLUSIVE on both tables:\nwrites to orders and users wait for a full scan of orders.",
				Statement: fk,
				Locks: []Lock{
					{Relation: "public.orders", Mode: "SHARE ROW EXCLUSIVE", Blocks: []string{"writes"}},
					{Relation: "public.users", Mode: "SHARE ROW EXCLUSIVE", Blocks: []string{"writes"}},
				},
				Scan: true,
				Fix:  "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE NOT VALID;\n-- in a later transaction:\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
				Doc:  "docs/rules/foreign-key-without-not-valid.md",
			},
			{
				File: "db/migrations/0001_orders.sql", Line: 20, Column: 5, EndLine: 20, EndColumn: 60,
				Rule: "dynamic-sql", Severity: SeverityInfo,
				Message:   "EXECUTE format('UPDATE %I SET a = 1', t) cannot be checked, a, b: c",
				Statement: "EXECUTE format('UPDATE %I SET a = 1 WHERE b <> 0 AND c & 1 = 1', t)",
				Doc:       "docs/rules/dynamic-sql.md",
			},
			{
				File: "db/migrations/0001_orders.sql", Line: 30, Column: 1, EndLine: 30, EndColumn: 60,
				Rule: "dynamic-sql", Severity: SeverityInfo,
				Message:   "EXECUTE format('UPDATE %I SET a = 1', t) cannot be checked, a, b: c",
				Statement: "EXECUTE format('UPDATE %I SET a = 1 WHERE b <> 0 AND c & 1 = 1', t)",
				Doc:       "docs/rules/dynamic-sql.md",
			},
			{
				File: "/repo/db/answer, v2: draft%.md", Line: 7, Column: 1, EndLine: 7, EndColumn: 38,
				Rule: "unused-ignore", Severity: SeverityWarning,
				Message:   "-- migrate:ignore names \"vacuum-full\", which reports nothing here",
				Statement: "VACUUM (ANALYZE) \"Order Items\"",
				Locks:     []Lock{{Relation: `public."Order Items"`, Mode: "SHARE UPDATE EXCLUSIVE"}},
			},
		},
		Errors: []Error{
			{File: "db/migrations/0003_broken.sql", Line: 2, Column: 8, Message: `syntax error at or near "TABEL"`},
			{File: "db/migrations/0004_gone.sql", Message: "open db/migrations/0004_gone.sql: permission denied"},
		},
	}
}

func goldenOptions(color bool) ReportOptions {
	return ReportOptions{
		Color:       color,
		BaseDir:     "/repo",
		WorkDir:     "/repo",
		ToolVersion: "1.2.3",
		Rules:       goldenRules,
	}
}

func TestReportGolden(t *testing.T) {
	cases := []struct {
		file, format string
		color        bool
	}{
		{"report.txt", "text", false},
		{"report.color.txt", "text", true},
		{"report.json", "json", false},
		{"report.sarif", "sarif", false},
		{"report.github", "github", false},
		{"report.gitlab", "gitlab", false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, goldenResult(), c.format, goldenOptions(c.color)); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			if c.format == "sarif" || c.format == "gitlab" {
				// These are written compact; the golden copy is indented
				// so that a change reads as a diff of lines.
				var ind bytes.Buffer
				if err := json.Indent(&ind, got, "", "  "); err != nil {
					t.Fatalf("invalid JSON: %v", err)
				}
				if bytes.Count(got, []byte("\n")) != 1 {
					t.Errorf("want one line of JSON")
				}
				got = ind.Bytes()
			}
			checkGolden(t, filepath.Join("testdata", "golden", c.file), got)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lint -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test ./lint -run Golden -update rewrites it); got:\n%s", path, got)
	}
}

func TestReportUnknownFormat(t *testing.T) {
	err := WriteReport(&bytes.Buffer{}, &Result{}, "xml", ReportOptions{})
	if err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("want an error naming the format, got %v", err)
	}
}

// An empty run must still be one object with [] arrays: scripts do
// `.findings | length` and jq fails on null.
func TestJSONEmptyArrays(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteReport(&buf, &Result{}, "json", ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatal("more than one JSON value")
	}
	for _, k := range []string{"files", "findings", "errors"} {
		if _, ok := doc[k].([]any); !ok {
			t.Errorf("%s = %#v, want []", k, doc[k])
		}
	}
	if doc["version"] != float64(1) || doc["pg_version"] != float64(DefaultPGVersion) {
		t.Errorf("version/pg_version = %v/%v", doc["version"], doc["pg_version"])
	}

	buf.Reset()
	res := &Result{PGVersion: 15, Findings: []Finding{{File: "a.sql", Line: 1, Column: 1, Rule: "r", Severity: SeverityWarning, Locks: []Lock{{Relation: "t", Mode: "SHARE UPDATE EXCLUSIVE"}}}}}
	if err := WriteReport(&buf, res, "json", ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	f := got.Findings[0]
	if f["severity"] != "warning" || f["doc"] != "docs/rules/r.md" {
		t.Errorf("severity/doc = %v/%v", f["severity"], f["doc"])
	}
	blocks := f["locks"].([]any)[0].(map[string]any)["blocks"]
	if _, ok := blocks.([]any); !ok {
		t.Errorf("locks[0].blocks = %#v, want []", blocks)
	}
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	// The schema's own id points at docs.oasis-open.org; tests run offline,
	// so the committed copy is registered under that id.
	schemaPath := filepath.Join("testdata", "sarif-schema-2.1.0.json")
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	schema, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	for name, res := range map[string]*Result{
		"golden": goldenResult(),
		"empty":  {},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, res, "sarif", goldenOptions(false)); err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("SARIF does not validate: %v", err)
			}
		})
	}
}

// Fingerprints follow the statement, not its line: inserting lines above
// must not make GitLab or code scanning see new findings.
func TestFingerprintsSurviveLineShifts(t *testing.T) {
	shifted := goldenResult()
	for i := range shifted.Findings {
		shifted.Findings[i].Line += 40
		shifted.Findings[i].EndLine += 40
	}
	for _, format := range []string{"gitlab", "sarif"} {
		a, b := fingerprintsOf(t, goldenResult(), format), fingerprintsOf(t, shifted, format)
		if strings.Join(a, ",") != strings.Join(b, ",") {
			t.Errorf("%s fingerprints changed with line numbers:\n%v\n%v", format, a, b)
		}
		seen := map[string]bool{}
		for _, fp := range a {
			if seen[fp] {
				t.Errorf("%s: duplicate fingerprint %s (identical statements must differ)", format, fp)
			}
			seen[fp] = true
		}
	}
	// And they change with the statement.
	edited := goldenResult()
	edited.Findings[0].Statement += " -- edited"
	if fingerprintsOf(t, edited, "gitlab")[0] == fingerprintsOf(t, goldenResult(), "gitlab")[0] {
		t.Error("fingerprint did not change with the statement")
	}
}

func fingerprintsOf(t *testing.T, res *Result, format string) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteReport(&buf, res, format, goldenOptions(false)); err != nil {
		t.Fatal(err)
	}
	var out []string
	switch format {
	case "gitlab":
		var issues []struct {
			Fingerprint string `json:"fingerprint"`
		}
		if err := json.Unmarshal(buf.Bytes(), &issues); err != nil {
			t.Fatal(err)
		}
		for _, is := range issues {
			out = append(out, is.Fingerprint)
		}
	case "sarif":
		var log struct {
			Runs []struct {
				Results []struct {
					PartialFingerprints map[string]string `json:"partialFingerprints"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		for _, r := range log.Runs[0].Results {
			out = append(out, r.PartialFingerprints[sarifFingerprintKey]+"|"+r.PartialFingerprints["primaryLocationLineHash"])
		}
	}
	return out
}

func TestGitHubEscaping(t *testing.T) {
	res := &Result{Findings: []Finding{{
		File: "db/a,b:c%.sql", Line: 2, Column: 3, EndLine: 4, EndColumn: 5,
		Rule: "r", Severity: SeverityInfo, Message: "100% sure,\r\nreally: yes",
	}}}
	var buf bytes.Buffer
	if err := WriteReport(&buf, res, "github", ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "::notice file=db/a%2Cb%3Ac%25.sql,line=2,col=3,endLine=4,endColumn=5,title=r::100%25 sure,%0D%0Areally: yes%0ASee " + ProjectURL + "/blob/main/docs/rules/r.md\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRepoPath(t *testing.T) {
	o := ReportOptions{BaseDir: "/repo", WorkDir: "/repo/db"}
	for in, want := range map[string]string{
		"migrations/1.sql":       "db/migrations/1.sql",
		"./migrations/1.sql":     "db/migrations/1.sql",
		"/repo/x/2.sql":          "x/2.sql",
		"/elsewhere/3.sql":       "/elsewhere/3.sql",
		"../../outside/4.sql":    "../../outside/4.sql",
		"-":                      "<stdin>",
		"migrations/../up/5.sql": "db/up/5.sql",
	} {
		if got := o.repoPath(in); got != want {
			t.Errorf("repoPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&ReportOptions{}).repoPath("./a/b.sql"); got != "a/b.sql" {
		t.Errorf("without BaseDir: %q", got)
	}
}

// The text reporter only ever looks at each finding's own fields, so its
// work is linear in the findings. This checks it without a clock:
// allocations for 4n findings stay within 4x (plus slack) of those for n,
// where re-reading the file per finding would make them grow 16x.
func TestTextReportIsLinear(t *testing.T) {
	build := func(n int) *Result {
		res := &Result{Files: []FileResult{{Path: "big.sql", Statements: n}}}
		for i := range n {
			res.Findings = append(res.Findings, Finding{
				File: "big.sql", Line: 3*i + 1, Column: 1, EndLine: 3*i + 2, EndColumn: 10,
				Rule: "adding-column-rewrite", Severity: Severity(1 + i%3),
				Message:   fmt.Sprintf("statement %d rewrites t%d", i, i),
				Statement: fmt.Sprintf("ALTER TABLE t%d\n  ADD COLUMN c int DEFAULT random()", i),
				Locks:     []Lock{{Relation: fmt.Sprintf("public.t%d", i), Mode: "ACCESS EXCLUSIVE", Blocks: []string{"reads", "writes"}}},
				Rewrite:   true,
				Fix:       "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = random();",
			})
		}
		return res
	}
	measure := func(res *Result) (allocs float64, size int) {
		var buf bytes.Buffer
		allocs = testing.AllocsPerRun(3, func() {
			buf.Reset()
			if err := WriteReport(&buf, res, "text", ReportOptions{Color: true}); err != nil {
				t.Fatal(err)
			}
		})
		return allocs, buf.Len()
	}
	small, large := build(2000), build(8000)
	a1, s1 := measure(small)
	a2, s2 := measure(large)
	if a2 > 4.5*a1 {
		t.Errorf("allocations grew %.1fx for 4x the findings (%v -> %v)", a2/a1, a1, a2)
	}
	if float64(s2) > 4.5*float64(s1) {
		t.Errorf("output grew %.1fx for 4x the findings", float64(s2)/float64(s1))
	}
}

func BenchmarkTextReport(b *testing.B) {
	res := &Result{Files: []FileResult{{Path: "big.sql", Statements: 20000}}}
	for i := range 15000 {
		res.Findings = append(res.Findings, Finding{
			File: "big.sql", Line: 4*i + 1, Column: 1, EndLine: 4*i + 3, EndColumn: 20,
			Rule: "adding-column-rewrite", Severity: SeverityError, Message: "rewrites the table",
			Statement: "ALTER TABLE t\n  ADD COLUMN c int\n  DEFAULT random()",
			Locks:     []Lock{{Relation: "public.t", Mode: "ACCESS EXCLUSIVE", Blocks: []string{"reads", "writes"}}},
		})
	}
	b.ResetTimer()
	for b.Loop() {
		var buf bytes.Buffer
		if err := WriteReport(&buf, res, "text", ReportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The hand-written JSON must mean exactly what encoding/json would have
// written for the same contract.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	res := goldenResult()
	res.Findings[0].Message = "ctl \x00\x01\x1f \b\f tab\t q\" bs\\ <&> \u2028\u2029 bad\xff\xfe utf8 é ☃ 🐘"
	res.Findings[1].Locks = nil
	var buf bytes.Buffer
	if err := WriteReport(&buf, res, "json", ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, buf.Bytes())
	}

	type lock struct {
		Relation string   `json:"relation"`
		Mode     string   `json:"mode"`
		Blocks   []string `json:"blocks"`
	}
	type finding struct {
		File      string `json:"file"`
		Line      int    `json:"line"`
		Column    int    `json:"column"`
		EndLine   int    `json:"end_line"`
		EndColumn int    `json:"end_column"`
		Rule      string `json:"rule"`
		Severity  string `json:"severity"`
		Message   string `json:"message"`
		Statement string `json:"statement"`
		Locks     []lock `json:"locks"`
		Rewrite   bool   `json:"rewrite"`
		Scan      bool   `json:"scan"`
		Fix       string `json:"fix"`
		Doc       string `json:"doc"`
	}
	doc := struct {
		Version   int          `json:"version"`
		PGVersion int          `json:"pg_version"`
		Files     []FileResult `json:"files"`
		Findings  []finding    `json:"findings"`
		Errors    []Error      `json:"errors"`
	}{Version: 1, PGVersion: res.PGVersion, Files: res.Files, Findings: []finding{}, Errors: res.Errors}
	for _, f := range res.Findings {
		locks := []lock{}
		for _, l := range f.Locks {
			bl := l.Blocks
			if bl == nil {
				bl = []string{}
			}
			locks = append(locks, lock{l.Relation, l.Mode, bl})
		}
		doc.Findings = append(doc.Findings, finding{f.File, f.Line, f.Column, f.EndLine, f.EndColumn, f.Rule,
			f.Severity.String(), f.Message, f.Statement, locks, f.Rewrite, f.Scan, f.Fix, docOf(&f)})
	}
	ref, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hand-written JSON differs from encoding/json:\n%s\nwant\n%s", buf.Bytes(), ref)
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"\\", "\x00\x7f\n\r\t", "\u2028\u2029", "\xff\xfeé", "🐘<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}
