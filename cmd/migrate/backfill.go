package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/migrate-tool/migrate/migrate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// statusEvery is how often the plain status line is printed when stdout is
// not a terminal (CI logs, nohup).
const statusEvery = 5 * time.Second

func backfillCommand() *cli.Command {
	return &cli.Command{
		Name:  "backfill",
		Usage: "update (or delete) rows in throttled, resumable batches",
		Description: `Runs "UPDATE table SET ... WHERE ..." as many short transactions, walking the
table by its primary key (or --key, or ctid ranges when it has no unique key) up
to the largest key it had when the job started. Each batch commits together with
the job's checkpoint in <state-schema>.backfill_jobs, so an interrupted job
loses nothing: re-running the same command resumes it. Batches pause while a
standby lags more than --max-lag, and the batch size adapts to
--target-batch-time.

Only rows the SET list would still change are touched: each batch carries
"col IS DISTINCT FROM (expr)" for every assignment, so running a range twice
changes nothing.

With --delete instead of --set, each batch runs "DELETE FROM table WHERE ..."
over its key range. --where (or --all-rows, to empty the table) is required
then, so that a forgotten predicate cannot delete everything.

Exit codes: 0 done (or already done); 1 stopped before the end (interrupted,
throttled longer than --max-throttle, a batch failed, another runner holds
the job): the database is consistent and re-running the command resumes;
2 bad input, including a job whose table, key, SET or WHERE differ from the
job of the same ID that was started earlier (pass --restart to discard its
progress, or --job to run it as a separate job).

Examples:
   migrate backfill --table users --set "preferences = '{}'" --where "preferences IS NULL"
   migrate backfill --table accounts --set "email_lower = lower(email)" --max-lag 1s --rate 5000
   DATABASE_URL=postgres://app@db/prod migrate backfill --table orders --set "total_cents = round(total * 100)" \
       --replica-dsn postgres://app@replica1/prod --metrics-addr :9187
   migrate backfill --table events --set "kind = 'click'" --where "kind IS NULL" --key tenant_id,id --batch-fixed --batch 500
   migrate backfill --table sessions --delete --where "expires_at < now() - interval '30 days'"`,
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "table", Usage: "table to update, optionally schema-qualified", Category: "Job"},
			&cli.StringFlag{Name: "set", Usage: `assignments, as in UPDATE's SET list: "col = expr[, col2 = expr2]"`, Category: "Job"},
			&cli.StringFlag{Name: "where", Usage: "only update (or delete) rows matching this SQL predicate", Category: "Job"},
			&cli.BoolFlag{Name: "delete", Usage: "delete the rows matching --where instead of updating them (no --set)", Category: "Job"},
			&cli.BoolFlag{Name: "all-rows", Usage: "with --delete and no --where: delete every row the table has when the job starts", Category: "Job"},
			&cli.StringFlag{Name: "key", Usage: "comma-separated NOT NULL columns to walk the table by (default: primary key, else a unique NOT NULL index, else ctid ranges)", Category: "Job"},
			&cli.StringFlag{Name: "job", Usage: "job ID (default: derived from --table, --set and --where)", Category: "Job"},
			&cli.BoolFlag{Name: "restart", Usage: "discard the job's saved progress and start over", Category: "Job"},
			&cli.StringFlag{Name: "state-schema", Value: backfill.DefaultStateSchema, Usage: "schema of the backfill_jobs state table", Category: "Job"},

			&cli.IntFlag{Name: "batch", Value: backfill.DefaultBatch, Usage: "rows in the first batch", Category: "Batches"},
			&cli.IntFlag{Name: "batch-min", Value: backfill.DefaultBatchMin, Usage: "smallest batch", Category: "Batches"},
			&cli.IntFlag{Name: "batch-max", Value: backfill.DefaultBatchMax, Usage: "largest batch", Category: "Batches"},
			&cli.DurationFlag{Name: "target-batch-time", Value: backfill.DefaultTargetBatchTime, Usage: "batch duration the size adapts to", Category: "Batches"},
			&cli.BoolFlag{Name: "batch-fixed", Usage: "keep --batch; do not adapt", Category: "Batches"},
			&cli.Float64Flag{Name: "rate", Usage: "at most this many rows per second", DefaultText: "unlimited", Category: "Batches"},
			&cli.DurationFlag{Name: "lock-timeout", Value: backfill.DefaultLockTimeout, Usage: "lock_timeout of each batch", Category: "Batches"},
			&cli.DurationFlag{Name: "statement-timeout", Usage: "statement_timeout of each batch", DefaultText: "max(5 × target-batch-time, 5s)", Category: "Batches"},
			&cli.IntFlag{Name: "retries", Value: backfill.DefaultRetries, Usage: "attempts per batch for transient errors", Category: "Batches"},
			&cli.DurationFlag{Name: "retry-deadline", Value: backfill.DefaultDeadline, Usage: "time one batch may spend retrying", Category: "Batches"},

			&cli.DurationFlag{Name: "max-lag", Value: 1500 * time.Millisecond, Usage: "pause while a standby's replay lag exceeds this", Category: "Throttling"},
			&cli.DurationFlag{Name: "resume-lag", Usage: "resume when every lag is below this...", DefaultText: "max-lag / 2", Category: "Throttling"},
			&cli.DurationFlag{Name: "resume-stable", Value: 2 * time.Second, Usage: "...for this long", Category: "Throttling"},
			&cli.StringFlag{Name: "max-lag-bytes", Value: "256MiB", Usage: "pause while a standby is more WAL than this behind", Category: "Throttling"},
			&cli.DurationFlag{Name: "max-throttle", Value: 30 * time.Minute, Usage: "stop (exit 1, resumable) after being paused this long", Category: "Throttling"},
			&cli.StringFlag{Name: "replicas", Usage: "comma-separated application_names of the standbys to watch (default: those streaming at start)", Category: "Throttling"},
			&cli.StringSliceFlag{Name: "replica-dsn", Usage: "replica to read a heartbeat from (repeatable)", Category: "Throttling"},
			&cli.StringFlag{Name: "max-slot-lag-bytes", Value: "1GiB", Usage: "pause while a logical slot retains more WAL than this", Category: "Throttling"},
			&cli.StringFlag{Name: "pause-file", Usage: "pause while this file exists", Category: "Throttling"},

			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on this address, e.g. :9187", Category: "Output"},
		},
		OnUsageError: onUsageError,
		Action:       runBackfill,
	}
}

