// Package mcpserver exposes the linter and the planner to AI coding
// assistants as Model Context Protocol tools, so that an assistant can check
// the DDL it is about to suggest, and get its online rewrite, before a human
// copies it into a migration.
//
// The tools take SQL text rather than file paths: the assistant usually has
// the statement in its answer, not on disk, and a server that reads no files
// cannot be talked into reading the wrong ones.
package mcpserver

import (
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/migrate-tool/migrate/lint"
)

// Name is the server name announced to clients; assistants show it next to
// the tool names, and configuration files key the server by it.
const Name = "migrate"

// Options configure the tools the way the project configures `migrate lint`.
type Options struct {
	// Version is the binary's version, announced in the initialize handshake.
	Version string
	// Lint is the project's configuration (.migrate.toml): disabled rules,
	// severity overrides, the PostgreSQL version and whether plain SQL runs
	// in a transaction. The assistant should be held to the same rules as
	// the CI job that will lint the migration it writes. Per-call arguments
	// override PGVersion and AssumeInTransaction.
	Lint lint.Config
}

// instructions reach the assistant's context when it connects; they say
// when to call the tools, which their descriptions alone leave open.
const instructions = `migrate checks PostgreSQL schema changes for production safety.
Before suggesting DDL or a migration for an existing database (CREATE INDEX, ALTER TABLE, adding constraints or columns, changing types, renames, drops, data backfills), call lint_sql with the SQL; each finding says which lock the statement takes, what it blocks and how to rewrite it. Apply the fixes and lint again until no errors remain.
Call plan_sql to get the online rewrite of a change as expand / backfill / contract steps, with each step's lock, timeouts and undo.
Both tools read plain SQL, goose or dbmate migration files, or a Markdown answer with sql code fences.`

// New returns a server with the lint_sql and plan_sql tools. Run it with a
// transport, e.g. server.Run(ctx, &mcp.StdioTransport{}).
func New(opts Options) *mcp.Server {
	if opts.Lint.PGVersion == 0 {
		opts.Lint.PGVersion = lint.DefaultPGVersion
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	s := mcp.NewServer(&mcp.Implementation{
		Name:    Name,
		Title:   "migrate: PostgreSQL migration linter and planner",
		Version: version,
	}, &mcp.ServerOptions{Instructions: instructions})
	t := &tools{opts: opts}
	mcp.AddTool(s, lintTool(), t.lintSQL)
	mcp.AddTool(s, planTool(), t.planSQL)
	return s
}

type tools struct {
	opts Options
}

// readOnly marks both tools as pure functions of their arguments, so that
// clients can run them without asking the user each time.
func readOnly(title string) *mcp.ToolAnnotations {
	closed := false
	return &mcp.ToolAnnotations{
		Title:          title,
		ReadOnlyHint:   true,
		IdempotentHint: true,
		OpenWorldHint:  &closed,
	}
}
