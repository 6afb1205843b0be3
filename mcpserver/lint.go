package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/migrate-tool/migrate/lint"
)

// LintInput is the lint_sql arguments.
type LintInput struct {
	SQL                 string    `json:"sql" jsonschema:"the SQL to check: statements, a goose or dbmate migration file, or a Markdown answer whose sql code fences hold the migration"`
	Format              Format    `json:"format,omitempty" jsonschema:"what sql is, when detection could go either way: sql, markdown, goose or dbmate (default: detected)"`
	PGVersion           PGVersion `json:"pg_version,omitempty" jsonschema:"PostgreSQL major version the migration runs on, 9.6 or 10 and later (default: the project's .migrate.toml, else 15)"`
	AssumeInTransaction *bool     `json:"assume_in_transaction,omitempty" jsonschema:"true when the migration runner wraps plain SQL in one transaction (most do); decides e.g. whether CREATE INDEX CONCURRENTLY can run"`
}

// LintOutput is the `migrate lint --format json` document (DESIGN.md), so
// that a client reading structured content and a CI job reading the CLI's
// report see the same shape.
type LintOutput struct {
	Version   int               `json:"version" jsonschema:"version of this document's shape"`
	PGVersion int               `json:"pg_version" jsonschema:"PostgreSQL major version the SQL was checked for"`
	Files     []lint.FileResult `json:"files"`
	Findings  []Finding         `json:"findings"`
	Errors    []lint.Error      `json:"errors"`
}

// Finding is one problem in the DESIGN.md JSON shape: lint.Finding keeps
// its severity as a number, which the contract spells as a word.
type Finding struct {
	File      string      `json:"file"`
	Line      int         `json:"line" jsonschema:"1-based line of the statement in sql"`
	Column    int         `json:"column"`
	EndLine   int         `json:"end_line"`
	EndColumn int         `json:"end_column"`
	Rule      string      `json:"rule"`
	Severity  string      `json:"severity" jsonschema:"error, warning or info"`
	Message   string      `json:"message"`
	Statement string      `json:"statement"`
	Locks     []lint.Lock `json:"locks" jsonschema:"locks the statement takes on existing tables and what each blocks"`
	Rewrite   bool        `json:"rewrite" jsonschema:"the statement rewrites the whole table"`
	Scan      bool        `json:"scan" jsonschema:"the statement scans the whole table under its lock"`
	Fix       string      `json:"fix" jsonschema:"a safe replacement for the statement"`
	Doc       string      `json:"doc" jsonschema:"the rule's documentation, relative to the project repository"`
}

func lintTool() *mcp.Tool {
	return &mcp.Tool{
		Name: "lint_sql",
		Description: `Check PostgreSQL DDL or a migration for production hazards before suggesting it: statements that take locks blocking reads or writes on existing tables, rewrite or scan them, or break the running application (CREATE INDEX without CONCURRENTLY, adding NOT NULL, volatile defaults or foreign keys, type changes, renames, drops, whole-table updates, missing lock_timeout, ...).
Returns each finding with its rule, severity, line, message, the locks involved and a safe rewrite (fix). SQL that does not parse is a tool error giving file:line:col.`,
		InputSchema: schemaFor[LintInput](),
		Annotations: readOnly("Lint PostgreSQL migration"),
	}
}

func (t *tools) lintSQL(ctx context.Context, req *mcp.CallToolRequest, in LintInput) (*mcp.CallToolResult, *LintOutput, error) {
	cfg := t.opts.Lint
	var err error
	if cfg.PGVersion, err = pgVersion(in.PGVersion, cfg.PGVersion); err != nil {
		return nil, nil, err
	}
	if in.AssumeInTransaction != nil {
		cfg.AssumeInTransaction = *in.AssumeInTransaction
	}
	src, err := readSource(in.SQL, in.Format, lint.ReadOptions{AssumeInTransaction: cfg.AssumeInTransaction})
	if err != nil {
		return nil, nil, err
	}
	res := lint.Lint([]*lint.Source{src}, cfg)
	if len(res.Errors) > 0 {
		return nil, nil, inputErrors(res.Errors)
	}

	// The CLI's JSON writer is the contract's one implementation; decoding
	// its output keeps the tool from drifting from it field by field.
	var buf bytes.Buffer
	if err := lint.WriteReport(&buf, res, "json", lint.ReportOptions{}); err != nil {
		return nil, nil, fmt.Errorf("lint_sql: %v", err)
	}
	out := new(LintOutput)
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return nil, nil, fmt.Errorf("lint_sql: %v", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: lintSummary(res)}}}, out, nil
}

// inputErrors is a parse failure as a tool error: the assistant can read
// and fix its SQL, whereas a protocol error would look like a broken server.
func inputErrors(errs []lint.Error) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = fmt.Sprintf("%s:%d:%d: %s", e.File, max(e.Line, 1), max(e.Column, 1), e.Message)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// lintSummary is the text content: clients that show or forward only text
// to the model still get every finding's rule, position, message and fix,
// without the statement the assistant itself just wrote.
func lintSummary(res *lint.Result) string {
	var b strings.Builder
	statements := 0
	for _, f := range res.Files {
		statements += f.Statements
	}
	if statements == 0 {
		fmt.Fprintf(&b, "No SQL statements found: in Markdown only ```sql code blocks are read, and down sections of goose or dbmate files are skipped.\n")
		return b.String()
	}
	if len(res.Findings) == 0 {
		fmt.Fprintf(&b, "No findings in %s for PostgreSQL %s.\n", plural(statements, "statement"), pgName(res.PGVersion))
		return b.String()
	}
	var counts [4]int
	for _, f := range res.Findings {
		if f.Severity >= lint.SeverityInfo && f.Severity <= lint.SeverityError {
			counts[f.Severity]++
		}
	}
	var parts []string
	for _, s := range []lint.Severity{lint.SeverityError, lint.SeverityWarning, lint.SeverityInfo} {
		if counts[s] > 0 {
			parts = append(parts, plural(counts[s], s.String()))
		}
	}
	fmt.Fprintf(&b, "%s in %s for PostgreSQL %s.\n", strings.Join(parts, ", "), plural(statements, "statement"), pgName(res.PGVersion))
	for _, f := range res.Findings {
		fmt.Fprintf(&b, "\n%s:%d:%d: %s: %s: %s\n", f.File, f.Line, f.Column, f.Severity, f.Rule, f.Message)
		if f.Fix != "" {
			b.WriteString("  fix:\n")
			for _, line := range strings.Split(strings.TrimRight(f.Fix, "\n"), "\n") {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	if counts[lint.SeverityError] > 0 {
		b.WriteString("\nErrors block or break production as written: apply the fixes and lint again, or call plan_sql for the online rewrite.\n")
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if word == "info" {
		return fmt.Sprintf("%d info", n)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// pgName spells lint's internal 9 (for 9.6) the way users write it.
func pgName(v int) string {
	if v == 9 {
		return "9.6"
	}
	return fmt.Sprint(v)
}