func runBackfill(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("backfill: unexpected argument %q (see 'migrate backfill --help')", c.Args().First())
	}
	job, err := backfillJob(c)
	if err != nil {
		return err
	}
	gcfg, err := gateConfig(c)
	if err != nil {
		return err
	}
	secrets := append([]string{dsnOf(c)}, gcfg.ReplicaDSNs...)
	stdout, stderr := c.App.Writer, c.App.ErrWriter

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := pgxpool.ParseConfig(dsnOf(c))
	if err != nil {
		// The parse error quotes the string, password included when it is
		// too malformed to redact.
		return usageErrorf("backfill: the connection string (--dsn or DATABASE_URL) cannot be parsed")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "migrate backfill"
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return failedf("backfill: %s", redact(err.Error(), secrets))
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return failedf("backfill: connecting: %s", redact(err.Error(), secrets))
	}

	gate, err := throttle.Start(ctx, pool, gcfg)
	if err != nil {
		return failedf("backfill: lag gate: %s", redact(err.Error(), secrets))
	}
	defer gate.Close()

	opts := []backfill.Option{backfill.WithGate(gate)}
	if addr := c.String("metrics-addr"); addr != "" {
		reg := prometheus.NewRegistry()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return usageErrorf("backfill: --metrics-addr: %v", err)
		}
		srv := &http.Server{
			Handler:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go srv.Serve(ln)
		defer srv.Close()
		opts = append(opts, backfill.WithMetrics(reg))
	}
	out := newProgressOutput(stdout, stderr)
	opts = append(opts, backfill.WithProgress(out.update))

	stats, err := backfill.Run(ctx, pool, job, opts...)
	out.finish()
	if err != nil {
		return backfillError(c, gate, stats, err, secrets)
	}
	name := cmp.Or(stats.Table, job.Table)
	if stats.Resumed && stats.Batches == 0 && stats.Done {
		fmt.Fprintf(stdout, "backfill %s: job %s was already done (%d rows %s)\n", name, stats.JobID, stats.TotalRows, rowsVerb(stats))
		return nil
	}
	fmt.Fprintf(stdout, "backfill %s: done, %s\n", name, summary(stats))
	return nil
}

