package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/migrate"
)

// runnerFlags are shared by apply, complete and rollback: they all run
// steps on the live database.
func runnerFlags() []cli.Flag {
	return []cli.Flag{
		dbFlag(),
		&cli.StringFlag{Name: "state-schema", Value: migrate.DefaultStateSchema, Usage: "schema of the runner's journal (created if missing)", Category: "Runner"},
		&cli.DurationFlag{Name: "lock-timeout", Value: migrate.DefaultLockTimeout, Usage: "lock_timeout of each transactional step (SET LOCAL)", Category: "Runner"},
		&cli.IntFlag{Name: "retries", Value: migrate.DefaultRetries, Usage: "attempts per step on lock timeouts", Category: "Runner"},
		&cli.DurationFlag{Name: "retry-base", Value: migrate.DefaultRetryBase, Usage: "first backoff between attempts (full jitter, doubling)", Category: "Runner"},
		&cli.DurationFlag{Name: "retry-cap", Value: migrate.DefaultRetryCap, Usage: "longest backoff between attempts", Category: "Runner"},
		&cli.DurationFlag{Name: "retry-deadline", Value: migrate.DefaultRetryDeadline, Usage: "time one step may spend retrying", Category: "Runner"},
		&cli.DurationFlag{Name: "max-xact-age", Value: migrate.DefaultMaxXactAge, Usage: "pre-flight: wait while transactions older than this touch the step's tables", Category: "Runner"},
		&cli.DurationFlag{Name: "preflight-timeout", Value: migrate.DefaultPreflightTimeout, Usage: "pre-flight: give up (exit 1, resumable) after waiting this long", Category: "Runner"},
		&cli.IntFlag{Name: "batch", Value: 1000, Usage: "backfill: rows in the first batch", Category: "Backfill"},
		&cli.DurationFlag{Name: "max-lag", Value: 1500 * time.Millisecond, Usage: "backfill: pause while a standby lags more than this", Category: "Backfill"},
		&cli.DurationFlag{Name: "max-throttle", Value: 30 * time.Minute, Usage: "backfill: stop (exit 1, resumable) after being paused this long", Category: "Backfill"},
		&cli.StringSliceFlag{Name: "replica-dsn", Usage: "backfill: replica to read a heartbeat from (repeatable)", Category: "Backfill"},
		&cli.Float64Flag{Name: "rate", Usage: "backfill: at most this many rows per second", DefaultText: "unlimited", Category: "Backfill"},
	}
}

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "run the safe plan on a live database",
		ArgsUsage: "FILE...",
		Description: `Plans the migration against the live schema and runs its steps: expand, backfill
and non-breaking contract steps at once; breaking steps (dropping or renaming
what running code uses) wait for 'migrate complete' or --complete.

Each transactional step runs in its own transaction with SET LOCAL lock_timeout
and statement_timeout, records its completion in the same transaction, and is
retried on lock timeouts with jittered exponential backoff (--retries,
--retry-deadline); whoever blocked it is logged. Before a strong-lock or
CONCURRENTLY step, a pre-flight check waits while old or idle transactions
touch the tables (--max-xact-age, --preflight-timeout). CONCURRENTLY steps run
without a lock timeout, are checked for indisvalid, and invalid leftovers are
dropped before any retry. Backfills run in throttled, resumable batches.

The journal lives in the database (--state-schema): re-running the same
command after a crash or a failure resumes at the first unfinished step.
Only one runner works on a database at a time.

Exit status: 0 done, or expanded and waiting for 'migrate complete'; 1 a step
failed or waited too long: the database is consistent and re-running resumes;
2 bad input (unreadable or refused statements, bad flags).

Examples:
   migrate apply --dsn postgres://app@db/prod migrations/0042_add_fk.sql
   migrate apply --dry-run migrations/0042_add_fk.sql
   migrate apply --batch 1000 --max-lag 1s --replica-dsn postgres://app@replica/prod migrations/0043.sql
   migrate apply --complete migrations/0044_rename_column.sql`,
		Flags: append(runnerFlags(),
			&cli.BoolFlag{Name: "complete", Usage: "also run the breaking contract steps"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan with the database's facts, change nothing"},
			&cli.StringSliceFlag{Name: "allow-unsafe", Usage: "accept the outage of statements refused under this rule (repeatable)"},
			&cli.StringFlag{Name: "pg-version", Usage: "PostgreSQL major version to plan for", DefaultText: "the server's"},
		),
		OnUsageError: onUsageError,
		Action:       runApply,
	}
}

