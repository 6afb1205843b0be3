package backfill_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

// migrateBin is the CLI built once for the tests that run it as a
// subprocess; buildErr says why there is none.
var (
	migrateBin string
	buildErr   error
)

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if !testing.Short() {
		var err error
		dir, err = os.MkdirTemp("", "backfill-test-")
		if err != nil {
			buildErr = err
		} else {
			migrateBin = filepath.Join(dir, "migrate")
			cmd := exec.Command("go", "build", "-o", migrateBin, "github.com/migrate-tool/migrate/cmd/migrate")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build ./cmd/migrate: %v\n%s", err, out)
			}
		}
	}
	code := pgtest.Run(m)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func needBinary(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// cluster is a primary and a streaming standby shared by the subtests of
// one top-level test, because starting one costs seconds.
type cluster struct {
	*pgtest.Cluster
	pool *pgxpool.Pool
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; -short")
	}
	c := pgtest.Start(t, pgtest.Options{})
	c.RequireStandby(t)
	ctx := context.Background()
	pool, err := c.Primary.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &cluster{Cluster: c, pool: pool}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func exec1(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// makeTable creates name(id bigint primary key, v int, other int, n int)
// with rows 1..rows, v NULL. A trigger counts in n how often each row was
// really updated by anything touching v, so a repeated batch would show.
func makeTable(t *testing.T, pool *pgxpool.Pool, name string, rows int) {
	t.Helper()
	id := pgx.Identifier{name}.Sanitize()
	exec1(t, pool, `DROP TABLE IF EXISTS `+id)
	exec1(t, pool, `CREATE TABLE `+id+` (id bigint PRIMARY KEY, v int, other int NOT NULL DEFAULT 0, n int NOT NULL DEFAULT 0)`)
	exec1(t, pool, `INSERT INTO `+id+` (id) SELECT g FROM generate_series(1, $1::int) g`, rows)
	exec1(t, pool, `CREATE OR REPLACE FUNCTION count_v_updates() RETURNS trigger LANGUAGE plpgsql AS
		'BEGIN IF NEW.v IS DISTINCT FROM OLD.v THEN NEW.n := OLD.n + 1; END IF; RETURN NEW; END'`)
	exec1(t, pool, `CREATE TRIGGER count_v BEFORE UPDATE ON `+id+` FOR EACH ROW EXECUTE FUNCTION count_v_updates()`)
	exec1(t, pool, `VACUUM ANALYZE `+id)
}

// wrongRows checks every row in one query: v must be id * 2 and each row
// must have been changed exactly once.
func wrongRows(t *testing.T, pool *pgxpool.Pool, name string) (wrong, twice int64) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `
SELECT count(*) FILTER (WHERE v IS DISTINCT FROM id * 2), count(*) FILTER (WHERE n > 1)
FROM `+pgx.Identifier{name}.Sanitize()).Scan(&wrong, &twice)
	if err != nil {
		t.Fatal(err)
	}
	return wrong, twice
}