func backfillJob(c *cli.Context) (backfill.Job, error) {
	job := backfill.Job{
		ID:               strings.TrimSpace(c.String("job")),
		Table:            strings.TrimSpace(c.String("table")),
		Set:              c.String("set"),
		Where:            c.String("where"),
		Delete:           c.Bool("delete"),
		Batch:            c.Int("batch"),
		BatchMin:         c.Int("batch-min"),
		BatchMax:         c.Int("batch-max"),
		TargetBatchTime:  c.Duration("target-batch-time"),
		BatchFixed:       c.Bool("batch-fixed"),
		LockTimeout:      c.Duration("lock-timeout"),
		StatementTimeout: c.Duration("statement-timeout"),
		Retries:          c.Int("retries"),
		Deadline:         c.Duration("retry-deadline"),
		Rate:             c.Float64("rate"),
		StateSchema:      c.String("state-schema"),
		Restart:          c.Bool("restart"),
	}
	switch {
	case job.Table == "":
		return job, usageErrorf("backfill: --table is required (see 'migrate backfill --help')")
	case job.Delete && c.IsSet("set"):
		return job, usageErrorf("backfill: --delete and --set exclude each other")
	case job.Delete && strings.TrimSpace(job.Where) == "" && !c.Bool("all-rows"):
		return job, usageErrorf("backfill: --delete needs --where PREDICATE, or --all-rows to delete every row of %s", job.Table)
	case job.Delete && strings.TrimSpace(job.Where) != "" && c.Bool("all-rows"):
		return job, usageErrorf("backfill: --all-rows contradicts --where")
	case !job.Delete && c.Bool("all-rows"):
		return job, usageErrorf("backfill: --all-rows only goes with --delete")
	case !job.Delete && strings.TrimSpace(job.Set) == "":
		return job, usageErrorf("backfill: --set is required (see 'migrate backfill --help')")
	case job.Batch <= 0 || job.BatchMin <= 0 || job.BatchMax <= 0:
		return job, usageErrorf("backfill: --batch, --batch-min and --batch-max must be positive")
	case job.BatchMin > job.BatchMax:
		return job, usageErrorf("backfill: --batch-min %d is above --batch-max %d", job.BatchMin, job.BatchMax)
	case job.Batch < job.BatchMin || job.Batch > job.BatchMax:
		return job, usageErrorf("backfill: --batch %d is outside [--batch-min %d, --batch-max %d]", job.Batch, job.BatchMin, job.BatchMax)
	case job.TargetBatchTime <= 0, job.LockTimeout <= 0, job.Retries <= 0, job.Deadline <= 0:
		return job, usageErrorf("backfill: --target-batch-time, --lock-timeout, --retries and --retry-deadline must be positive")
	case job.StatementTimeout < 0, job.Rate < 0:
		return job, usageErrorf("backfill: --statement-timeout and --rate must not be negative")
	}
	if k := c.String("key"); k != "" {
		job.Key = splitList(k)
	}
	job.Ranges = migrate.KeyRanges(job.Where)
	return job, nil
}