func completeCommand() *cli.Command {
	return &cli.Command{
		Name:  "complete",
		Usage: "run the breaking contract steps of an expanded migration",
		Description: `Runs what 'migrate apply' held back: the breaking contract steps (and any step
not done yet) of the migration that waits for it. Deploy the application
version that no longer uses the old schema first.

Exit status as for apply.

Examples:
   migrate complete --dsn postgres://app@db/prod
   migrate complete --id 3fa9c2d1e0b4a7c5`,
		Flags: append(runnerFlags(),
			&cli.StringFlag{Name: "id", Usage: "migration to complete (default: the only unfinished one)"},
		),
		OnUsageError: onUsageError,
		Action:       runComplete,
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "undo the steps of an unfinished migration",
		Description: `Undoes the done steps of an unfinished migration in reverse order, each with
the undo the plan recorded for it. Undo only drops what the expand added (new
columns, triggers, indexes, NOT VALID constraints), so rows the application
wrote meanwhile stay. A migration whose contract already dropped data cannot
be rolled back.

Examples:
   migrate rollback --dsn postgres://app@db/prod
   migrate rollback --id 3fa9c2d1e0b4a7c5`,
		Flags: append(runnerFlags(),
			&cli.StringFlag{Name: "id", Usage: "migration to roll back (default: the only unfinished one)"},
		),
		OnUsageError: onUsageError,
		Action:       runRollback,
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show where each migration and step stands",
		Description: `Examples:
   migrate status --dsn postgres://app@db/prod
   migrate status --format json`,
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
			&cli.StringFlag{Name: "state-schema", Value: migrate.DefaultStateSchema, Usage: "schema of the runner's journal"},
			&cli.StringFlag{Name: "id", Usage: "show only this migration"},
		},
		OnUsageError: onUsageError,
		Action:       runStatus,
	}
}

// checkRunnerFlags rejects values that would make the runner unsafe.
func checkRunnerFlags(c *cli.Context, cmd string) error {
	switch {
	case c.Duration("lock-timeout") <= 0:
		return usageErrorf("%s: --lock-timeout must be positive: without it a queued strong lock blocks every query behind it", cmd)
	case c.Int("retries") <= 0:
		return usageErrorf("%s: --retries must be positive", cmd)
	case c.Duration("retry-base") <= 0 || c.Duration("retry-cap") < c.Duration("retry-base") || c.Duration("retry-deadline") <= 0:
		return usageErrorf("%s: --retry-base, --retry-cap and --retry-deadline must be positive, with --retry-cap >= --retry-base", cmd)
	case c.Duration("max-xact-age") <= 0 || c.Duration("preflight-timeout") <= 0:
		return usageErrorf("%s: --max-xact-age and --preflight-timeout must be positive", cmd)
	case c.Int("batch") <= 0 || c.Duration("max-lag") <= 0 || c.Float64("rate") < 0:
		return usageErrorf("%s: --batch and --max-lag must be positive, --rate must not be negative", cmd)
	case strings.TrimSpace(c.String("state-schema")) == "":
		return usageErrorf("%s: --state-schema must not be empty", cmd)
	}
	return nil
}

func runConfig(c *cli.Context, progress *progressOutput) migrate.RunConfig {
	cfg := migrate.RunConfig{
		StateSchema:      c.String("state-schema"),
		LockTimeout:      c.Duration("lock-timeout"),
		Retries:          c.Int("retries"),
		RetryBase:        c.Duration("retry-base"),
		RetryCap:         c.Duration("retry-cap"),
		RetryDeadline:    c.Duration("retry-deadline"),
		MaxXactAge:       c.Duration("max-xact-age"),
		PreflightTimeout: c.Duration("preflight-timeout"),
		Out:              c.App.ErrWriter,
		Backfill: migrate.BackfillConfig{
			Batch:       c.Int("batch"),
			Rate:        c.Float64("rate"),
			MaxLag:      c.Duration("max-lag"),
			MaxThrottle: c.Duration("max-throttle"),
			ReplicaDSNs: c.StringSlice("replica-dsn"),
		},
	}
	if progress != nil {
		cfg.Backfill.Progress = progress.update
	}
	return cfg
}

