package backfill_test

import (
	"sync"
	"testing"
	"time"

	"github.com/migrate-tool/migrate/backfill"
)

// TestProgressSparseKeys (issue 11, defect 9): 20000 dense keys and one
// far outlier. Counted by key space, the job reported 0.4 % when 90 % of
// its rows were done; counted by rows it reports about 90 %, and no
// report shows more than 100 % or rows walked above the total.
func TestProgressSparseKeys(t *testing.T) {
	c := startCluster(t)
	ctx := ctxFor(t, 2*time.Minute)
	makeTable(t, c.pool, "sparse", 20000)
	exec1(t, c.pool, `INSERT INTO sparse (id) VALUES (5000000)`)
	exec1(t, c.pool, `ANALYZE sparse`)

	var mu sync.Mutex
	var reports []backfill.Progress
	_, err := backfill.Run(ctx, c.pool, backfill.Job{Table: "sparse", Set: "v = id * 2", Batch: 500, BatchFixed: true, Rate: 8000},
		backfill.WithProgressInterval(50*time.Millisecond), backfill.WithProgress(func(p backfill.Progress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	nearEnd := false
	for _, p := range reports {
		if p.Fraction > 1 || (p.Fraction >= 1 && !p.Final) {
			t.Errorf("fraction %.4f before the end: %s", p.Fraction, p)
		}
		if p.Total > 0 && p.Done > p.Total {
			t.Errorf("rows walked above the total: %s", p)
		}
		if !p.Final && p.Done >= 18000 {
			nearEnd = true
			if p.Fraction < 0.85 {
				t.Errorf("with %d of 20001 rows walked the job reports %.1f %%: %s", p.Done, 100*p.Fraction, p)
			}
		}
	}
	if !nearEnd {
		t.Fatalf("no report near the end among %d", len(reports))
	}
	last := reports[len(reports)-1]
	if !last.Final || last.Fraction != 1 || last.Total != last.Done {
		t.Errorf("final report: %s (total %d)", last, last.Total)
	}
}
