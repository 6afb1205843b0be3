package backfill

import (
	"testing"
	"time"
)

// TestEstimateProgress (issue 11, defect 9): the percentage and the total
// count rows; the key position only decides once the row estimate is
// known to be wrong; nothing shows more than 100 %, or 100 % early.
func TestEstimateProgress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       progressInput
		fraction float64 // within 0.001
		total    int64
	}{
		// 100000 dense ids and a few far outliers: the key position is
		// 1.7 % when 98 % of the rows are done.
		{name: "sparse keys", in: progressInput{walked: 98000, estimate: 100003, position: 98000.0 / 5_800_000}, fraction: 0.98, total: 100003},
		// Rows inserted into the range during the job: walked passes the
		// estimate; the position takes over and the total follows.
		{name: "past the estimate", in: progressInput{walked: 100020, estimate: 100000, position: 0.9995}, fraction: 0.999, total: 100120},
		{name: "past the estimate, no position", in: progressInput{walked: 100020, estimate: 100000, position: -1}, fraction: 0.999},
		{name: "stale small estimate", in: progressInput{walked: 60000, estimate: 50000, position: 0.5}, fraction: 0.5, total: 120000},
		{name: "finished", in: progressInput{walked: 100020, estimate: 100000, position: 1, finished: true}, fraction: 1, total: 100020},
		{name: "never 100% early", in: progressInput{walked: 99999, estimate: 100000, position: 1}, fraction: 0.999, total: 100000},
		{name: "not started", in: progressInput{estimate: 5000, position: 0}, fraction: 0, total: 5000},
		{name: "nothing known", in: progressInput{walked: 500, position: -1}, fraction: 0, total: 0},
		{name: "ctid pages, no estimate", in: progressInput{walked: 500, position: 0.25}, fraction: 0.25, total: 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := estimateProgress(tc.in)
			if d := got.fraction - tc.fraction; d > 0.001 || d < -0.001 {
				t.Errorf("fraction %.4f, want %.4f", got.fraction, tc.fraction)
			}
			if got.total != tc.total {
				t.Errorf("total %d, want %d", got.total, tc.total)
			}
			if got.fraction > 1 || (got.fraction >= 1 && !tc.in.finished) {
				t.Errorf("fraction %.4f before the end", got.fraction)
			}
			if got.total != 0 && got.total < tc.in.walked {
				t.Errorf("total %d below the %d rows walked", got.total, tc.in.walked)
			}
		})
	}
}

func TestETACountsRowsLeft(t *testing.T) {
	// 2000 rows left at 1000 rows/s: 2 s, whatever the key range says.
	if d, ok := eta(98000, 100000, 0.98, 1000, time.Minute); !ok || d != 2*time.Second {
		t.Errorf("eta %v %v, want 2s", d, ok)
	}
	for _, tc := range []struct {
		done, total int64
		frac, rate  float64
		elapsed     time.Duration
	}{
		{98000, 100000, 0.98, 1000, time.Second}, // too early
		{10, 100000, 0.0001, 1000, time.Minute},  // too little done
		{500, 0, 0.999, 1000, time.Minute},       // no total
		{500, 1000, 0.5, 0, time.Minute},         // no rate
	} {
		if _, ok := eta(tc.done, tc.total, tc.frac, tc.rate, tc.elapsed); ok {
			t.Errorf("eta known for %+v", tc)
		}
	}
}