// openPool connects with the runner's session settings, named after the
// migration so operators can see (and the pre-flight gate can skip) it.
func openPool(ctx context.Context, c *cli.Context, cmd, appName string) (*pgxpool.Pool, error) {
	cfg, err := migrate.PoolConfig(dsnOf(c), appName)
	if err != nil {
		return nil, usageErrorf("%s: %v", cmd, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, failedf("%s: %s", cmd, redact(err.Error(), secrets(c)))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, failedf("%s: connecting: %s", cmd, redact(err.Error(), secrets(c)))
	}
	return pool, nil
}

func secrets(c *cli.Context) []string {
	return append([]string{dsnOf(c)}, c.StringSlice("replica-dsn")...)
}

// sourcesOf reads the migration files (not parsed yet: parsing needs the
// server's version) and identifies the migration by them.
func sourcesOf(c *cli.Context, cmd string) ([]*lint.Source, []string, string, error) {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		return nil, nil, "", usageErrorf("%s: no input: give migration files\nusage: migrate %s [flags] FILE...   (see 'migrate %s --help')", cmd, cmd, cmd)
	}
	sources, errs := lint.ReadPaths(paths, c.App.Reader, lint.ReadOptions{})
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(c.App.ErrWriter, formatLintError(e))
		}
		return nil, nil, "", silentExit(exitUsage)
	}
	var files []migrate.File
	var names []string
	for _, s := range sources {
		files = append(files, migrate.File{Path: s.Path, Content: s.Text})
		names = append(names, s.Path)
	}
	return sources, names, migrate.MigrationID(files), nil
}

func parseSources(c *cli.Context, sources []*lint.Source, pgVersion int) ([]*lint.Statement, error) {
	var stmts []*lint.Statement
	var errs []lint.Error
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
		return nil, silentExit(exitUsage)
	}
	return stmts, nil
}

func signalContext(c *cli.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
}

