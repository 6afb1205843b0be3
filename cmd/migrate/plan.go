package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

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

Without --dsn the plan knows only what the files say: a step that depends on
a table or column the files do not create (its NOT NULL, indexes, identity,
dependent views ...) is marked 'assumes'. With --dsn the plan reads the live
catalog in a read-only transaction (5s statement timeout) and is the plan
'migrate apply' would run on that database. Only an explicit --dsn connects:
DATABASE_URL alone never does.

Exit status: 0 plan printed; 1 some statement was refused (the plan for the
rest is still printed); 2 bad input (unreadable file, SQL that does not parse,
bad flags), with file:line:col: message on stderr.

Examples:
   migrate plan migrations/0042_add_fk.sql
   migrate plan --format sql migrations/0042_add_fk.sql > safe.sql
   migrate plan --format json --pg-version 13 migrations/0043_widen_id.sql
   migrate plan --dsn "$DATABASE_URL" migrations/0043_widen_id.sql
   migrate plan --allow-unsafe rewriting-table-operation migrations/0044_vacuum_full.sql
   migrate plan --emit goose --out db/migrations/next migrations/20240501120000_add_fk.sql

--emit FORMAT --out DIR writes the plan as migration files of golang-migrate,
goose, dbmate or flyway instead of printing it (see docs/runners.md). Versions
count up from --start-version, or append a file number to --version-prefix, or
continue the input file's numeric prefix (a 14-digit timestamp counts up in
seconds; flyway gets 42.1, 42.2, ...), or else start at the current UTC time.
Nothing is written when a statement is refused, or when DIR is not empty
(unless --force).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "output format: text, json or sql"},
			&cli.StringFlag{Name: "dsn", Usage: "plan against this database's live catalog, read-only (as apply and apply --dry-run do); its version replaces --pg-version"},
			&cli.StringFlag{Name: "state-schema", Value: migrate.DefaultStateSchema, Usage: "with --dsn: the runner's journal schema, left out of the model"},
			&cli.StringFlag{Name: "pg-version", Usage: fmt.Sprintf("PostgreSQL major version the plan runs on (default %d)", lint.DefaultPGVersion)},
			&cli.DurationFlag{Name: "lock-timeout", Value: migrate.DefaultLockTimeout, Usage: "lock_timeout of each strong-lock step"},
			&cli.StringSliceFlag{Name: "allow-unsafe", Usage: "accept the outage of statements refused under this rule and keep them as written (repeatable)"},
			&cli.StringFlag{Name: "emit", Usage: "write migration files for this runner: golang-migrate, goose, dbmate or flyway", Category: "Emit"},
			&cli.StringFlag{Name: "out", Usage: "directory the --emit files go to", Category: "Emit"},
			&cli.BoolFlag{Name: "force", Usage: "write into a non-empty --out directory, replacing files of the same name", Category: "Emit"},
			&cli.StringFlag{Name: "version-prefix", Usage: "versions are this prefix and a file number (01, 02, ...)", Category: "Emit"},
			&cli.StringFlag{Name: "start-version", Usage: "first version; the next files count up from it", Category: "Emit"},
			&cli.StringFlag{Name: "key", Value: "id", Usage: "comma-separated NOT NULL columns the SQL backfill walks when the plan names none", Category: "Emit"},
			&cli.IntFlag{Name: "batch", Value: migrate.DefaultEmitBatch, Usage: "rows per batch of the SQL backfill", Category: "Emit"},
			&cli.DurationFlag{Name: "max-lag", Value: migrate.DefaultEmitMaxLag, Usage: "the SQL backfill waits while a standby's replay lag exceeds this", Category: "Emit"},
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
	emit, err := emitOptions(c)
	if err != nil {
		return err
	}

	for _, name := range c.StringSlice("allow-unsafe") {
		if lint.Lookup(name) == nil && name != migrate.RuleBackfillTriggers {
			return usageErrorf("plan: --allow-unsafe %q is not a rule (see 'migrate lint --list-rules')", name)
		}
	}

	sources, errs := lint.ReadPaths(paths, c.App.Reader, lint.ReadOptions{})
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(c.App.ErrWriter, formatLintError(e))
		}
		return silentExit(exitUsage)
	}
	stmts, err := parseSources(c, sources, pgVersion)
	if err != nil {
		return err
	}

	schema, live, timeZone := lint.NewSchema(), false, ""
	if dsn := c.String("dsn"); dsn != "" {
		l, err := readLive(c, dsn)
		if err != nil {
			return err
		}
		if c.IsSet("pg-version") && pgVersion != l.PGVersion {
			fmt.Fprintf(c.App.ErrWriter, "migrate: plan: --pg-version %d ignored: the server behind --dsn runs PostgreSQL %d\n", pgVersion, l.PGVersion)
		}
		if pgVersion != l.PGVersion {
			// The server's grammar decides what the files mean.
			pgVersion = l.PGVersion
			if stmts, err = parseSources(c, sources, pgVersion); err != nil {
				return err
			}
		}
		schema, live, timeZone = l.Schema, true, l.TimeZone
	}
	plan, err := migrate.Build(stmts, schema, migrate.Options{
		PGVersion:   pgVersion,
		LockTimeout: c.Duration("lock-timeout"),
		AllowUnsafe: c.StringSlice("allow-unsafe"),
		Live:        live,
		TimeZone:    timeZone,
	})
	if err != nil {
		return usageErrorf("plan: %v", err)
	}
	if emit != nil {
		if len(plan.Refused) > 0 {
			for _, r := range plan.Refused {
				fmt.Fprintf(c.App.ErrWriter, "%s: refused (%s): %s\n", r.Source, r.Rule, r.Reason)
			}
			fmt.Fprintf(c.App.ErrWriter, "plan: nothing written to %s: the runner would apply the rest and silently skip what was refused\n", c.String("out"))
			return silentExit(exitFindings)
		}
		emit.Source = paths[0]
		return writeEmitted(c, plan, *emit)
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

// emitOptions checks the --emit flags; nil when --emit is not given.
func emitOptions(c *cli.Context) (*migrate.EmitOptions, error) {
	f := c.String("emit")
	if f == "" {
		for _, name := range []string{"out", "force", "version-prefix", "start-version"} {
			if c.IsSet(name) {
				return nil, usageErrorf("plan: --%s only goes with --emit", name)
			}
		}
		return nil, nil
	}
	if !slices.Contains(migrate.EmitFormats, migrate.EmitFormat(f)) {
		return nil, usageErrorf("plan: --emit must be golang-migrate, goose, dbmate or flyway, not %q", f)
	}
	if c.String("out") == "" {
		return nil, usageErrorf("plan: --emit needs --out DIR")
	}
	if c.IsSet("version-prefix") && c.IsSet("start-version") {
		return nil, usageErrorf("plan: give --version-prefix or --start-version, not both")
	}
	if c.Int("batch") <= 0 || c.Duration("max-lag") <= 0 {
		return nil, usageErrorf("plan: --batch and --max-lag must be positive")
	}
	key := splitList(c.String("key"))
	if len(key) == 0 {
		return nil, usageErrorf("plan: --key must name at least one column")
	}
	return &migrate.EmitOptions{
		Format:        migrate.EmitFormat(f),
		VersionPrefix: c.String("version-prefix"),
		StartVersion:  c.String("start-version"),
		Key:           key,
		Batch:         c.Int("batch"),
		MaxLag:        c.Duration("max-lag"),
		LockTimeout:   c.Duration("lock-timeout"),
	}, nil
}

// writeEmitted renders every file before writing any, and refuses a
// non-empty directory: emitted files next to others would be applied with
// them, in an order nobody checked.
func writeEmitted(c *cli.Context, plan *migrate.Plan, opts migrate.EmitOptions) error {
	out := c.String("out")
	em, err := plan.Emit(opts)
	if err != nil {
		return usageErrorf("plan: --emit: %v", err)
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 && !c.Bool("force") {
		return usageErrorf("plan: %s is not empty; nothing written (--force writes into it anyway)", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failedf("plan: %v", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return failedf("plan: %v", err)
	}
	for _, f := range em.Files {
		path := filepath.Join(out, f.Name)
		if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
			return failedf("plan: %v", err)
		}
		fmt.Fprintln(c.App.Writer, path)
	}
	if em.Note != "" {
		fmt.Fprintf(c.App.ErrWriter, "plan: %s\n", em.Note)
	}
	return nil
}

// readLive reads the catalog plan --dsn plans against. A database that
// cannot be read is an input the plan cannot be made for: exit 2, as lint
// --dsn does.
func readLive(c *cli.Context, dsn string) (*migrate.Live, error) {
	ctx, cancel := context.WithTimeout(c.Context, catalogTimeout)
	defer cancel()
	conn, err := lint.ConnectCatalog(ctx, dsn)
	if err != nil {
		return nil, usageErrorf("plan: --dsn: %v", err)
	}
	defer conn.Close(context.Background())
	l, err := migrate.ReadLive(ctx, conn, c.String("state-schema"))
	if err != nil {
		return nil, usageErrorf("plan: --dsn: %s", redact(err.Error(), []string{dsn}))
	}
	return l, nil
}
