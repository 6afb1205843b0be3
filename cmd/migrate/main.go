// Command migrate lints, plans and applies PostgreSQL schema changes so that
// they can run on a busy production database without blocking it.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by every subcommand (DESIGN.md).
const (
	exitOK       = 0
	exitFindings = 1 // lint findings at or above --fail-on; apply/backfill failed or paused too long (resumable)
	exitUsage    = 2 // could not run: bad flags, unreadable input, SQL that does not parse
)

// exitError carries an exit code through urfave/cli to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad input: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failedf reports a run that failed but left the database consistent: exit code 1.
func failedf(format string, args ...any) error {
	return &exitError{code: exitFindings, err: fmt.Errorf(format, args...)}
}

// silentExit ends the program with code and no message (the output already said it all).
func silentExit(code int) error { return &exitError{code: code} }

func main() {
	stop := startProfile()
	code := run(os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without os.Exit, so tests can drive the whole CLI in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "migrate: %v\n", ee.err)
		}
		return ee.code
	}
	// Anything urfave/cli itself rejects (unknown flag, missing argument) is a usage error.
	fmt.Fprintf(stderr, "migrate: %v\n", err)
	return exitUsage
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "migrate",
		Usage:   "make PostgreSQL schema changes safe to run on a busy production database",
		Version: version,
		Description: `migrate lint finds statements that take heavy locks, rewrite or scan big tables;
migrate plan rewrites them into expand / backfill / contract steps;
migrate apply runs those steps with short lock timeouts, retries and a throttled backfill.

Examples:
   migrate lint migrations/
   migrate lint --format json db/migrations/0042_add_index.up.sql
   migrate plan migrations/0042_add_index.sql
   DATABASE_URL=postgres://app@db/prod migrate apply --batch 1000 migrations/0042_add_index.sql`,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "dsn",
				Usage:   "PostgreSQL connection string (falls back to DATABASE_URL, then the libpq PG* variables)",
				EnvVars: []string{"DATABASE_URL"},
			},
			&cli.StringFlag{
				Name:  "log-format",
				Value: "text",
				Usage: "log format: text or json",
			},
		},
		Before: func(c *cli.Context) error {
			return setupLogging(c, stderr)
		},
		Commands: []*cli.Command{
			lintCommand(),
			planCommand(),
			applyCommand(),
			completeCommand(),
			rollbackCommand(),
			statusCommand(),
			backfillCommand(),
			mcpCommand(),
		},
		// Usage errors (unknown flags, bad values) must exit 2 with a clear message, not print help and exit 0.
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageErrorf("%v (see 'migrate --help')", err)
		},
		// Without a known command: help when bare, a usage error for a typo.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q (see 'migrate --help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
	return app
}

func setupLogging(c *cli.Context, stderr io.Writer) error {
	var h slog.Handler
	switch f := c.String("log-format"); f {
	case "text":
		h = slog.NewTextHandler(stderr, nil)
	case "json":
		h = slog.NewJSONHandler(stderr, nil)
	default:
		return usageErrorf("--log-format must be text or json, not %q", f)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// dbFlag lets commands that connect take --dsn after their name too, as
// in "migrate apply --dsn URL file.sql"; without it urfave/cli accepts the
// global flag only before the command.
func dbFlag() cli.Flag {
	return &cli.StringFlag{Name: "dsn", Usage: "PostgreSQL connection string (default: the global --dsn, DATABASE_URL, then the libpq PG* variables)"}
}

// dsnOf returns the command's --dsn, else the global one (which carries
// DATABASE_URL); "" leaves pgx to the libpq PG* variables.
func dsnOf(c *cli.Context) string {
	if c.IsSet("dsn") {
		return c.String("dsn")
	}
	for _, p := range c.Lineage()[1:] {
		if v := p.String("dsn"); v != "" {
			return v
		}
	}
	return ""
}

// onUsageError makes every subcommand report bad flags with exit code 2.
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	return usageErrorf("%s: %v (see 'migrate %s --help')", c.Command.Name, err, c.Command.Name)
}