func runApply(c *cli.Context) error {
	if err := checkRunnerFlags(c, "apply"); err != nil {
		return err
	}
	pgVersion := 0
	if v := c.String("pg-version"); v != "" {
		n, err := lint.ParsePGVersion(v)
		if err != nil {
			return usageErrorf("apply: --pg-version: %v", err)
		}
		pgVersion = n
	}
	sources, names, id, err := sourcesOf(c, "apply")
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c)
	defer stop()
	pool, err := openPool(ctx, c, "apply", migrate.ApplicationName(id))
	if err != nil {
		return err
	}
	defer pool.Close()
	if pgVersion == 0 {
		if err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int / 10000`).Scan(&pgVersion); err != nil {
			return failedf("apply: reading the server version: %v", err)
		}
	}
	// The session TimeZone decides whether timestamp <-> timestamptz
	// rewrites; the steps run on this pool's connections.
	var timeZone string
	if err := pool.QueryRow(ctx, `SELECT current_setting('TimeZone')`).Scan(&timeZone); err != nil {
		return failedf("apply: reading the session TimeZone: %v", err)
	}
	stmts, err := parseSources(c, sources, pgVersion)
	if err != nil {
		return err
	}
	build := func() (*migrate.Plan, error) {
		schema, err := migrate.LoadSchema(ctx, pool, c.String("state-schema"))
		if err != nil {
			return nil, failedf("apply: reading the schema: %v", err)
		}
		plan, err := migrate.Build(stmts, schema, migrate.Options{PGVersion: pgVersion, TimeZone: timeZone,
			LockTimeout: c.Duration("lock-timeout"), AllowUnsafe: c.StringSlice("allow-unsafe"), Live: true, Batch: c.Int("batch")})
		if err != nil {
			return nil, usageErrorf("apply: %v", err)
		}
		if len(plan.Refused) > 0 {
			for _, r := range plan.Refused {
				fmt.Fprintf(c.App.ErrWriter, "%s: refused (%s): %s\n", r.Source, r.Rule, r.Reason)
			}
			return nil, usageErrorf("apply: %d statement(s) have no online path; nothing was run (name the rule with --allow-unsafe to accept the outage)", len(plan.Refused))
		}
		if err := migrate.CheckBackfillTriggers(ctx, pool, plan, c.StringSlice("allow-unsafe")); err != nil {
			if errors.Is(err, migrate.ErrBackfillTriggers) {
				return nil, usageErrorf("apply: %v", err)
			}
			return nil, failedf("apply: %v", err)
		}
		return plan, nil
	}

	if c.Bool("dry-run") {
		return dryRun(ctx, c, pool, id, build)
	}

	// A refused plan leaves the database as it was, journal included:
	// unless the migration is in the journal already (a resume), plan it
	// before Open creates the journal.
	if !inJournal(ctx, pool, c.String("state-schema"), id) {
		if _, err := build(); err != nil {
			return err
		}
	}

	progress := newProgressOutput(c.App.Writer, c.App.ErrWriter)
	cfg := runConfig(c, progress)
	cfg.Complete = c.Bool("complete")
	r, err := migrate.Open(ctx, pool, cfg)
	if err != nil {
		return openError(c, "apply", err)
	}
	defer r.Close()
	m, err := r.Load(ctx, id)
	if err != nil {
		return failedf("apply: reading the journal: %v", err)
	}
	switch {
	case m != nil && m.Status == migrate.MigrationCompleted:
		fmt.Fprintf(c.App.Writer, "migration %s (%s) was already applied on %s; nothing to do\n", id, strings.Join(names, ", "), m.FinishedAt.Format(time.RFC3339))
		return nil
	case m == nil || m.Status == migrate.MigrationRolledBack:
		others, err := r.Unfinished(ctx)
		if err != nil {
			return failedf("apply: reading the journal: %v", err)
		}
		if len(others) > 0 {
			o := others[0]
			return failedf("apply: migration %s (%s) is %s; finish it first with 'migrate complete --id %s' or undo it with 'migrate rollback --id %s'",
				o.ID, strings.Join(o.Files, ", "), o.Status, o.ID, o.ID)
		}
		plan, err := build()
		if err != nil {
			return err
		}
		if m, err = r.Create(ctx, id, names, plan); err != nil {
			return failedf("apply: recording the plan: %v", err)
		}
		fmt.Fprintf(c.App.ErrWriter, "migration %s: %d steps planned\n", id, len(m.Steps))
	default:
		next := 0
		for _, s := range m.Steps {
			if s.Status != migrate.StepDone {
				next = s.ID
				break
			}
		}
		fmt.Fprintf(c.App.ErrWriter, "migration %s is %s: resuming at step %d of %d\n", id, m.Status, next, len(m.Steps))
	}
	out, err := r.Run(ctx, m)
	progress.finish()
	if err != nil {
		return runError(c, "apply", m, err, "migrate apply "+strings.Join(names, " "))
	}
	return report(c, m, out)
}

// inJournal reports whether migration id is recorded in the journal
// (false also when there is no journal yet or it cannot be read).
func inJournal(ctx context.Context, pool *pgxpool.Pool, stateSchema, id string) bool {
	all, err := migrate.ListMigrations(ctx, pool, stateSchema)
	if err != nil {
		return false
	}
	for _, m := range all {
		if m.ID == id {
			return true
		}
	}
	return false
}

// report says how a run ended: done, or expanded and what complete will do.
func report(c *cli.Context, m *migrate.Migration, out *migrate.Outcome) error {
	w := c.App.Writer
	if out.Status == migrate.MigrationExpanded {
		fmt.Fprintf(w, "migration %s expanded in %s (%d steps run). %d step(s) wait for 'migrate complete' because they break code that still uses the old schema:\n",
			m.ID, out.Elapsed.Round(time.Millisecond), out.Ran, len(out.Waiting))
		for _, s := range out.Waiting {
			fmt.Fprintf(w, "  %d. %s\n", s.ID, s.Description)
		}
		fmt.Fprintf(w, "('migrate status --format json --id %s' shows their SQL.) Deploy the application version that no longer uses what they drop, then run:\n   migrate complete --id %s\n", m.ID, m.ID)
		return nil
	}
	fmt.Fprintf(w, "migration %s completed in %s (%d steps run)\n", m.ID, out.Elapsed.Round(time.Millisecond), out.Ran)
	return nil
}

func openError(c *cli.Context, cmd string, err error) error {
	if errors.Is(err, migrate.ErrBusy) {
		return failedf("%s: %s\nOnly one runner works on a database at a time: wait for it to finish.", cmd, redact(err.Error(), secrets(c)))
	}
	return failedf("%s: %s", cmd, redact(err.Error(), secrets(c)))
}

// runError explains a failed run: the database is consistent and the same
// command resumes.
func runError(c *cli.Context, cmd string, m *migrate.Migration, err error, resume string) error {
	msg := redact(err.Error(), secrets(c))
	var ge *migrate.GroupError
	if errors.As(err, &ge) && ge.RolledBack {
		return failedf("%s: migration %s: %s\nFix the cause (the error names the row or object at fault) and run again; the transaction starts over:\n   %s   (same flags, same --dsn)",
			cmd, m.ID, msg, resume)
	}
	how := fmt.Sprintf("The database is consistent (the failed step rolled back, or its leftovers were dropped). Resume with\n   %s   (same flags, same --dsn)\nor undo with 'migrate rollback --id %s'.", resume, m.ID)
	switch {
	case errors.Is(err, context.Canceled):
		return failedf("%s: migration %s interrupted: %s\n%s", cmd, m.ID, msg, how)
	case errors.Is(err, migrate.ErrPreflight):
		return failedf("%s: migration %s paused too long: %s\n%s", cmd, m.ID, msg, how)
	}
	return failedf("%s: migration %s: %s\n%s", cmd, m.ID, msg, how)
}

// pickMigration finds the migration complete or rollback works on.
func pickMigration(ctx context.Context, c *cli.Context, cmd string) (*migrate.Migration, error) {
	pool, err := openPool(ctx, c, cmd, "migrate "+cmd)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	all, err := migrate.ListMigrations(ctx, pool, c.String("state-schema"))
	if err != nil {
		return nil, failedf("%s: reading the journal: %v", cmd, err)
	}
	id := c.String("id")
	var cands []*migrate.Migration
	for _, m := range all {
		if id != "" && m.ID == id {
			return m, nil
		}
		if id == "" && m.Unfinished() {
			cands = append(cands, m)
		}
	}
	switch {
	case id != "":
		return nil, usageErrorf("%s: no migration %s in schema %s (see 'migrate status')", cmd, id, c.String("state-schema"))
	case len(cands) == 0:
		return nil, usageErrorf("%s: no unfinished migration in schema %s (see 'migrate status')", cmd, c.String("state-schema"))
	case len(cands) > 1:
		ids := make([]string, len(cands))
		for i, m := range cands {
			ids[i] = m.ID + " (" + m.Status + ")"
		}
		return nil, usageErrorf("%s: several unfinished migrations: %s; choose one with --id", cmd, strings.Join(ids, ", "))
	}
	return cands[0], nil
}

func runComplete(c *cli.Context) error {
	if err := checkRunnerFlags(c, "complete"); err != nil {
		return err
	}
	if c.NArg() > 0 {
		return usageErrorf("complete: unexpected argument %q: the plan is in the journal (use --id to choose a migration)", c.Args().First())
	}
	ctx, stop := signalContext(c)
	defer stop()
	picked, err := pickMigration(ctx, c, "complete")
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, c, "complete", migrate.ApplicationName(picked.ID))
	if err != nil {
		return err
	}
	defer pool.Close()
	progress := newProgressOutput(c.App.Writer, c.App.ErrWriter)
	cfg := runConfig(c, progress)
	cfg.Complete = true
	r, err := migrate.Open(ctx, pool, cfg)
	if err != nil {
		return openError(c, "complete", err)
	}
	defer r.Close()
	m, err := r.Load(ctx, picked.ID)
	if err != nil || m == nil {
		return failedf("complete: reading the journal: %v", err)
	}
	if !m.Unfinished() {
		if m.Status == migrate.MigrationCompleted {
			fmt.Fprintf(c.App.Writer, "migration %s is already completed\n", m.ID)
			return nil
		}
		return usageErrorf("complete: migration %s is %s", m.ID, m.Status)
	}
	out, err := r.Run(ctx, m)
	progress.finish()
	if err != nil {
		return runError(c, "complete", m, err, "migrate complete --id "+m.ID)
	}
	return report(c, m, out)
}

func runRollback(c *cli.Context) error {
	if err := checkRunnerFlags(c, "rollback"); err != nil {
		return err
	}
	if c.NArg() > 0 {
		return usageErrorf("rollback: unexpected argument %q: the plan is in the journal (use --id to choose a migration)", c.Args().First())
	}
	ctx, stop := signalContext(c)
	defer stop()
	picked, err := pickMigration(ctx, c, "rollback")
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, c, "rollback", migrate.ApplicationName(picked.ID))
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := migrate.Open(ctx, pool, runConfig(c, nil))
	if err != nil {
		return openError(c, "rollback", err)
	}
	defer r.Close()
	m, err := r.Load(ctx, picked.ID)
	if err != nil || m == nil {
		return failedf("rollback: reading the journal: %v", err)
	}
	start := time.Now()
	if err := r.Rollback(ctx, m); err != nil {
		if errors.Is(err, migrate.ErrIrreversible) {
			return failedf("rollback: migration %s: %v\nNothing was undone. Write a new migration that restores what you need.", m.ID, err)
		}
		return failedf("rollback: migration %s: %s\nThe database is consistent; run 'migrate rollback --id %s' again to go on.", m.ID, redact(err.Error(), secrets(c)), m.ID)
	}
	fmt.Fprintf(c.App.Writer, "migration %s rolled back in %s\n", m.ID, time.Since(start).Round(time.Millisecond))
	return nil
}

func runStatus(c *cli.Context) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageErrorf("status: --format must be text or json, not %q", format)
	}
	if c.NArg() > 0 {
		return usageErrorf("status: unexpected argument %q", c.Args().First())
	}
	ctx, stop := signalContext(c)
	defer stop()
	pool, err := openPool(ctx, c, "status", "migrate status")
	if err != nil {
		return err
	}
	defer pool.Close()
	all, err := migrate.ListMigrations(ctx, pool, c.String("state-schema"))
	if err != nil {
		return failedf("status: reading the journal: %v", err)
	}
	if id := c.String("id"); id != "" {
		var one []*migrate.Migration
		for _, m := range all {
			if m.ID == id {
				one = append(one, m)
			}
		}
		if len(one) == 0 {
			return usageErrorf("status: no migration %s in schema %s", id, c.String("state-schema"))
		}
		all = one
	}
	if format == "json" {
		return migrate.WriteStatusJSON(c.App.Writer, all)
	}
	return migrate.WriteStatusText(c.App.Writer, all)
}

// dryRun prints the plan the database would get, with the facts that say
// how heavy each step is, and changes nothing (not even the journal).
func dryRun(ctx context.Context, c *cli.Context, pool *pgxpool.Pool, id string, build func() (*migrate.Plan, error)) error {
	w := c.App.Writer
	if all, err := migrate.ListMigrations(ctx, pool, c.String("state-schema")); err == nil {
		for _, m := range all {
			if m.ID == id {
				fmt.Fprintf(w, "migration %s is already in the journal (status %s); apply would resume it rather than plan again\n\n", id, m.Status)
				return migrate.WriteStatusText(w, []*migrate.Migration{m})
			}
		}
	}
	plan, err := build()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "migration %s (dry run: nothing is changed)\n", id)
	if err := plan.WriteText(w); err != nil {
		return failedf("apply: %v", err)
	}
	facts, err := migrate.Facts(ctx, pool, plan)
	if err != nil {
		return failedf("apply: reading table facts: %v", err)
	}
	writeFacts(w, facts)
	return nil
}

func writeFacts(w io.Writer, facts []migrate.TableFacts) {
	if len(facts) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntables touched")
	for _, f := range facts {
		if !f.Exists {
			fmt.Fprintf(w, "  %s: not in the database yet\n", f.Table)
			continue
		}
		rows := fmt.Sprintf("~%d rows", f.RowEstimate)
		if f.RowEstimate < 0 {
			rows = "rows unknown (never analyzed)"
		}
		fmt.Fprintf(w, "  %s: %s, %s\n", f.Table, rows, humanBytes(f.TotalBytes))
		line := func(label string, list []string) {
			if len(list) > 0 {
				fmt.Fprintf(w, "     %s: %s\n", label, strings.Join(list, ", "))
			}
		}
		line("dependent views", f.Views)
		line("references (FK parents)", f.FKParents)
		line("referenced by (FK children)", f.FKChildren)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
