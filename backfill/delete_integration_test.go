package backfill_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/backfill/throttle"
)

// TestBackfillDelete covers delete jobs: by predicate on a keyed table, a
// SIGKILL of the CLI and its resume, and a table walked by ctid ranges.
func TestBackfillDelete(t *testing.T) {
	c := startCluster(t)
	t.Run("Predicate", func(t *testing.T) { testDeletePredicate(t, c) })
	t.Run("KillResume", func(t *testing.T) { testDeleteKillResume(t, c) })
	t.Run("Ctid", func(t *testing.T) { testDeleteCtid(t, c) })
}

// Deletes 200k of 500k rows in batches; the other 300k must all remain, on
// the primary and the standby.
func testDeletePredicate(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 3*time.Minute)
	const rows, doomed = 500_000, 200_000
	makeTable(t, c.pool, "del_pred", rows)
	gate := startGate(t, ctx, c.pool, throttle.Config{})
	// Two residues of five: 200k rows, spread over every batch.
	job := backfill.Job{Table: "del_pred", Delete: true, Where: "id % 5 IN (1, 3)", Batch: 5000}

	var mu sync.Mutex
	var last backfill.Progress
	st, err := backfill.Run(ctx, c.pool, job, backfill.WithGate(gate),
		backfill.WithProgress(func(p backfill.Progress) {
			mu.Lock()
			last = p
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted %d rows in %d batches, %v", st.Rows, st.Batches, st.Elapsed)
	if st.Rows != doomed || !st.Done || !st.Delete || st.Batches < 10 {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	if !last.Final || last.State != "done" || last.Rows != doomed {
		t.Errorf("final progress %+v", last)
	}
	mu.Unlock()
	checkSurvivors := func(q func(string) (int64, int64, int64)) {
		t.Helper()
		n, matching, sum := q(`SELECT count(*), count(*) FILTER (WHERE id % 5 IN (1, 3)), sum(id) FROM del_pred`)
		// The survivors are ids ≡ 0, 2, 4 (mod 5) of 1..500000.
		var want int64
		for i := int64(1); i <= rows; i++ {
			if i%5 != 1 && i%5 != 3 {
				want += i
			}
		}
		if n != rows-doomed || matching != 0 || sum != want {
			t.Fatalf("%d rows left (%d matching), id sum %d want %d", n, matching, sum, want)
		}
	}
	checkSurvivors(func(q string) (a, b, s int64) {
		if err := c.pool.QueryRow(ctx, q).Scan(&a, &b, &s); err != nil {
			t.Fatal(err)
		}
		return
	})
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	standby, err := c.Standby.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	checkSurvivors(func(q string) (a, b, s int64) {
		if err := standby.QueryRow(ctx, q).Scan(&a, &b, &s); err != nil {
			t.Fatal(err)
		}
		return
	})

	// Restarted, the job finds nothing left to delete.
	job.Restart = true
	if again, err := backfill.Run(ctx, c.pool, job); err != nil || again.Rows != 0 || !again.Done {
		t.Fatalf("restarted delete: %+v, %v", again, err)
	}
	// An update under the ID of the delete job is another job.
	upd := backfill.Job{ID: st.JobID, Table: "del_pred", Set: "v = 1", Where: job.Where}
	if _, err := backfill.Run(ctx, c.pool, upd); !errors.Is(err, backfill.ErrSpecChanged) {
		t.Fatalf("update under a delete job's ID: %v, want ErrSpecChanged", err)
	}
	for _, bad := range []backfill.Job{
		{Table: "del_pred", Delete: true, Set: "v = 1"},
		{Table: "del_pred", Delete: true, Where: "nosuch > 0"},
	} {
		if _, err := backfill.Run(ctx, c.pool, bad); !errors.Is(err, backfill.ErrInvalidJob) {
			t.Errorf("%+v: %v, want ErrInvalidJob", bad, err)
		}
	}
}

// SIGKILL of `migrate backfill --delete` mid-run: the checkpoint matches
// what was deleted, and the re-run deletes exactly the rest.
func testDeleteKillResume(t *testing.T, c *cluster) {
	needBinary(t)
	ctx := ctxFor(t, 2*time.Minute)
	const rows, doomed = 200_000, 100_000
	makeTable(t, c.pool, "del_killed", rows)
	const where = "id % 2 = 0"
	args := []string{"--dsn", c.Primary.DSN(""), "backfill", "--table", "del_killed", "--delete", "--where", where,
		"--batch", "1000", "--batch-fixed"}

	cmd := exec.Command(migrateBin, append(args, "--rate", "40000")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := backfill.DefaultID("del_killed", "", where)
	waitFor(t, 30*time.Second, "the CLI to make progress", func() bool {
		var n int64
		c.pool.QueryRow(ctx, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id).Scan(&n)
		return n >= 30000
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitFor(t, 10*time.Second, "the killed sessions to end", func() bool {
		return scalar[int64](t, c.pool, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate backfill'`) == 0
	})
	checkpoint := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id)
	deleted := rows - scalar[int64](t, c.pool, `SELECT count(*) FROM del_killed`)
	if checkpoint != deleted || checkpoint >= doomed {
		t.Fatalf("after SIGKILL the checkpoint says %d rows, %d are gone\n%s", checkpoint, deleted, out.String())
	}
	// Every deleted row lies at or below the checkpoint's key: no row past
	// it is gone and none before it is left.
	cursor := scalar[int64](t, c.pool, `SELECT (cursor->'key'->>0)::bigint FROM migrate.backfill_jobs WHERE job_id = $1`, id)
	if n := scalar[int64](t, c.pool, `SELECT count(*) FROM del_killed WHERE id <= $1 AND id % 2 = 0`, cursor); n != 0 {
		t.Fatalf("%d matching rows left behind the checkpoint %d", n, cursor)
	}

	if n := rerunResumed(t, args, "deleted", checkpoint); n != doomed-checkpoint {
		t.Errorf("re-run deleted %d rows, want %d (the rest after the checkpoint)", n, doomed-checkpoint)
	}
	var n, even, odd, sum int64
	if err := c.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE id % 2 = 0), count(DISTINCT id) FILTER (WHERE id % 2 = 1), sum(id) FROM del_killed`).
		Scan(&n, &even, &odd, &sum); err != nil {
		t.Fatal(err)
	}
	// The odd ids 1, 3, ..., 199999 sum to 100000².
	if n != rows-doomed || even != 0 || odd != rows-doomed || sum != doomed*doomed {
		t.Fatalf("after resume: %d rows, %d even, %d distinct odd, id sum %d", n, even, odd, sum)
	}
	if total := scalar[int64](t, c.pool, `SELECT rows_done FROM migrate.backfill_jobs WHERE job_id = $1`, id); total != doomed {
		t.Errorf("the job counted %d deleted rows, want %d", total, doomed)
	}
}

// No key: ctid page ranges, then the sweep, which must also delete rows
// that concurrent updates moved behind the cursor. A delete with no
// predicate empties the table.
func testDeleteCtid(t *testing.T, c *cluster) {
	ctx := ctxFor(t, 2*time.Minute)
	const rows = 30000
	exec1(t, c.pool, `DROP TABLE IF EXISTS del_nokey`)
	exec1(t, c.pool, `CREATE TABLE del_nokey (a bigint, pad text)`)
	exec1(t, c.pool, `INSERT INTO del_nokey SELECT g, repeat('x', 200) FROM generate_series(1, $1::int) g`, rows)
	exec1(t, c.pool, `ANALYZE del_nokey`)
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
			c.pool.Exec(context.Background(), `UPDATE del_nokey SET pad = repeat('y', 200 + $1 % 7) WHERE a > $2`, i, rows-300)
			c.pool.Exec(context.Background(), `VACUUM del_nokey`)
		}
	}()
	st, err := backfill.Run(ctx, c.pool, backfill.Job{Table: "del_nokey", Delete: true, Where: "a % 3 = 0",
		Batch: 500, BatchFixed: true, Rate: 40000})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.KeyColumns, ","); got != "ctid" || !st.Done || st.Rows != rows/3 {
		t.Errorf("stats %+v", st)
	}
	var n, matching, distinct int64
	if err := c.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE a % 3 = 0), count(DISTINCT a) FROM del_nokey`).
		Scan(&n, &matching, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != rows-rows/3 || matching != 0 || distinct != n {
		t.Fatalf("%d rows left (%d matching, %d distinct), want %d", n, matching, distinct, rows-rows/3)
	}

	st, err = backfill.Run(ctx, c.pool, backfill.Job{Table: "del_nokey", Delete: true, Batch: 700})
	if err != nil {
		t.Fatal(err)
	}
	if left := scalar[int64](t, c.pool, `SELECT count(*) FROM del_nokey`); left != 0 || st.Rows != n {
		t.Fatalf("delete of every row left %d rows, stats %+v", left, st)
	}
}
