package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/mcpserver"
)

func mcpCommand() *cli.Command {
	return &cli.Command{
		Name:  "mcp",
		Usage: "serve lint_sql and plan_sql to AI coding assistants (Model Context Protocol on stdio)",
		Description: `Runs a Model Context Protocol server on standard input and output, so that an
AI coding assistant can check the DDL it is about to suggest (lint_sql) and get
its online rewrite as expand / backfill / contract steps (plan_sql). The tools
take SQL text: plain statements, a goose or dbmate migration, or a Markdown
answer with sql code fences. They read no files and connect to no database.

The assistant starts the server itself; configure it once. For Claude Code:
   claude mcp add migrate -- migrate mcp
Any client that reads an "mcpServers" JSON file (.mcp.json, .cursor/mcp.json):
   {
     "mcpServers": {
       "migrate": {"command": "migrate", "args": ["mcp"]}
     }
   }
More clients, and checking a saved answer by hand, in docs/ai-assistants.md.

The tools follow the project's .migrate.toml, found from the directory the
assistant starts the server in, as 'migrate lint' finds it: lint_sql its
disabled rules, severities and assume_in_transaction, both tools its
pg_version. A call's own pg_version and assume_in_transaction win.

Examples:
   claude mcp add migrate -- migrate mcp
   claude mcp add migrate -- migrate mcp --config /srv/app/.migrate.toml
   migrate mcp --pg-version 13`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "configuration file (default: " + lint.ConfigFileName + " in the working directory or above)"},
			&cli.StringFlag{Name: "pg-version", Usage: fmt.Sprintf("PostgreSQL major version when a call names none (default: the config file's, else %d)", lint.DefaultPGVersion)},
		},
		OnUsageError: onUsageError,
		Action:       runMCP,
	}
}

func runMCP(c *cli.Context) error {
	cfg, err := mcpLintConfig(c)
	if err != nil {
		return err
	}
	server := mcpserver.New(mcpserver.Options{Version: version, Lint: cfg})

	stdin, stdout := c.App.Reader, c.App.Writer
	if isTerminal(stdin) {
		// Someone typed the command to try it: without this they would
		// face a silent prompt that only speaks JSON-RPC.
		fmt.Fprintln(c.App.ErrWriter, "migrate mcp: serving the Model Context Protocol on stdin/stdout; an AI assistant starts this itself (see 'migrate mcp --help'). Ctrl-D ends it.")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The app's reader and writer rather than StdioTransport's os.Stdin and
	// os.Stdout, so that run() drives the server in tests like any command.
	err = server.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, context.Canceled):
		// The client closing stdin, or stopping us, is how a session ends.
		return nil
	default:
		return failedf("mcp: %v", err)
	}
}

// mcpLintConfig reads .migrate.toml the way 'migrate lint' does, keeping the
// settings that apply to SQL text (not exclude globs or fail_on).
func mcpLintConfig(c *cli.Context) (lint.Config, error) {
	path := c.String("config")
	if path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return lint.Config{}, usageErrorf("mcp: %v", err)
		}
		if path, err = lint.FindConfig(wd); err != nil {
			return lint.Config{}, usageErrorf("mcp: looking for %s: %v", lint.ConfigFileName, err)
		}
	}
	var fc lint.FileConfig
	if path != "" {
		var err error
		if fc, err = lint.LoadConfigFile(path); err != nil {
			return lint.Config{}, usageErrorf("mcp: config: %v", err)
		}
	}
	cfg := lint.Config{
		Options: lint.Options{
			PGVersion:           lint.DefaultPGVersion,
			IncludeDown:         fc.IncludeDown,
			AssumeInTransaction: fc.AssumeInTransaction,
		},
		Disabled: fc.Disabled,
		Severity: fc.Severity,
	}
	if fc.PGVersion != 0 {
		cfg.PGVersion = fc.PGVersion
	}
	if c.IsSet("pg-version") {
		v, err := lint.ParsePGVersion(c.String("pg-version"))
		if err != nil {
			return lint.Config{}, usageErrorf("mcp: --pg-version: %v", err)
		}
		cfg.PGVersion = v
	}
	return cfg, nil
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// nopWriteCloser leaves stdout open when the session ends: closing it is
// the process's business, not the transport's.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
