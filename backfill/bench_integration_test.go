package backfill_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

// BenchmarkBackfillVsSingleUpdate compares a backfill at the default batch
// size (with the lag gate, as `migrate backfill` runs it) with one UPDATE of
// the whole table, on two identical 2M-row tables in the same cluster:
//
//	go test -run '^$' -bench BackfillVsSingleUpdate -benchtime 1x ./backfill/
func BenchmarkBackfillVsSingleUpdate(b *testing.B) {
	const rows = 2_000_000
	c := pgtest.Start(b, pgtest.Options{})
	ctx := context.Background()
	pool, err := c.Primary.Pool(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	must := func(sql string) {
		b.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	for _, t := range []string{"bench_single", "bench_batched"} {
		must(`DROP TABLE IF EXISTS ` + t)
		must(`CREATE TABLE ` + t + ` (id bigint PRIMARY KEY, v bigint, payload text NOT NULL)`)
		must(fmt.Sprintf(`INSERT INTO %s SELECT g, g, md5(g::text) FROM generate_series(1, %d) g`, t, rows))
		must(`VACUUM ANALYZE ` + t)
	}
	settle := func() {
		b.Helper()
		must(`CHECKPOINT`)
		if err := c.WaitReplayed(ctx); err != nil {
			b.Fatal(err)
		}
	}

	var single, batched time.Duration
	var throttled time.Duration
	var batches int64
	for i := 0; b.Loop(); i++ {
		set := fmt.Sprintf("v = id * %d", i+2)
		settle()
		t0 := time.Now()
		tag, err := pool.Exec(ctx, `UPDATE bench_single SET `+set)
		if err != nil || tag.RowsAffected() != rows {
			b.Fatalf("single UPDATE: %v %v", tag, err)
		}
		single += time.Since(t0)

		settle()
		st, err := runBackfill(ctx, pool, backfill.Job{Table: "bench_batched", Set: set, ID: fmt.Sprintf("bench-%d", i)})
		if err != nil || st.Rows != rows {
			b.Fatalf("backfill: %+v %v", st, err)
		}
		batched += st.Elapsed
		throttled += st.Throttled
		batches += st.Batches
	}
	n := float64(b.N)
	singleRate := rows * n / single.Seconds()
	batchedRate := rows * n / batched.Seconds()
	b.ReportMetric(singleRate, "single-rows/s")
	b.ReportMetric(batchedRate, "backfill-rows/s")
	b.ReportMetric(batchedRate/singleRate, "ratio")
	b.ReportMetric(float64(batches)/n, "batches")
	b.ReportMetric(throttled.Seconds()/n, "throttled-s")
	b.Logf("single UPDATE %.0f rows/s, backfill %.0f rows/s (%d batches, throttled %v), ratio %.2f",
		singleRate, batchedRate, batches, throttled, batchedRate/singleRate)
}

func runBackfill(ctx context.Context, pool *pgxpool.Pool, job backfill.Job) (backfill.Stats, error) {
	gate, err := throttle.Start(ctx, pool, throttle.Config{})
	if err != nil {
		return backfill.Stats{}, err
	}
	defer gate.Close()
	return backfill.Run(ctx, pool, job, backfill.WithGate(gate))
}