func gateConfig(c *cli.Context) (throttle.Config, error) {
	cfg := throttle.Config{
		MaxLag:       c.Duration("max-lag"),
		ResumeLag:    c.Duration("resume-lag"),
		ResumeStable: c.Duration("resume-stable"),
		MaxThrottle:  c.Duration("max-throttle"),
		ReplicaDSNs:  c.StringSlice("replica-dsn"),
		PauseFile:    c.String("pause-file"),
	}
	if r := c.String("replicas"); r != "" {
		cfg.Replicas = splitList(r)
	}
	var err error
	if cfg.MaxLagBytes, err = parseBytes(c.String("max-lag-bytes")); err != nil {
		return cfg, usageErrorf("backfill: --max-lag-bytes: %v", err)
	}
	if cfg.MaxSlotLagBytes, err = parseBytes(c.String("max-slot-lag-bytes")); err != nil {
		return cfg, usageErrorf("backfill: --max-slot-lag-bytes: %v", err)
	}
	switch {
	case cfg.MaxLag <= 0:
		return cfg, usageErrorf("backfill: --max-lag must be positive")
	case cfg.ResumeLag < 0 || (cfg.ResumeLag > cfg.MaxLag):
		return cfg, usageErrorf("backfill: --resume-lag must be between 0 and --max-lag")
	case cfg.ResumeStable < 0 || cfg.MaxThrottle <= 0:
		return cfg, usageErrorf("backfill: --resume-stable must not be negative and --max-throttle must be positive")
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseBytes reads a size such as 268435456, 256MB or 256MiB.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 268435456, 256MB, 256MiB)", s)
	}
	return int64(v * mult), nil
}

// backfillError turns Run's error into the exit code and message a person
// needs: what happened, whether the database is consistent, how to go on.
func backfillError(c *cli.Context, gate backfill.Gate, stats backfill.Stats, err error, secrets []string) error {
	msg := redact(err.Error(), secrets)
	resume := resumeCommand(c, stats.JobID)
	var be *backfill.BatchError
	switch {
	case errors.Is(err, backfill.ErrInvalidJob):
		return usageErrorf("backfill: %s", msg)
	case errors.Is(err, backfill.ErrSpecChanged):
		return usageErrorf("backfill: %s\nPass --restart to discard that job's progress and start over, or --job NAME to run this one as a separate job.", msg)
	case errors.Is(err, backfill.ErrLocked):
		return failedf("backfill: %s\nOnly one runner per job: wait for it to finish, or stop it first.", msg)
	case errors.Is(err, context.Canceled):
		return failedf("backfill: interrupted after %s; stopped after the batch in flight committed. The job is resumable: run\n   %s", summary(stats), resume)
	case errors.Is(err, backfill.ErrThrottledTooLong):
		reason := gate.Status().Reason
		if reason == "" {
			reason = msg
		}
		return failedf("backfill: paused for longer than --max-throttle %s (%s); stopped between batches after %s. The job is resumable: run\n   %s",
			c.Duration("max-throttle"), redact(reason, secrets), summary(stats), resume)
	case errors.As(err, &be):
		return failedf("backfill: job %s aborted: %s\nThe failed batch was rolled back and earlier batches are kept. Fix the cause, then resume with\n   %s", stats.JobID, msg, resume)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return failedf("backfill: %s (SQLSTATE %s). The job is resumable: run\n   %s", msg, pgErr.Code, resume)
	}
	return failedf("backfill: %s. The job is resumable: run\n   %s", msg, resume)
}

