package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
)

func lintCommand() *cli.Command {
	lint.RegisterDatabaseRules()
	return &cli.Command{
		Name:      "lint",
		Usage:     "find statements that lock, rewrite or scan busy tables",
		ArgsUsage: "PATH... | -",
		Description: `Reads migration files, directories (their migration files in version order) or
standard input (-), and reports each statement that takes a lock which blocks
reads or writes on an existing table, rewrites or scans it, or breaks the
running application, with the lock, what it blocks and a safe rewrite.

Understands plain SQL, golang-migrate, goose, dbmate, Flyway, diesel, sqitch,
and Markdown (the sql code blocks of an AI assistant's answer). Down and revert
code is skipped unless --include-down.

Settings come from .migrate.toml, found in the working directory or above it
(or --config FILE); flags override it, and --disable adds to its list.

Exit status: 0 nothing at or above --fail-on; 1 findings at or above it;
2 could not lint (unreadable input, SQL that does not parse, bad flags), with
file:line:col: message on stderr for each problem.

Examples:
   migrate lint migrations/
   migrate lint --format json db/migrations/0042_add_index.up.sql
   migrate lint --fail-on warning --pg-version 13 migrations/
   migrate lint --format sarif --output migrate.sarif migrations/
   migrate lint --changed-since origin/main migrations/   # only what this branch adds or changes
   migrate lint --disable missing-lock-timeout migrations/
   pbpaste | migrate lint -        # check an AI assistant's answer before running it
   migrate lint --dsn "$DATABASE_URL" migrations/   # verdicts from the live catalog (read-only)
   migrate lint --trace --trace-dsn postgres:///scratch --trace-disposable migrations/
   migrate lint --list-rules

With --dsn the server's version replaces --pg-version, existing columns,
constraints, indexes, partitions, views and table sizes feed the verdicts, and
lock findings on tables below --small-table are downgraded to warnings. With
--trace every statement also runs, rolled back, on a disposable scratch
database, and what it really locked, rewrote and scanned is added to the
findings (see docs/lint-dsn-trace.md).`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "output format: " + strings.Join(lint.Formats, ", ")},
			&cli.StringFlag{Name: "pg-version", Usage: fmt.Sprintf("PostgreSQL major version the migrations run on, 9.6 … %d (default %d)", lint.MaxPGVersion, lint.DefaultPGVersion)},
			&cli.StringFlag{Name: "fail-on", Usage: "lowest severity that makes the exit status 1: error, warning or info (default error)"},
			&cli.BoolFlag{Name: "include-down", Usage: "lint down/revert migrations too"},
			&cli.BoolFlag{Name: "assume-in-transaction", Usage: "treat plain SQL files as run inside one transaction each (as most runners do)"},
			&cli.StringFlag{Name: "config", Usage: "configuration file (default: " + lint.ConfigFileName + " in the working directory or above)"},
			&cli.StringSliceFlag{Name: "rule", Usage: "run only this rule (repeatable)"},
			&cli.StringSliceFlag{Name: "disable", Usage: "do not run this rule (repeatable; adds to the config file's list)"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "skip input files matching this glob (repeatable; adds to the config file's list)"},
			&cli.BoolFlag{Name: "list-rules", Usage: "list the rules with their default severity and exit"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the report to this file instead of standard output"},
			changedSinceFlag(),
		}, dbLintFlags()...),
		OnUsageError: onUsageError,
		Action:       runLint,
	}
}

// lintSettings is the configuration file with the flags laid over it.
type lintSettings struct {
	cfg     lint.Config
	read    lint.ReadOptions
	format  string
	failOn  lint.Severity
	output  string
	workDir string
	baseDir string
}

func runLint(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.Bool("list-rules") {
		return listRules(stdout)
	}
	changed, paths, err := changedSince(c, c.Args().Slice())
	if err != nil {
		return err
	}
	if len(paths) == 0 && changed == nil {
		return usageErrorf("lint: no input: give migration files, directories, or - for standard input\nusage: migrate lint [flags] PATH... | -   (see 'migrate lint --help')")
	}
	s, err := lintSettingsFrom(c)
	if err != nil {
		return err
	}

	db, err := openLintDB(c, s)
	if err != nil {
		return err
	}
	sources, readErrs := lint.ReadPaths(paths, c.App.Reader, s.read)
	// Only --dsn, --trace and --changed-since edit the findings after
	// linting; without them the report streams from the compact form.
	s.cfg.Compact = db.cat == nil && !db.trace && changed == nil
	res := lint.Lint(sources, s.cfg)
	writeHeapProfile()
	if len(readErrs) > 0 {
		res.Errors = append(append([]lint.Error(nil), readErrs...), res.Errors...)
	}
	if err := db.finish(c, sources, res); err != nil {
		return err
	}
	changed.narrow(res, stderr)

	// Errors go to stderr first, so that on a terminal the report and its
	// summary line come last.
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, formatLintError(e))
	}

	out := stdout
	color := false
	var file *os.File
	if s.output != "" {
		file, err = os.Create(s.output)
		if err != nil {
			return usageErrorf("lint: %v", err)
		}
		out = file
	} else {
		color = wantColor(stdout)
	}
	werr := lint.WriteReport(out, res, s.format, lint.ReportOptions{
		Color:       color && s.format == "text",
		BaseDir:     s.baseDir,
		WorkDir:     s.workDir,
		ToolVersion: version,
	})
	if file != nil {
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
	}
	if werr != nil {
		return usageErrorf("lint: writing the report: %v", werr)
	}

	if len(res.Errors) > 0 {
		return silentExit(exitUsage)
	}
	errs, warns, infos := res.SeverityCounts()
	if errs > 0 && s.failOn <= lint.SeverityError || warns > 0 && s.failOn <= lint.SeverityWarning || infos > 0 && s.failOn <= lint.SeverityInfo {
		return silentExit(exitFindings)
	}
	return nil
}

