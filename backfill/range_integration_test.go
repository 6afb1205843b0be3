package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

// TestKeyRangeBoundsWalk: a job whose predicate bounds the key walks only
// that key range (issue 11, defect 7: WHERE id < 100 on 100k rows took 44
// batches for 99 rows). Rows outside the range are never touched.
func TestKeyRangeBoundsWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; -short")
	}
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	ctx := ctxFor(t, 5*time.Minute)
	pool, err := c.Primary.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	const rows = 100_000

	for _, tc := range []struct {
		name        string
		where       string
		ranges      []backfill.KeyRange
		maxBatches  int64
		wantRows    int64
		wantBounded bool
	}{
		{name: "upper", where: "id < 100", ranges: []backfill.KeyRange{{Column: "id", Upper: "100"}},
			maxBatches: 2, wantRows: 99, wantBounded: true},
		{name: "lower", where: "id >= 99901", ranges: []backfill.KeyRange{{Column: "id", Lower: "99901", LowerInclusive: true}},
			maxBatches: 2, wantRows: 100, wantBounded: true},
		{name: "both", where: "id > 50000 AND id <= 50500", ranges: []backfill.KeyRange{{Column: "id", Lower: "50000", Upper: "50500", UpperInclusive: true}},
			maxBatches: 2, wantRows: 500, wantBounded: true},
		{name: "empty", where: "id > 200000", ranges: []backfill.KeyRange{{Column: "id", Lower: "200000"}},
			maxBatches: 0, wantRows: 0, wantBounded: true},
		// A range on a column no key starts with bounds nothing: the job
		// still changes exactly the rows of its predicate.
		{name: "not a key", where: "other < 1 AND id < 100", ranges: []backfill.KeyRange{{Column: "other", Upper: "1"}},
			maxBatches: 1000, wantRows: 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			makeTable(t, pool, "ranged", rows)
			st, err := backfill.Run(ctx, pool, backfill.Job{Table: "ranged", Set: "v = id * 2", Where: tc.where,
				Ranges: tc.ranges, Batch: 1000, BatchFixed: true, Restart: true})
			if err != nil {
				t.Fatal(err)
			}
			if !st.Done || st.Rows != tc.wantRows || st.Batches > tc.maxBatches {
				t.Errorf("done %v, rows %d (want %d), batches %d (want at most %d)", st.Done, st.Rows, tc.wantRows, st.Batches, tc.maxBatches)
			}
			if (st.KeyRange != "") != tc.wantBounded {
				t.Errorf("key range %q, want bounded %v", st.KeyRange, tc.wantBounded)
			}
			var inside, outside, twice int64
			err = pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE `+tc.where+` AND v = id * 2),
    count(*) FILTER (WHERE NOT (`+tc.where+`) AND (v IS NOT NULL OR n > 0)), count(*) FILTER (WHERE n > 1) FROM ranged`).Scan(&inside, &outside, &twice)
			if err != nil {
				t.Fatal(err)
			}
			if inside != tc.wantRows || outside != 0 || twice != 0 {
				t.Errorf("rows changed inside the predicate %d (want %d), touched outside %d, changed twice %d", inside, tc.wantRows, outside, twice)
			}
		})
	}

	// Without the range the same job walks the whole key space: what the
	// planner handed over before, shown here so the bound above is the
	// range's doing and not the batch size's.
	t.Run("unbounded walk", func(t *testing.T) {
		makeTable(t, pool, "ranged", rows)
		st, err := backfill.Run(ctx, pool, backfill.Job{Table: "ranged", Set: "v = id * 2", Where: "id < 100", Batch: 1000, BatchFixed: true, Restart: true})
		if err != nil {
			t.Fatal(err)
		}
		if st.Rows != 99 || st.Batches < rows/1000 {
			t.Errorf("rows %d, batches %d: want 99 rows over the whole key space", st.Rows, st.Batches)
		}
	})

	// A key led by the range's column is preferred over the primary key.
	t.Run("prefers a key with a range", func(t *testing.T) {
		makeTable(t, pool, "ranged", rows)
		exec1(t, pool, `UPDATE ranged SET other = -id`)
		exec1(t, pool, `CREATE UNIQUE INDEX ranged_other_key ON ranged (other)`)
		st, err := backfill.Run(ctx, pool, backfill.Job{Table: "ranged", Set: "v = id * 2", Where: "other > -50",
			Ranges: []backfill.KeyRange{{Column: "other", Lower: "-50"}}, Batch: 1000, BatchFixed: true, Restart: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.KeyColumns) != 1 || st.KeyColumns[0] != "other" || st.Rows != 49 || st.Batches > 1 {
			t.Errorf("key %v, rows %d, batches %d: want other, 49 rows, 1 batch", st.KeyColumns, st.Rows, st.Batches)
		}
	})
}

// The progress of a walk over a key range counts the range, not the table.
func TestKeyRangeProgressTotal(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; -short")
	}
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	ctx := ctxFor(t, 2*time.Minute)
	pool, err := c.Primary.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	makeTable(t, pool, "ranged", 100_000)
	var last backfill.Progress
	_, err = backfill.Run(ctx, pool, backfill.Job{Table: "ranged", Set: "v = id * 2", Where: "id < 3000",
		Ranges: []backfill.KeyRange{{Column: "id", Upper: "3000"}}, Batch: 1000, BatchFixed: true},
		backfill.WithProgress(func(p backfill.Progress) { last = p }), backfill.WithProgressInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if last.Total < 1500 || last.Total > 6000 || last.Fraction != 1 {
		t.Errorf("final progress total %d, fraction %.3f: want about 3000 rows, 1", last.Total, last.Fraction)
	}
}
