package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/migrate-tool/migrate/lint"
)

// connect runs a server on one end of an in-memory pipe and returns a
// client session on the other, as an assistant would hold it.
func connect(t *testing.T, opts Options) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := New(opts).Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// decode reads the structured content the way a client does: from JSON,
// not from the server's Go values.
func decode[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var out T
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("structured content: %v\n%s", err, b)
	}
	return out
}

func TestServerInfoAndTools(t *testing.T) {
	cs := connect(t, Options{Version: "v1.2.3"})
	info := cs.InitializeResult().ServerInfo
	if info.Name != "migrate" || info.Version != "v1.2.3" {
		t.Errorf("server info = %+v, want migrate v1.2.3", info)
	}
	if !strings.Contains(cs.InitializeResult().Instructions, "lint_sql") {
		t.Errorf("instructions do not say when to call lint_sql: %q", cs.InitializeResult().Instructions)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Annotations == nil || !tool.Annotations.ReadOnlyHint {
			t.Errorf("%s is not marked read-only", tool.Name)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s has no output schema", tool.Name)
		}
		schema, _ := json.Marshal(tool.InputSchema)
		for _, want := range []string{`"sql"`, `"pg_version"`, `"required":["sql"]`} {
			if !bytes.Contains(schema, []byte(want)) {
				t.Errorf("%s input schema lacks %s: %s", tool.Name, want, schema)
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"lint_sql", "plan_sql"}) {
		t.Errorf("tools = %v", names)
	}
}

func TestLintCreateIndex(t *testing.T) {
	cs := connect(t, Options{})
	res := call(t, cs, "lint_sql", map[string]any{"sql": "CREATE INDEX i ON t (c);"})
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	out := decode[LintOutput](t, res)
	if out.Version != lint.JSONVersion || out.PGVersion != lint.DefaultPGVersion {
		t.Errorf("version %d, pg_version %d", out.Version, out.PGVersion)
	}
	f := findRule(out.Findings, "require-concurrent-index")
	if f == nil {
		t.Fatalf("no require-concurrent-index finding: %+v", out.Findings)
	}
	if f.Severity != "error" || f.Line != 1 || f.File != "input.sql" || !strings.Contains(f.Fix, "CREATE INDEX CONCURRENTLY") {
		t.Errorf("finding = %+v", f)
	}
	if len(f.Locks) == 0 || f.Locks[0].Mode != "SHARE" || f.Doc != "docs/rules/require-concurrent-index.md" {
		t.Errorf("locks %+v, doc %q", f.Locks, f.Doc)
	}
	summary := text(res)
	for _, want := range []string{"1 error", "input.sql:1:1: error: require-concurrent-index:", "fix:", "    CREATE INDEX CONCURRENTLY i ON t"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

// TestLintOutputIsTheCLIContract: the structured content must carry every
// key `migrate lint --format json` prints, so a client can switch between
// them; a key added to the CLI's report without a field here fails.
func TestLintOutputIsTheCLIContract(t *testing.T) {
	sql := "CREATE INDEX i ON t (c);\nALTER TABLE t ADD COLUMN d int NOT NULL;\n"
	src := lint.ReadSource(sqlName, []byte(sql), lint.ReadOptions{})
	var cli bytes.Buffer
	if err := lint.WriteReport(&cli, lint.Lint([]*lint.Source{src}, lint.Config{}), "json", lint.ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, Options{})
	res := call(t, cs, "lint_sql", map[string]any{"sql": sql, "format": "sql"})
	got, _ := json.Marshal(res.StructuredContent)
	var a, b any
	if err := json.Unmarshal(cli.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil {
		t.Fatal(err)
	}
	aj, _ := json.MarshalIndent(a, "", " ")
	bj, _ := json.MarshalIndent(b, "", " ")
	if !bytes.Equal(aj, bj) {
		t.Errorf("structured content differs from the CLI's JSON report\nCLI:\n%s\nMCP:\n%s", aj, bj)
	}
}

func TestLintMarkdownAnswer(t *testing.T) {
	answer := "Sure! To speed up lookups by email, add an index:\n\n" +
		"```sql\nCREATE INDEX users_email_idx ON users (email);\n```\n\n" +
		"This makes the query use an index scan.\n"
	cs := connect(t, Options{})
	for _, format := range []string{"", "markdown"} {
		args := map[string]any{"sql": answer}
		if format != "" {
			args["format"] = format
		}
		res := call(t, cs, "lint_sql", args)
		if res.IsError {
			t.Fatalf("format %q: tool error: %s", format, text(res))
		}
		out := decode[LintOutput](t, res)
		if len(out.Files) != 1 || out.Files[0].Format != "markdown" || out.Files[0].Statements != 1 {
			t.Errorf("format %q: files = %+v", format, out.Files)
		}
		f := findRule(out.Findings, "require-concurrent-index")
		if f == nil {
			t.Fatalf("format %q: no require-concurrent-index finding: %+v", format, out.Findings)
		}
		// Positions count the answer's lines, so the assistant can point
		// at the fence line it wrote.
		if f.File != "input.md" || f.Line != 4 {
			t.Errorf("format %q: finding at %s:%d, want input.md:4", format, f.File, f.Line)
		}
	}
}

func TestLintOptions(t *testing.T) {
	cs := connect(t, Options{})
	// CONCURRENTLY inside the runner's transaction fails at run time.
	res := call(t, cs, "lint_sql", map[string]any{"sql": "CREATE INDEX CONCURRENTLY i ON t (c);", "assume_in_transaction": true})
	if findRule(decode[LintOutput](t, res).Findings, "concurrently-in-transaction") == nil {
		t.Errorf("assume_in_transaction ignored: %s", text(res))
	}
	// A volatile default rewrites the table on every version; a constant
	// one only before 11: pg_version decides, as a number or a string.
	for _, v := range []any{10, "10", 9.6, "9.6"} {
		res := call(t, cs, "lint_sql", map[string]any{"sql": "ALTER TABLE t ADD COLUMN c int DEFAULT 0;", "pg_version": v})
		if res.IsError {
			t.Fatalf("pg_version %v: %s", v, text(res))
		}
		out := decode[LintOutput](t, res)
		if findRule(out.Findings, "adding-constant-default-before-pg11") == nil {
			t.Errorf("pg_version %v (read as %d): no adding-constant-default-before-pg11 finding: %s", v, out.PGVersion, text(res))
		}
	}
	// The project's configuration applies to the assistant's SQL too.
	cs = connect(t, Options{Lint: lint.Config{Disabled: []string{"missing-lock-timeout"}}})
	res = call(t, cs, "lint_sql", map[string]any{"sql": "CREATE INDEX i ON t (c);"})
	if f := findRule(decode[LintOutput](t, res).Findings, "missing-lock-timeout"); f != nil {
		t.Errorf("disabled rule reported: %+v", f)
	}
}

func TestLintClean(t *testing.T) {
	cs := connect(t, Options{})
	res := call(t, cs, "lint_sql", map[string]any{"sql": "CREATE TABLE t (id bigint PRIMARY KEY);"})
	out := decode[LintOutput](t, res)
	if res.IsError || len(out.Findings) != 0 || out.Findings == nil || out.Errors == nil {
		t.Errorf("error %v, findings %#v, errors %#v", res.IsError, out.Findings, out.Errors)
	}
	if !strings.HasPrefix(text(res), "No findings in 1 statement") {
		t.Errorf("summary = %q", text(res))
	}
	res = call(t, cs, "lint_sql", map[string]any{"sql": "Here is what I would do: nothing, the schema is fine.", "format": "markdown"})
	if !strings.HasPrefix(text(res), "No SQL statements found") {
		t.Errorf("prose without SQL: %q", text(res))
	}
}

func TestToolErrors(t *testing.T) {
	cs := connect(t, Options{})
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"lint_sql", map[string]any{"sql": "CREATE INDX i ON t (c);"}, `input.sql:1:8: syntax error at or near "INDX"`},
		{"plan_sql", map[string]any{"sql": "SELECT 1;\nALTER TABLE t ADD COLUMN;"}, "input.sql:2:"},
		{"lint_sql", map[string]any{"sql": "```sql\nCREATE INDX i ON t (c);\n```\n", "format": "markdown"}, "input.md:2:8: syntax error"},
		{"lint_sql", map[string]any{"sql": "  "}, "sql is empty"},
		{"lint_sql", map[string]any{"sql": "SELECT 1;", "pg_version": 8}, "pg_version"},
		{"lint_sql", map[string]any{"sql": "SELECT 1;", "format": "goose"}, "-- +goose Up"},
		{"lint_sql", map[string]any{"sql": "SELECT 1;", "format": "flyway"}, "format"},
		{"plan_sql", map[string]any{"sql": "SELECT 1;", "lock_timeout": "soon"}, "lock_timeout"},
		{"plan_sql", map[string]any{"sql": "SELECT 1;", "lock_timeout": "0s"}, "must be positive"},
		{"lint_sql", map[string]any{}, "sql"},
	} {
		res := call(t, cs, tc.tool, tc.args)
		if !res.IsError || !strings.Contains(text(res), tc.want) {
			t.Errorf("%s %v: error %v, text %q; want a tool error containing %q", tc.tool, tc.args, res.IsError, text(res), tc.want)
		}
	}
}

func TestPlanVolatileDefault(t *testing.T) {
	cs := connect(t, Options{})
	res := call(t, cs, "plan_sql", map[string]any{"sql": "ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();"})
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	out := decode[PlanOutput](t, res)
	var phases []string
	for _, s := range out.Steps {
		if len(phases) == 0 || phases[len(phases)-1] != s.Phase {
			phases = append(phases, s.Phase)
		}
	}
	if !slices.Equal(phases, []string{"expand", "backfill", "contract"}) {
		t.Fatalf("phases = %v, steps %+v", phases, out.Steps)
	}
	expand, backfill := out.Steps[0], stepIn(out.Steps, "backfill")
	if !strings.Contains(expand.SQL, "ADD COLUMN c uuid") || expand.Undo == "" || len(expand.Locks) == 0 || expand.LockTimeoutMS != 2000 {
		t.Errorf("expand step = %+v", expand)
	}
	if backfill.Backfill == nil || backfill.Backfill.Table != "t" || !strings.Contains(backfill.Backfill.Set, "gen_random_uuid()") {
		t.Errorf("backfill step = %+v", backfill)
	}
	if last := out.Steps[len(out.Steps)-1]; !strings.Contains(last.SQL, "SET NOT NULL") {
		t.Errorf("last step = %+v", last)
	}
	if out.Refused == nil || len(out.Refused) != 0 {
		t.Errorf("refused = %#v", out.Refused)
	}
	summary := text(res)
	for _, want := range []string{"expand\n", "backfill\n", "contract\n", "lock: ACCESS EXCLUSIVE on t", "undo: ALTER TABLE t DROP COLUMN", "migrate backfill --table t"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

func TestPlanOptionsAndRefusals(t *testing.T) {
	cs := connect(t, Options{})
	res := call(t, cs, "plan_sql", map[string]any{"sql": "CREATE INDEX i ON t (c);\nVACUUM FULL t;", "lock_timeout": "500ms", "pg_version": "13"})
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	out := decode[PlanOutput](t, res)
	if len(out.Steps) == 0 || !strings.Contains(out.Steps[0].SQL, "CONCURRENTLY") || out.Steps[0].InTransaction {
		t.Errorf("steps = %+v", out.Steps)
	}
	if len(out.Refused) != 1 || out.Refused[0].Rule != "rewriting-table-operation" || out.Refused[0].Line != 2 || out.Refused[0].Reason == "" {
		t.Errorf("refused = %+v", out.Refused)
	}
	if !strings.Contains(text(res), "refused") {
		t.Errorf("summary does not mention the refusal:\n%s", text(res))
	}
	res = call(t, cs, "plan_sql", map[string]any{"sql": "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES u (id);", "lock_timeout": "500ms"})
	for _, s := range decode[PlanOutput](t, res).Steps {
		if s.LockTimeoutMS != 0 && s.LockTimeoutMS != 500 {
			t.Errorf("step %d lock_timeout_ms = %d, want 500", s.ID, s.LockTimeoutMS)
		}
	}
}

func findRule(fs []Finding, rule string) *Finding {
	for i := range fs {
		if fs[i].Rule == rule {
			return &fs[i]
		}
	}
	return nil
}

func stepIn(steps []Step, phase string) Step {
	for _, s := range steps {
		if s.Phase == phase {
			return s
		}
	}
	return Step{}
}