// resumeCommand is the command line that continues the job: the flags that
// were given, less --restart and the connection strings (which may carry a
// password and are taken from the same place as before).
func resumeCommand(c *cli.Context, id string) string {
	parts := []string{"migrate backfill"}
	if id != "" {
		parts = append(parts, "--job "+shellQuote(id))
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name == "job" || name == "restart" || name == "replica-dsn" || !c.IsSet(name) {
			continue
		}
		switch v := c.Value(name).(type) {
		case bool:
			if v {
				parts = append(parts, "--"+name)
			}
		case cli.StringSlice:
			for _, s := range v.Value() {
				parts = append(parts, "--"+name+" "+shellQuote(s))
			}
		default:
			parts = append(parts, "--"+name+" "+shellQuote(fmt.Sprint(v)))
		}
	}
	cmd := strings.Join(parts, " ")
	if len(c.StringSlice("replica-dsn")) > 0 {
		cmd += " --replica-dsn ... (as before)"
	}
	return cmd + "   (with the same --dsn or DATABASE_URL)"
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.,:/=@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func summary(st backfill.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows %s in %d batches, %s", st.Rows, rowsVerb(st), st.Batches, roundDur(st.Elapsed))
	if roundDur(st.Throttled) > 0 {
		fmt.Fprintf(&b, " (paused %s)", roundDur(st.Throttled))
	}
	if st.Resumed {
		fmt.Fprintf(&b, ", resumed; %d rows over all runs", st.TotalRows)
	}
	if len(st.Retries) > 0 {
		codes := make([]string, 0, len(st.Retries))
		for k := range st.Retries {
			codes = append(codes, k)
		}
		sort.Strings(codes)
		for i, k := range codes {
			codes[i] = fmt.Sprintf("%s×%d", k, st.Retries[k])
		}
		fmt.Fprintf(&b, ", retries %s", strings.Join(codes, " "))
	}
	return b.String()
}

func rowsVerb(st backfill.Stats) string {
	if st.Delete {
		return "deleted"
	}
	return "updated"
}

func roundDur(d time.Duration) time.Duration { return backfill.RoundDuration(d) }

// redact hides connection strings in messages that might quote them.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<connection string>")
		}
	}
	return msg
}

// progressOutput draws a progress bar on a terminal, or prints a status
// line every statusEvery elsewhere, so that CI logs stay readable.
type progressOutput struct {
	term     *os.File // the terminal the bar is drawn on; nil for status lines
	bar      *progressbar.ProgressBar
	barMax   int64
	lines    io.Writer
	lastLine time.Time
}

func newProgressOutput(stdout, stderr io.Writer) *progressOutput {
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progressOutput{term: f}
	}
	return &progressOutput{lines: stderr}
}

func (o *progressOutput) update(p backfill.Progress) {
	if o.term == nil {
		if p.Final || time.Since(o.lastLine) >= statusEvery {
			fmt.Fprintln(o.lines, p.String())
			o.lastLine = time.Now()
		}
		return
	}
	const scale = 1000 // the bar shows per mille when there is no row estimate
	total, current := p.Total, int64(p.Fraction*float64(p.Total))
	if total <= 0 {
		total, current = scale, int64(p.Fraction*scale)
	}
	if o.bar == nil {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(o.term),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionFullWidth(),
		}
		if p.Total > 0 {
			opts = append(opts, progressbar.OptionShowCount())
		}
		o.bar = progressbar.NewOptions64(total, opts...)
		o.barMax = total
	}
	if total != o.barMax {
		// The row total is an estimate that the job corrects as it goes.
		o.bar.ChangeMax64(total)
		o.barMax = total
	}
	o.bar.Describe(barDescription(p))
	_ = o.bar.Set64(min(current, total))
}

// barDescription is the status line without what the bar itself shows.
func barDescription(p backfill.Progress) string {
	s := fmt.Sprintf("%s rows/s  lag %s  %s", backfill.HumanCount(p.Rate), p.LagString(), p.State)
	if p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	return s + "  ETA " + p.ETAString()
}

func (o *progressOutput) finish() {
	if o.bar != nil {
		_ = o.bar.Exit()
		fmt.Fprintln(o.term)
	}
}