func lintSettingsFrom(c *cli.Context) (*lintSettings, error) {
	s := &lintSettings{format: c.String("format"), output: c.String("output"), failOn: lint.SeverityError}
	if !slices.Contains(lint.Formats, s.format) {
		return nil, usageErrorf("lint: --format must be one of %s, not %q", strings.Join(lint.Formats, ", "), s.format)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, usageErrorf("lint: %v", err)
	}
	s.workDir = wd

	var fc lint.FileConfig
	cfgPath := c.String("config")
	if cfgPath == "" {
		if cfgPath, err = lint.FindConfig(wd); err != nil {
			return nil, usageErrorf("lint: looking for %s: %v", lint.ConfigFileName, err)
		}
	}
	if cfgPath != "" {
		if fc, err = lint.LoadConfigFile(cfgPath); err != nil {
			return nil, usageErrorf("lint: config: %v", err)
		}
	}
	s.baseDir = repoRoot(wd)

	opts := lint.Options{
		PGVersion:           lint.DefaultPGVersion,
		IncludeDown:         fc.IncludeDown,
		AssumeInTransaction: fc.AssumeInTransaction,
	}
	if fc.PGVersion != 0 {
		opts.PGVersion = fc.PGVersion
	}
	if c.IsSet("pg-version") {
		v, err := lint.ParsePGVersion(c.String("pg-version"))
		if err != nil {
			return nil, usageErrorf("lint: --pg-version: %v", err)
		}
		opts.PGVersion = v
	}
	if c.IsSet("include-down") {
		opts.IncludeDown = c.Bool("include-down")
	}
	if c.IsSet("assume-in-transaction") {
		opts.AssumeInTransaction = c.Bool("assume-in-transaction")
	}
	if fc.FailOn != 0 {
		s.failOn = fc.FailOn
	}
	if c.IsSet("fail-on") {
		sev, err := lint.ParseSeverity(c.String("fail-on"))
		if err != nil {
			return nil, usageErrorf("lint: --fail-on: %v", err)
		}
		s.failOn = sev
	}

	only := c.StringSlice("rule")
	disabledFlags := c.StringSlice("disable")
	var unknown []string
	for _, name := range append(slices.Clone(only), disabledFlags...) {
		if lint.Lookup(name) == nil && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, usageErrorf("lint: unknown rule %s (see 'migrate lint --list-rules')", quoteList(unknown))
	}
	// Naming a rule with --rule is a stronger statement than the config
	// file disabling it, so it wins over the file (not over --disable).
	var disabled []string
	for _, name := range fc.Disabled {
		if !slices.Contains(only, name) {
			disabled = append(disabled, name)
		}
	}
	disabled = append(disabled, disabledFlags...)

	exclude := append(slices.Clone(fc.Exclude), c.StringSlice("exclude")...)

	s.cfg = lint.Config{Options: opts, Only: only, Disabled: disabled, Severity: fc.Severity}
	s.read = lint.ReadOptions{AssumeInTransaction: opts.AssumeInTransaction, Exclude: exclude}
	return s, nil
}

// formatLintError is the file:line:col: message line of the exit-2
// contract; an input that could not be read at all has no position.
func formatLintError(e lint.Error) string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, max(e.Column, 1), e.Message)
}

func listRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tDESCRIPTION")
	for _, r := range lint.All() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Severity, r.Doc)
	}
	return tw.Flush()
}

// wantColor is true when w is a terminal and the user has not opted out
// (https://no-color.org: any non-empty NO_COLOR).
func wantColor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// repoRoot is the top of the git work tree containing dir, or dir itself:
// GitHub and GitLab resolve annotation paths from the repository root,
// not from where the linter ran.
func repoRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		} else if !errors.Is(err, os.ErrNotExist) {
			return dir
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
