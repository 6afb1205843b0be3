package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/migrate"
)

// PlanInput is the plan_sql arguments.
type PlanInput struct {
	SQL         string    `json:"sql" jsonschema:"the schema change to plan: statements, a goose or dbmate migration file, or a Markdown answer whose sql code fences hold the migration"`
	Format      Format    `json:"format,omitempty" jsonschema:"what sql is, when detection could go either way: sql, markdown, goose or dbmate (default: detected)"`
	PGVersion   PGVersion `json:"pg_version,omitempty" jsonschema:"PostgreSQL major version the plan runs on, 9.6 or 10 and later (default: the project's .migrate.toml, else 15)"`
	LockTimeout string    `json:"lock_timeout,omitempty" jsonschema:"lock_timeout of each step that takes a strong lock, as a duration such as 2s or 500ms (default 2s)"`
}

// PlanOutput is the `migrate plan --format json` document.
type PlanOutput struct {
	Version int       `json:"version"`
	Steps   []Step    `json:"steps" jsonschema:"the steps in the order they run: expand, then backfill, then contract"`
	Refused []Refusal `json:"refused" jsonschema:"statements with no online path; they are not in the steps"`
}

// Step is one step of the plan.
type Step struct {
	ID                 int         `json:"id"`
	Phase              string      `json:"phase" jsonschema:"expand, backfill or contract"`
	Description        string      `json:"description"`
	SQL                string      `json:"sql" jsonschema:"the statements of the step; empty for a backfill step"`
	Backfill           *Backfill   `json:"backfill" jsonschema:"the batched data change of a backfill step, run with migrate backfill; null otherwise"`
	InTransaction      bool        `json:"in_transaction" jsonschema:"false for statements PostgreSQL refuses to run in a transaction block, such as CREATE INDEX CONCURRENTLY"`
	Locks              []lint.Lock `json:"locks"`
	LockTimeoutMS      int64       `json:"lock_timeout_ms"`
	StatementTimeoutMS int64       `json:"statement_timeout_ms"`
	Breaking           bool        `json:"breaking" jsonschema:"the step drops or renames something the running application uses: deploy application code that no longer uses it first"`
	Unsafe             string      `json:"unsafe,omitempty"`
	Undo               string      `json:"undo" jsonschema:"SQL that reverses the step; empty when there is nothing to undo or it cannot be undone"`
	Source             SourceRef   `json:"source"`
}

// Backfill is a batched data change.
type Backfill struct {
	Table  string   `json:"table"`
	Set    string   `json:"set"`
	Where  string   `json:"where"`
	Key    []string `json:"key"`
	Delete bool     `json:"delete"`
}

// SourceRef locates the statement a step or refusal was planned from.
type SourceRef struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Statement string `json:"statement"`
}

// Refusal is a statement the planner will not rewrite.
type Refusal struct {
	SourceRef
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

func planTool() *mcp.Tool {
	return &mcp.Tool{
		Name: "plan_sql",
		Description: `Rewrite a PostgreSQL schema change into steps that are safe on a busy production database: expand (additive, safe with old and new application code), backfill (batched data changes), contract (validation, and breaking drops or renames that must wait until the application stopped using what they remove).
Each step has its SQL, the lock it takes, its timeouts, whether it runs in a transaction, and its undo. Statements with no online path are listed as refused with the reason. SQL that does not parse is a tool error giving file:line:col.`,
		InputSchema: schemaFor[PlanInput](),
		Annotations: readOnly("Plan a safe PostgreSQL migration"),
	}
}

func (t *tools) planSQL(ctx context.Context, req *mcp.CallToolRequest, in PlanInput) (*mcp.CallToolResult, *PlanOutput, error) {
	pg, err := pgVersion(in.PGVersion, t.opts.Lint.PGVersion)
	if err != nil {
		return nil, nil, err
	}
	lockTimeout := migrate.DefaultLockTimeout
	if in.LockTimeout != "" {
		d, err := time.ParseDuration(strings.TrimSpace(in.LockTimeout))
		if err != nil {
			return nil, nil, fmt.Errorf("lock_timeout: %q is not a duration (write e.g. 2s or 500ms)", in.LockTimeout)
		}
		if d <= 0 {
			return nil, nil, fmt.Errorf("lock_timeout must be positive: without it a queued strong lock blocks every query behind it")
		}
		lockTimeout = d
	}
	// Like `migrate plan`, the transaction the runner would wrap the file
	// in does not matter here: every step gets its own.
	src, err := readSource(in.SQL, in.Format, lint.ReadOptions{})
	if err != nil {
		return nil, nil, err
	}
	stmts, perr := lint.Parse(src, lint.Options{PGVersion: pg})
	if perr != nil {
		return nil, nil, inputErrors([]lint.Error{*perr})
	}
	plan, err := migrate.Build(stmts, lint.NewSchema(), migrate.Options{PGVersion: pg, LockTimeout: lockTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("plan_sql: %v", err)
	}

	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf); err != nil {
		return nil, nil, fmt.Errorf("plan_sql: %v", err)
	}
	out := new(PlanOutput)
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return nil, nil, fmt.Errorf("plan_sql: %v", err)
	}
	buf.Reset()
	if len(plan.Steps) == 0 && len(plan.Refused) == 0 {
		buf.WriteString("No statements to plan: in Markdown only ```sql code blocks are read, and down sections of goose or dbmate files are skipped.\n")
	} else if err := plan.WriteText(&buf); err != nil {
		return nil, nil, fmt.Errorf("plan_sql: %v", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: buf.String()}}}, out, nil
}