func startGate(t *testing.T, ctx context.Context, pool *pgxpool.Pool, cfg throttle.Config) *throttle.Gate {
	t.Helper()
	g, err := throttle.Start(ctx, pool, cfg)
	if err != nil {
		t.Fatalf("throttle.Start: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func TestBackfill(t *testing.T) {
	c := startCluster(t)
	t.Run("Million", func(t *testing.T) { testMillion(t, c) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, c) })
	t.Run("RowLocks", func(t *testing.T) { testRowLocks(t, c) })
	t.Run("Faults", func(t *testing.T) { testFaults(t, c) })
	t.Run("ResumeLockAndSpec", func(t *testing.T) { testResumeLockAndSpec(t, c) })
	t.Run("KillResume", func(t *testing.T) { testKillResume(t, c) })
	t.Run("Pgbench", func(t *testing.T) { testPgbench(t, c) })
	t.Run("ReplayPaused", func(t *testing.T) { testReplayPaused(t, c) })
	// Last: it stops the standby.
	t.Run("StandbyStopped", func(t *testing.T) { testStandbyStopped(t, c) })
}

// 1. A million rows, checked row by row, on the primary and the standby.
func testMillion(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 3*time.Minute)
	const rows = 1_000_000
	makeTable(t, c.pool, "million", rows)
	gate := startGate(t, ctx, c.pool, throttle.Config{})

	var mu sync.Mutex
	var last backfill.Progress
	st, err := backfill.Run(ctx, c.pool, backfill.Job{Table: "million", Set: "v = id * 2"},
		backfill.WithGate(gate), backfill.WithProgress(func(p backfill.Progress) {
			mu.Lock()
			last = p
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1M rows: %d batches in %v (%.0f rows/s), final batch size %d, throttled %v, retries %v",
		st.Batches, st.Elapsed, float64(st.Rows)/st.Elapsed.Seconds(), st.BatchSize, st.Throttled, st.Retries)
	if st.Rows != rows || !st.Done || st.Resumed {
		t.Fatalf("stats %+v", st)
	}
	if wrong, twice := wrongRows(t, c.pool, "million"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated more than once", wrong, twice)
	}
	mu.Lock()
	if !last.Final || last.State != "done" || last.Fraction != 1 || last.Rows != rows {
		t.Errorf("final progress %+v", last)
	}
	mu.Unlock()

	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	standby, err := c.Standby.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	var wrongOnStandby int64
	if err := standby.QueryRow(ctx, `SELECT count(*) FILTER (WHERE v IS DISTINCT FROM id * 2) FROM million`).Scan(&wrongOnStandby); err != nil {
		t.Fatal(err)
	}
	if wrongOnStandby != 0 {
		t.Fatalf("%d rows wrong on the standby", wrongOnStandby)
	}

	// Done is done: a second run changes nothing.
	again, err := backfill.Run(ctx, c.pool, backfill.Job{Table: "million", Set: "v = id * 2"})
	if err != nil || !again.Done || !again.Resumed || again.Batches != 0 {
		t.Fatalf("re-run of a done job: %+v, %v", again, err)
	}
	// Restarted, the idempotency predicate finds nothing left to change.
	again, err = backfill.Run(ctx, c.pool, backfill.Job{Table: "million", Set: "v = id * 2", Restart: true, Batch: 20000})
	if err != nil || again.Rows != 0 {
		t.Fatalf("restarted job changed %d rows: %v", again.Rows, err)
	}
}

// 7. Composite, uuid and text keys, a unique index that is not the primary
// key, and a table with no key at all (ctid ranges and the final sweep).
func testKeys(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	cases := []struct {
		name, ddl, fill string
		key             []string
		wantKey         string
	}{
		{"composite", `(tenant int, sub text, v text, PRIMARY KEY (tenant, sub))`,
			`INSERT INTO {t} SELECT g % 37, 'k' || g, NULL FROM generate_series(1, 30000) g`, nil, "tenant,sub"},
		{"uuid", `(id uuid PRIMARY KEY DEFAULT gen_random_uuid(), v text)`,
			`INSERT INTO {t} (v) SELECT NULL FROM generate_series(1, 30000)`, nil, "id"},
		{"textkey", `("Name" text COLLATE "C" PRIMARY KEY, v text)`,
			`INSERT INTO {t} SELECT md5(g::text) || ' o''k, ' || g, NULL FROM generate_series(1, 30000) g`, nil, "Name"},
		{"uniqueidx", `(a bigint NOT NULL, b int, v text)`,
			`INSERT INTO {t} SELECT g * 3, g, NULL FROM generate_series(1, 30000) g; CREATE UNIQUE INDEX ON {t} (a)`, nil, "a"},
		{"nokey", `(a bigint, v text)`,
			`INSERT INTO {t} SELECT g % 1000, NULL FROM generate_series(1, 30000) g`, nil, "ctid"},
		{"explicitkey", `(id int PRIMARY KEY, grp int NOT NULL, v text)`,
			`INSERT INTO {t} SELECT g, g % 10, NULL FROM generate_series(1, 30000) g; CREATE INDEX ON {t} (grp, id)`, []string{"grp", "id"}, "grp,id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := "keys_" + tc.name
			exec1(t, c.pool, `DROP TABLE IF EXISTS `+table)
			exec1(t, c.pool, `CREATE TABLE `+table+` `+tc.ddl)
			exec1(t, c.pool, strings.ReplaceAll(tc.fill, "{t}", table))
			exec1(t, c.pool, `ANALYZE `+table)
			st, err := backfill.Run(ctx, c.pool, backfill.Job{
				Table: table, Set: "v = 'done'", Where: "v IS NULL",
				Key: tc.key, Batch: 700,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(st.KeyColumns, ","); got != tc.wantKey {
				t.Errorf("walked by %s, want %s", got, tc.wantKey)
			}
			if st.Rows != 30000 || !st.Done {
				t.Errorf("stats %+v", st)
			}
			if left := scalar[int64](t, c.pool, `SELECT count(*) FROM `+table+` WHERE v IS DISTINCT FROM 'done'`); left != 0 {
				t.Fatalf("%d rows not updated", left)
			}
		})
	}

	// A ctid job whose rows move behind its cursor while it runs: the
	// sweep must still find them.
	t.Run("nokey-moving-rows", func(t *testing.T) {
		exec1(t, c.pool, `DROP TABLE IF EXISTS keys_moving`)
		exec1(t, c.pool, `CREATE TABLE keys_moving (a bigint, pad text, v int)`)
		exec1(t, c.pool, `INSERT INTO keys_moving SELECT g, repeat('x', 200), NULL FROM generate_series(1, 20000) g`)
		exec1(t, c.pool, `ANALYZE keys_moving`)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Non-HOT updates of the last rows put new versions in free
				// space anywhere, often behind the cursor.
				c.pool.Exec(context.Background(), `UPDATE keys_moving SET pad = repeat('y', 200 + $1 % 7) WHERE a > 19900 AND v IS NULL`, i)
				c.pool.Exec(context.Background(), `VACUUM keys_moving`)
			}
		}()
		st, err := backfill.Run(ctx, c.pool, backfill.Job{Table: "keys_moving", Set: "v = a::int", Batch: 500, BatchFixed: true, Rate: 40000})
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if left := scalar[int64](t, c.pool, `SELECT count(*) FROM keys_moving WHERE v IS DISTINCT FROM a::int`); left != 0 {
			t.Fatalf("%d rows missed (stats %+v)", left, st)
		}
	})
}

// 4. Rows locked by another transaction: batches time out on the lock,
// retry, and finish once the lock is gone.
func testRowLocks(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	makeTable(t, c.pool, "locked", 20000)
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM locked WHERE id BETWEEN 5000 AND 5100 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	const hold = 2500 * time.Millisecond
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(hold)
		tx.Commit(context.Background())
		released <- time.Now()
	}()
	var sleeps []time.Duration
	st, err := backfill.Run(ctx, c.pool, backfill.Job{
		Table: "locked", Set: "v = id * 2", Batch: 1000, BatchFixed: true,
		LockTimeout: 200 * time.Millisecond, Retries: 50,
	}, backfill.WithSleep(func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		// Shorter waits than production keep the test quick; the lock
		// still outlives several attempts.
		time.Sleep(min(d, 300*time.Millisecond))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	<-released
	t.Logf("retries %v, sleeps %v", st.Retries, sleeps)
	if st.Retries["55P03"] < 2 {
		t.Errorf("expected several lock-timeout retries, got %v", st.Retries)
	}
	if wrong, twice := wrongRows(t, c.pool, "locked"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}

	// Retries run out while the lock is held: a BatchError naming the range and SQLSTATE.
	makeTable(t, c.pool, "locked2", 5000)
	tx, err = c.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM locked2 WHERE id = 2500 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	_, err = backfill.Run(ctx, c.pool, backfill.Job{
		Table: "locked2", Set: "v = id * 2", Batch: 1000, BatchFixed: true,
		LockTimeout: 50 * time.Millisecond, Retries: 3,
	}, backfill.WithSleep(func(context.Context, time.Duration) error { return nil }))
	var be *backfill.BatchError
	if !errors.As(err, &be) || be.SQLState != "55P03" || be.From != "2000" || be.To != "3000" {
		t.Fatalf("want a BatchError for (2000, 3000] with 55P03, got %v", err)
	}
	if status := scalar[string](t, c.pool, `SELECT status FROM migrate.backfill_jobs WHERE job_id = $1`,
		backfill.DefaultID("locked2", "v = id * 2", "")); status != "aborted" {
		t.Errorf("status %s, want aborted", status)
	}
	tx.Rollback(ctx)
	st, err = backfill.Run(ctx, c.pool, backfill.Job{Table: "locked2", Set: "v = id * 2"})
	if err != nil || !st.Resumed || st.Rows != 3000 {
		t.Fatalf("resume after the abort: %+v, %v", st, err)
	}
}

// Comments in the fragments, statement timeouts and lost connections.
func testFaults(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	noSleep := backfill.WithSleep(func(context.Context, time.Duration) error { return nil })

	// A trailing -- comment must not swallow the key range after it.
	makeTable(t, c.pool, "comments", 5000)
	st, err := backfill.Run(ctx, c.pool, backfill.Job{
		Table: "comments", Set: "v = id * 2 -- double it", Where: "id <= 3000 -- the first part",
		Batch: 1000, BatchFixed: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, c.pool, `SELECT count(*) FROM comments WHERE v IS NOT NULL`); n != 3000 || st.Rows != 3000 || st.Batches != 5 {
		t.Fatalf("%d rows changed (%+v), want 3000 in 5 batches", n, st)
	}

	// Statement timeouts halve the batch until it fits.
	makeTable(t, c.pool, "slow", 1500)
	exec1(t, c.pool, `CREATE OR REPLACE FUNCTION slow_double(x bigint) RETURNS bigint LANGUAGE plpgsql
		AS 'BEGIN PERFORM pg_sleep(0.0005); RETURN x * 2; END'`)
	st, err = backfill.Run(ctx, c.pool, backfill.Job{
		Table: "slow", Set: "v = slow_double(id)", Batch: 1000,
		TargetBatchTime: 50 * time.Millisecond, StatementTimeout: 200 * time.Millisecond,
	}, noSleep)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("statement timeouts: %d batches, retries %v, final batch size %d", st.Batches, st.Retries, st.BatchSize)
	if st.Retries["57014"] == 0 || st.BatchSize >= 1000 {
		t.Errorf("want statement-timeout retries and a smaller batch, got %+v", st)
	}
	if wrong, twice := wrongRows(t, c.pool, "slow"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}

	// Batch sessions killed under the job: reconnect, retry, finish, and
	// never apply a batch twice.
	makeTable(t, c.pool, "connloss", 60000)
	stop := make(chan struct{})
	killed := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { killed <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			var k int64
			c.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE query LIKE 'UPDATE "public"."connloss"%' AND pid <> pg_backend_pid()`).Scan(&k)
			n += k
		}
	}()
	st, err = backfill.Run(ctx, c.pool, backfill.Job{
		Table: "connloss", Set: "v = id * 2", Batch: 1000, BatchFixed: true, Rate: 30000, Retries: 30,
	}, backfill.WithSleep(func(context.Context, time.Duration) error { time.Sleep(10 * time.Millisecond); return nil }))
	close(stop)
	n := <-killed
	if err != nil {
		t.Fatalf("after %d sessions were killed: %v", n, err)
	}
	t.Logf("%d sessions killed; retries %v", n, st.Retries)
	if st.Retries["57P01"]+st.Retries["connection"] == 0 {
		t.Errorf("no connection retries counted (%d sessions killed)", n)
	}
	if wrong, twice := wrongRows(t, c.pool, "connloss"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}
	if done := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`,
		backfill.DefaultID("connloss", "v = id * 2", "")); done != 60000 {
		t.Fatalf("checkpoint says %d rows", done)
	}
}

// One runner per job, cancellation between batches, resume, and refusing
// a changed job.
func testResumeLockAndSpec(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	makeTable(t, c.pool, "resume", 30000)
	job := backfill.Job{ID: "resume-job", Table: "resume", Set: "v = id * 2", Batch: 1000, BatchFixed: true, Rate: 10000}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		st  backfill.Stats
		err error
	}
	first := make(chan result, 1)
	go func() {
		st, err := backfill.Run(runCtx, c.pool, job)
		first <- result{st, err}
	}()
	waitFor(t, 20*time.Second, "the first runner to make progress", func() bool {
		var n int64
		c.pool.QueryRow(ctx, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = 'resume-job'`).Scan(&n)
		return n >= 3000
	})

	_, err := backfill.Run(ctx, c.pool, job)
	if !errors.Is(err, backfill.ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second runner: %v, want ErrLocked naming the holder", err)
	}
	t.Logf("second runner: %v", err)

	cancel()
	r := <-first
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled run: %v", r.err)
	}
	status := scalar[string](t, c.pool, `SELECT status FROM migrate.backfill_jobs WHERE job_id = 'resume-job'`)
	done := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = 'resume-job'`)
	right := scalar[int64](t, c.pool, `SELECT count(*) FROM resume WHERE v = id * 2`)
	if status != "paused" || done != r.st.Rows || right != done {
		t.Fatalf("after cancel: status %s, checkpoint %d rows, run reported %d, table has %d", status, done, r.st.Rows, right)
	}

	changed := job
	changed.Set = "v = id * 3"
	if _, err := backfill.Run(ctx, c.pool, changed); !errors.Is(err, backfill.ErrSpecChanged) {
		t.Fatalf("changed SET under the same ID: %v, want ErrSpecChanged", err)
	}
	job.Rate = 0
	st, err := backfill.Run(ctx, c.pool, job)
	if err != nil || !st.Resumed || st.Rows != 30000-done || st.TotalRows != 30000 {
		t.Fatalf("resume: %+v, %v", st, err)
	}
	if wrong, twice := wrongRows(t, c.pool, "resume"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}

	for _, bad := range []backfill.Job{
		{Table: "nosuch", Set: "v = 1"},
		{Table: "resume", Set: "nosuch = 1"},
		{Table: "resume", Set: "v = nosuchfunc(id)"},
		{Table: "resume", Set: "id = id + 1"},
		{Table: "resume", Set: "v = 1", Where: "nosuch > 0"},
		{Table: "resume", Set: "v = 1", Key: []string{"v"}},
	} {
		if _, err := backfill.Run(ctx, c.pool, bad); !errors.Is(err, backfill.ErrInvalidJob) {
			t.Errorf("%+v: %v, want ErrInvalidJob", bad, err)
		}
	}
}

// 3. SIGKILL of the CLI mid-run: the re-run resumes from the checkpoint and
// no committed batch is repeated.
func testKillResume(t *testing.T, c *cluster) {
	needBinary(t)
	ctx := ctxFor(t, 2*time.Minute)
	const rows = 200000
	makeTable(t, c.pool, "killed", rows)
	args := []string{"--dsn", c.Primary.DSN(""), "backfill", "--table", "killed", "--set", "v = id * 2",
		"--batch", "1000", "--batch-fixed"}

	cmd := exec.Command(migrateBin, append(args, "--rate", "40000")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := backfill.DefaultID("killed", "v = id * 2", "")
	waitFor(t, 30*time.Second, "the CLI to make progress", func() bool {
		var n int64
		c.pool.QueryRow(ctx, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id).Scan(&n)
		return n >= 50000
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The server rolls back the batch in flight once it sees the socket close.
	waitFor(t, 10*time.Second, "the killed sessions to end", func() bool {
		return scalar[int64](t, c.pool, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate backfill'`) == 0
	})
	checkpoint := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id)
	committed := scalar[int64](t, c.pool, `SELECT count(*) FROM killed WHERE v = id * 2`)
	if checkpoint != committed || checkpoint >= rows {
		t.Fatalf("after SIGKILL the checkpoint says %d rows, the table has %d", checkpoint, committed)
	}

	if n := rerunResumed(t, args, "updated", checkpoint); n != rows-checkpoint {
		t.Errorf("re-run updated %d rows, want %d (the rest after the checkpoint)", n, rows-checkpoint)
	}
	// n counts real updates per row: a repeated batch would leave n = 2.
	if wrong, twice := wrongRows(t, c.pool, "killed"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated more than once", wrong, twice)
	}
	if total := scalar[int64](t, c.pool, `SELECT sum(n) FROM killed`); total != rows {
		t.Fatalf("%d updates in all, want %d", total, rows)
	}
}

// 6. pgbench traffic on the same table during the whole job.
func testPgbench(t *testing.T, c *cluster) {
	needBinary(t)
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		t.Skip("no pgbench")
	}
	ctx := ctxFor(t, 2*time.Minute)
	const rows = 100000
	makeTable(t, c.pool, "bench", rows)
	script := filepath.Join(t.TempDir(), "traffic.sql")
	os.WriteFile(script, []byte(`\set id random(1, 100000)
BEGIN;
UPDATE bench SET other = other + 1 WHERE id = :id;
SELECT v, other FROM bench WHERE id = :id;
END;
`), 0o644)
	bench := exec.CommandContext(ctx, pgbench, "-n", "-R", "200", "-T", "14", "-c", "4", "-j", "2",
		"-f", script, c.Primary.DSN(""))
	var benchOut bytes.Buffer
	bench.Stdout, bench.Stderr = &benchOut, &benchOut
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	// Slowed down so that the job runs well inside the traffic window.
	res, err := exec.Command(migrateBin, "--dsn", c.Primary.DSN(""), "backfill", "--table", "bench",
		"--set", "v = id * 2", "--rate", "12000").CombinedOutput()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, res)
	}
	t.Logf("backfill: %s", strings.TrimSpace(string(res)))
	if err := bench.Wait(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, benchOut.String())
	}
	processed := regexp.MustCompile(`number of transactions actually processed: (\d+)`).FindStringSubmatch(benchOut.String())
	failed := regexp.MustCompile(`number of failed transactions: (\d+)`).FindStringSubmatch(benchOut.String())
	if processed == nil {
		t.Fatalf("pgbench output:\n%s", benchOut.String())
	}
	if failed != nil && failed[1] != "0" {
		t.Fatalf("pgbench had failed transactions:\n%s", benchOut.String())
	}
	lat := regexp.MustCompile(`latency average = .*`).FindString(benchOut.String())
	t.Logf("pgbench: %s transactions, %s", processed[1], lat)
	if wrong, twice := wrongRows(t, c.pool, "bench"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}
	// Every pgbench update survived too.
	n, _ := strconv.ParseInt(processed[1], 10, 64)
	if sum := scalar[int64](t, c.pool, `SELECT sum(other) FROM bench`); sum != n {
		t.Fatalf("sum(other) = %d, want %d (one per pgbench transaction)", sum, n)
	}
}

// 2. Replay paused with only the primary's DSN: the job pauses, lets at
// most one more batch through, and completes after replay resumes.
func testReplayPaused(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	const rows = 300000
	const maxLag = 500 * time.Millisecond
	makeTable(t, c.pool, "paused", rows)
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	gate := startGate(t, ctx, c.pool, throttle.Config{MaxLag: maxLag, ResumeStable: time.Second})

	type sample struct {
		at        time.Time
		batches   int64
		throttled bool
	}
	var mu sync.Mutex
	var samples []sample
	var batches int64
	done := make(chan error, 1)
	var st backfill.Stats
	go func() {
		var err error
		st, err = backfill.Run(ctx, c.pool, backfill.Job{Table: "paused", Set: "v = id * 2", Batch: 1000, BatchFixed: true, Rate: 25000},
			backfill.WithGate(gate), backfill.WithProgressInterval(20*time.Millisecond),
			backfill.WithProgress(func(p backfill.Progress) {
				mu.Lock()
				batches = p.Batches
				samples = append(samples, sample{time.Now(), p.Batches, p.State == "throttled"})
				mu.Unlock()
			}))
		done <- err
	}()
	waitFor(t, 20*time.Second, "the job to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return batches >= 20
	})
	if err := c.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	waitFor(t, 5*time.Second, "the gate to close", func() bool { return gate.Status().Throttled })
	closed := time.Now()
	time.Sleep(3 * time.Second)
	mu.Lock()
	var atClose, atEnd int64
	for _, s := range samples {
		if !s.at.After(closed) {
			atClose = s.batches
		}
		atEnd = s.batches
	}
	mu.Unlock()
	t.Logf("replay paused: gate closed after %v (%s); batches %d at close, %d 3s later",
		closed.Sub(paused), gate.Status().Reason, atClose, atEnd)
	if d := closed.Sub(paused); d > maxLag+2*time.Second {
		t.Errorf("the job paused %v after replay stopped, want within 2s of exceeding --max-lag", d)
	}
	if atEnd-atClose > 1 {
		t.Errorf("%d batches committed after the gate closed, want at most the one in flight", atEnd-atClose)
	}
	var worst time.Duration
	for _, r := range gate.Status().Readings {
		worst = max(worst, r.Lag)
	}
	if err := c.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the job did not complete after replay resumed")
	}
	t.Logf("completed: %+v (lag reading while paused: %v)", st, worst)
	if st.Throttled < 2*time.Second {
		t.Errorf("throttled only %v", st.Throttled)
	}
	if wrong, twice := wrongRows(t, c.pool, "paused"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}
}

// 5. The standby stops: the job fails closed, and after --max-throttle the
// CLI exits 1 saying it can be resumed; it resumes once the standby is back.
func testStandbyStopped(t *testing.T, c *cluster) {
	needBinary(t)
	ctx := ctxFor(t, 2*time.Minute)
	makeTable(t, c.pool, "stopped", 200000)
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	args := []string{"--dsn", c.Primary.DSN(""), "backfill", "--table", "stopped", "--set", "v = id * 2",
		"--batch", "1000", "--batch-fixed"}
	cmd := exec.Command(migrateBin, append(args, "--rate", "20000", "--max-throttle", "3s")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	id := backfill.DefaultID("stopped", "v = id * 2", "")
	waitFor(t, 30*time.Second, "the CLI to make progress", func() bool {
		var n int64
		c.pool.QueryRow(ctx, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id).Scan(&n)
		return n >= 20000
	})
	if err := c.StopStandby(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := c.StartStandby(context.Background()); err != nil {
				t.Errorf("restarting the standby: %v", err)
			}
		}
	})
	waitFor(t, 5*time.Second, "the job to pause", func() bool {
		return scalar[string](t, c.pool, `SELECT status FROM migrate.backfill_jobs WHERE job_id = $1`, id) == "paused"
	})
	pausedAt := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id)
	var err error
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the CLI did not give up after --max-throttle:\n%s", out.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1\n%s", err, out.String())
	}
	t.Logf("gave up %v after the standby stopped: %s", time.Since(stopped), strings.TrimSpace(out.String()))
	if !strings.Contains(out.String(), "resumable") || !strings.Contains(out.String(), "max-throttle") {
		t.Errorf("the message should say the job can be resumed:\n%s", out.String())
	}
	if now := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id); now > pausedAt+1000 {
		t.Errorf("%d rows done while the standby was gone (at most one batch allowed)", now-pausedAt)
	}
	restarted = true
	if err := c.StartStandby(ctx); err != nil {
		t.Fatal(err)
	}
	// The default --max-throttle: the standby first catches up on what it missed.
	res, err := exec.Command(migrateBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("resume with the standby back: %v\n%s", err, res)
	}
	if !bytes.Contains(res, []byte("resumed")) {
		t.Errorf("the re-run did not resume:\n%s", res)
	}
	if wrong, twice := wrongRows(t, c.pool, "stopped"); wrong != 0 || twice != 0 {
		t.Fatalf("%d rows wrong, %d updated twice", wrong, twice)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rerunResumed runs the CLI again after a kill, checks that it says it
// resumed, and returns how many rows it reports as verb ("updated",
// "deleted").
func rerunResumed(t *testing.T, args []string, verb string, checkpoint int64) int64 {
	t.Helper()
	res, err := exec.Command(migrateBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, res)
	}
	t.Logf("killed at %d rows; re-run: %s", checkpoint, strings.TrimSpace(string(res)))
	m := regexp.MustCompile(`(\d+) rows ` + verb).FindSubmatch(res)
	if m == nil || !bytes.Contains(res, []byte("resumed")) {
		t.Fatalf("re-run output does not report a resumed run:\n%s", res)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}
