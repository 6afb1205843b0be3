package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/migrate"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "rewrite dangerous statements into expand / backfill / contract steps",
		ArgsUsage: "FILE...",
		Description: `Prints the steps 'migrate apply' would run, grouped by phase: expand (additive,
safe with old and new application code), backfill (batched data changes) and
contract (steps that need the backfilled data, and breaking steps that drop or
rename what the running application uses; those wait for 'migrate complete').
Each step shows its SQL, its lock, its timeouts, whether it runs in a
transaction, and how to undo it. Safe statements pass through unchanged.

Statements with no online path (VACUUM FULL, CLUSTER, SET TABLESPACE, SET
LOGGED/UNLOGGED, EXCLUDE constraints, ...) are refused with the reason; name
their rule with --allow-unsafe to accept the outage and keep them as written.

Exit status: 0 plan printed; 1 some statement was refused (the plan for the
rest is still printed); 2 bad input (unreadable file, SQL that does not parse,
bad flags), with file:line:col: message on stderr.

Examples:
   migrate plan migrations/0042_add_fk.sql
   migrate plan --format sql migrations/0042_add_fk.sql > safe.sql
   migrate plan --format json --pg-version 13 migrations/0043_widen_id.sql
   migrate plan --allow-unsafe rewriting-table-operation migrations/0044_vacuum_full.sql`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "output format: text, json or sql"},
			&cli.StringFlag{Name: "pg-version", Usage: fmt.Sprintf("PostgreSQL major version the plan runs on (default %d)", lint.DefaultPGVersion)},
			&cli.DurationFlag{Name: "lock-timeout", Value: migrate.DefaultLockTimeout, Usage: "lock_timeout of each strong-lock step"},
			&cli.StringSliceFlag{Name: "allow-unsafe", Usage: "accept the outage of statements refused under this rule and keep them as written (repeatable)"},
		},
		OnUsageError: onUsageError,
		Action:       runPlan,
	}
}

func runPlan(c *cli.Context) error {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		return usageErrorf("plan: no input: give migration files, or - for standard input\nusage: migrate plan [flags] FILE...   (see 'migrate plan --help')")
	}
	format := c.String("format")
	if format != "text" && format != "json" && format != "sql" {
		return usageErrorf("plan: --format must be text, json or sql, not %q", format)
	}
	pgVersion := lint.DefaultPGVersion
	if v := c.String("pg-version"); v != "" {
		n, err := lint.ParsePGVersion(v)
		if err != nil {
			return usageErrorf("plan: --pg-version: %v", err)
		}
		pgVersion = n
	}
	if c.Duration("lock-timeout") <= 0 {
		return usageErrorf("plan: --lock-timeout must be positive: without it a queued strong lock blocks every query behind it")
	}

	for _, name := range c.StringSlice("allow-unsafe") {
		if lint.Lookup(name) == nil {
			return usageErrorf("plan: --allow-unsafe %q is not a rule (see 'migrate lint --list-rules')", name)
		}
	}

	sources, errs := lint.ReadPaths(paths, c.App.Reader, lint.ReadOptions{})
	var stmts []*lint.Statement
	for _, src := range sources {
		st, err := lint.Parse(src, lint.Options{PGVersion: pgVersion})
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		stmts = append(stmts, st...)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(c.App.ErrWriter, formatLintError(e))
		}
		return silentExit(exitUsage)
	}

	plan, err := migrate.Build(stmts, lint.NewSchema(), migrate.Options{
		PGVersion:   pgVersion,
		LockTimeout: c.Duration("lock-timeout"),
		AllowUnsafe: c.StringSlice("allow-unsafe"),
	})
	if err != nil {
		return usageErrorf("plan: %v", err)
	}
	switch format {
	case "json":
		err = plan.WriteJSON(c.App.Writer)
	case "sql":
		err = plan.WriteSQL(c.App.Writer)
	default:
		err = plan.WriteText(c.App.Writer)
	}
	if err != nil {
		return failedf("plan: %v", err)
	}
	if len(plan.Refused) > 0 {
		for _, r := range plan.Refused {
			fmt.Fprintf(c.App.ErrWriter, "%s: refused (%s): %s\n", r.Source, r.Rule, r.Reason)
		}
		return silentExit(exitFindings)
	}
	return nil
}
