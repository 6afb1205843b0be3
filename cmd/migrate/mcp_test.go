package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPBinary runs the built binary the way an assistant does: started
// as `migrate mcp` in the project directory, spoken to over its stdin and
// stdout by the SDK's own client.
func TestMCPBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "migrate")
	build := exec.Command(goTool, "build", "-o", bin, "-ldflags", "-X main.version=v0.0.0-mcptest", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// A project whose configuration turns a rule off: the server must find
	// it from its working directory, as `migrate lint` would.
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, ".migrate.toml"), []byte("disabled = [\"missing-lock-timeout\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.Command(bin, "mcp")
	cmd.Dir = project
	var stderr strings.Builder
	cmd.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr: %s", err, stderr.String())
	}
	defer cs.Close()

	if info := cs.InitializeResult().ServerInfo; info.Name != "migrate" || info.Version != "v0.0.0-mcptest" {
		t.Errorf("server info = %+v", info)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"lint_sql", "plan_sql"}) {
		t.Fatalf("tools = %v", names)
	}

	callTool := func(name string, args map[string]any) (*mcp.CallToolResult, string) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v\nstderr: %s", name, err, stderr.String())
		}
		var text strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text.WriteString(tc.Text)
			}
		}
		return res, text.String()
	}
	type finding struct {
		Rule, Severity, Fix, File string
		Line                      int
	}
	findings := func(res *mcp.CallToolResult) []finding {
		t.Helper()
		b, _ := json.Marshal(res.StructuredContent)
		var out struct{ Findings []finding }
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("structured content: %v: %s", err, b)
		}
		return out.Findings
	}
	rules := func(fs []finding) []string {
		var r []string
		for _, f := range fs {
			r = append(r, f.Rule)
		}
		return r
	}

	res, text := callTool("lint_sql", map[string]any{"sql": "CREATE INDEX i ON t (c);"})
	fs := findings(res)
	if res.IsError || len(fs) != 1 || fs[0].Rule != "require-concurrent-index" || fs[0].Severity != "error" ||
		!strings.Contains(fs[0].Fix, "CREATE INDEX CONCURRENTLY") {
		t.Errorf("lint CREATE INDEX: error %v, findings %+v (missing-lock-timeout is disabled by the project)\n%s", res.IsError, fs, text)
	}
	if !strings.Contains(text, "require-concurrent-index") || !strings.Contains(text, "CONCURRENTLY") {
		t.Errorf("summary:\n%s", text)
	}

	answer := "You can add the index like this:\n\n```sql\nCREATE INDEX orders_user_id_idx ON orders (user_id);\n```\n\nThen the join is fast.\n"
	res, text = callTool("lint_sql", map[string]any{"sql": answer})
	fs = findings(res)
	if res.IsError || !slices.Contains(rules(fs), "require-concurrent-index") || fs[0].File != "input.md" || fs[0].Line != 4 {
		t.Errorf("lint Markdown answer: error %v, findings %+v\n%s", res.IsError, fs, text)
	}

	res, text = callTool("plan_sql", map[string]any{"sql": "ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();"})
	b, _ := json.Marshal(res.StructuredContent)
	var plan struct {
		Steps []struct {
			Phase, SQL, Undo string
			Backfill         *struct{ Table, Set string }
		}
	}
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, s := range plan.Steps {
		if !slices.Contains(phases, s.Phase) {
			phases = append(phases, s.Phase)
		}
	}
	if res.IsError || !slices.Equal(phases, []string{"expand", "backfill", "contract"}) {
		t.Errorf("plan: error %v, phases %v\n%s", res.IsError, phases, text)
	}
	if !strings.Contains(text, "ALTER TABLE t ADD COLUMN c uuid;") || !strings.Contains(text, "SET NOT NULL") {
		t.Errorf("plan summary:\n%s", text)
	}

	res, text = callTool("lint_sql", map[string]any{"sql": "SELECT 1;\nALTER TABLE t ADD COLUMN c int NOT NUL;"})
	if !res.IsError || !strings.HasPrefix(text, "input.sql:2:") || !strings.Contains(text, "syntax error") {
		t.Errorf("bad SQL: error %v, text %q; want a tool error at input.sql:2:col", res.IsError, text)
	}

	// Closing stdin is how a client ends the session: the server must exit 0.
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("migrate mcp exited %d; stderr: %s", code, stderr.String())
	}
}

func TestMCPEndsWithStdin(t *testing.T) {
	code, out, errOut := runCLI(t, "mcp")
	if code != 0 || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestMCPHelpShowsConfiguration(t *testing.T) {
	code, out, _ := runCLI(t, "mcp", "--help")
	for _, want := range []string{"claude mcp add migrate -- migrate mcp", `"mcpServers"`, `"args": ["mcp"]`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("mcp --help (exit %d) lacks %s:\n%s", code, want, out)
		}
	}
	code, _, errOut := runCLI(t, "mcp", "--pg-version", "8")
	if code != exitUsage || !strings.Contains(errOut, "pg-version") {
		t.Errorf("bad --pg-version: exit %d, %q", code, errOut)
	}
}
