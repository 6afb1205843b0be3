package backfill

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// String formats p as the one-line status printed where there is no
// terminal, e.g.
//
//	backfill public.users: 123000/1000000 12.3% rate 8.1k rows/s lag 0.42s state running ETA 1m48s
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s: ", p.Table)
	if p.Total > 0 {
		fmt.Fprintf(&b, "%d/%d %s", p.Done, max(p.Total, p.Done), Percent(p.Fraction))
	} else {
		fmt.Fprintf(&b, "%d rows %s", p.Done, Percent(p.Fraction))
	}
	if p.Rows != p.Done {
		// A WHERE, or rows already right, make the two differ: say both.
		fmt.Fprintf(&b, " (%d changed)", p.Rows)
	}
	fmt.Fprintf(&b, " rate %s rows/s", HumanCount(p.Rate))
	fmt.Fprintf(&b, " lag %s", p.LagString())
	fmt.Fprintf(&b, " state %s", p.State)
	if p.Reason != "" {
		fmt.Fprintf(&b, " (%s)", p.Reason)
	}
	fmt.Fprintf(&b, " ETA %s", p.ETAString())
	return b.String()
}

// LagString is the worst replica lag, "-" without a gate, "unknown" when
// the gate cannot read it.
func (p Progress) LagString() string {
	switch {
	case p.LagSource == "":
		return "-"
	case !p.LagKnown:
		return "unknown"
	}
	return fmt.Sprintf("%.2fs", p.Lag.Seconds())
}

// ETAString is the estimated time left: "N/A" until there is enough history
// to estimate it, "due" when the job is finishing.
func (p Progress) ETAString() string {
	switch {
	case p.State == "done" || p.Fraction >= 1:
		return "due"
	case !p.ETAKnown:
		return "N/A"
	}
	return RoundDuration(p.ETA).String()
}

// Percent formats a fraction as a percentage with one decimal, never showing
// 100% before the job is done.
func Percent(f float64) string {
	f = math.Max(0, math.Min(1, f))
	pct := math.Floor(f*1000) / 10
	return fmt.Sprintf("%.1f%%", pct)
}

// HumanCount formats a count with a k or M suffix: 812, 8.1k, 1.2M.
func HumanCount(v float64) string {
	switch {
	case v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return "0"
	case v < 1000:
		return fmt.Sprintf("%.0f", v)
	case v < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.1fM", v/1e6)
}

// RoundDuration rounds d to what a person reads: whole seconds, or tenths
// under ten seconds.
func RoundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// rateMeter averages a counter's rate over roughly window, leaving out
// intervals spent throttled so the ETA describes the work, not the waits.
type rateMeter struct {
	window time.Duration
	rate   float64
	primed bool
}

func (m *rateMeter) add(delta float64, dt, throttled time.Duration) {
	work := dt - throttled
	if work <= dt/2 || dt <= 0 {
		return
	}
	inst := delta / work.Seconds()
	if !m.primed {
		m.rate, m.primed = inst, true
		return
	}
	alpha := 1 - math.Exp(-dt.Seconds()/m.window.Seconds())
	m.rate += alpha * (inst - m.rate)
}

// report starts the goroutine that feeds the WithProgress function and the
// gate metrics. The returned function stops it after a final report.
func (r *runner) report(ctx context.Context) (stop func()) {
	if r.opts.progress == nil && r.metrics == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.opts.progressEvery)
		defer t.Stop()
		rows := rateMeter{window: 10 * time.Second}
		prev := r.snapshot()
		for {
			final := false
			select {
			case <-t.C:
			case <-quit:
				final = true
			case <-ctx.Done():
				// Keep reporting: the batch in flight still finishes.
				select {
				case <-t.C:
				case <-quit:
					final = true
				}
			}
			s := r.snapshot()
			dt := s.at.Sub(prev.at)
			thr := s.throttled - prev.throttled
			rows.add(float64(s.scanned-prev.scanned), dt, thr)
			prev = s
			r.emit(s, rows.rate, final)
			if final {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// snap is the part of the runner's state the reporter needs, read at once.
type snap struct {
	at        time.Time
	rows      int64
	scanned   int64
	batches   int64
	size      int
	fraction  float64
	total     int64
	throttled time.Duration
	waiting   bool
	sweeping  bool
}

func (r *runner) snapshot() snap {
	now := r.opts.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := snap{at: now, rows: r.rowsDone, scanned: r.scanned, batches: r.batches, size: r.size, throttled: r.throttled}
	if !r.waitSince.IsZero() {
		s.waiting = true
		s.throttled += now.Sub(r.waitSince)
	}
	est := estimateProgress(progressInput{walked: r.scanned, estimate: r.total, position: r.positionLocked(), finished: r.finished})
	s.fraction, s.total = est.fraction, est.total
	s.sweeping = r.cursor != nil && r.cursor.Sweep
	return s
}

// positionLocked is how far the cursor is through the range frozen at the
// start: by key for a single integer key, by pages for ctid ranges; -1
// when the key gives no measure (text, uuid, composite keys).
func (r *runner) positionLocked() float64 {
	switch {
	case r.cursor == nil:
		return 0
	case r.key == nil:
		if r.cursor.Sweep || r.hi.Pages == 0 {
			return 0.999
		}
		return float64(r.cursor.Page) / float64(r.hi.Pages)
	case r.intKey && len(r.hi.Lo) == 1 && len(r.cursor.Key) == 1:
		lo, err1 := strconv.ParseFloat(r.hi.Lo[0], 64)
		hi, err2 := strconv.ParseFloat(r.hi.Hi[0], 64)
		cur, err3 := strconv.ParseFloat(r.cursor.Key[0], 64)
		if err1 == nil && err2 == nil && err3 == nil && hi > lo {
			return math.Min(1, math.Max(0, (cur-lo+1)/(hi-lo+1)))
		}
	}
	return -1
}

// progressInput is what the progress estimate is made from.
type progressInput struct {
	walked   int64   // rows walked past, over all runs
	estimate int64   // the planner's estimate of the rows to walk (reltuples); 0: none
	position float64 // of the cursor in the frozen range, 0 to 1; < 0: unknown
	finished bool
}

// progressEstimate is what the reports show: the fraction done and the
// rows expected in all, consistent with each other, never below the rows
// walked, never 100 % before the end.
type progressEstimate struct {
	fraction float64
	total    int64 // 0: unknown
}

// estimateProgress counts rows, not key space: keys are rarely dense (an
// identity that jumped, a few far outliers), so the key position showed
// 1.7 % on a nearly finished job. While the row estimate holds (fewer rows
// walked than estimated) the fraction is rows walked over the estimate.
// Once more rows were walked than estimated (rows inserted into the range
// during the job, stale statistics), the estimate is known to be wrong and
// the position in the frozen range is the measure left; without one the
// size is unknown and the job near its end.
func estimateProgress(in progressInput) progressEstimate {
	const notDone = 0.999
	switch {
	case in.finished:
		return progressEstimate{fraction: 1, total: in.walked}
	case in.walked <= 0:
		return progressEstimate{fraction: math.Max(0, math.Min(notDone, in.position)), total: max(in.estimate, 0)}
	case in.estimate > in.walked:
		f := math.Min(notDone, float64(in.walked)/float64(in.estimate))
		return progressEstimate{fraction: f, total: in.estimate}
	case in.position > 0:
		f := math.Min(notDone, in.position)
		return progressEstimate{fraction: f, total: max(int64(math.Round(float64(in.walked)/f)), in.walked+1)}
	case in.estimate > 0:
		return progressEstimate{fraction: notDone} // past the estimate, nothing else to go by
	}
	return progressEstimate{} // no estimate, no position: nothing known
}

// eta is the time the rows still to walk take at the recent rate of rows
// walked (throttled time left out): unknown in the first seconds, before
// 0.1 % is done, or without a row count to go by.
func eta(done, total int64, fraction, rowRate float64, elapsed time.Duration) (time.Duration, bool) {
	if rowRate <= 0 || fraction < 0.001 || elapsed < 5*time.Second || total <= done {
		return 0, false
	}
	return time.Duration(float64(total-done) / rowRate * float64(time.Second)), true
}

func (r *runner) emit(s snap, rowRate float64, final bool) {
	p := Progress{
		JobID:     r.job.ID,
		Table:     r.tbl.name,
		Done:      s.scanned,
		Total:     s.total,
		Fraction:  s.fraction,
		Rows:      s.rows,
		Batches:   s.batches,
		Rate:      rowRate,
		BatchSize: s.size,
		Elapsed:   s.at.Sub(r.start),
		Throttled: s.throttled,
		State:     "running",
		Final:     final,
	}
	if s.sweeping {
		p.State = "sweeping"
	}
	if g := r.opts.gate; g != nil {
		st := g.Status()
		r.metrics.gate(st)
		if st.Throttled && (s.waiting || !final) {
			p.State, p.Reason = "throttled", st.Reason
		}
		p.LagKnown = true
		for _, rd := range st.Readings {
			if p.LagSource == "" || (!rd.Known && p.LagKnown) || (rd.Known && p.LagKnown && rd.Lag > p.Lag) {
				p.LagSource, p.Lag, p.LagKnown = rd.Source, rd.Lag, rd.Known
			}
		}
		if p.LagSource == "" {
			p.LagKnown = false
		}
	}
	if final {
		p.State = "stopped"
		if p.Fraction >= 1 {
			p.State = "done"
		}
	}
	p.ETA, p.ETAKnown = eta(p.Done, p.Total, p.Fraction, rowRate, p.Elapsed)
	if r.opts.progress != nil {
		r.opts.progress(p)
	}
}
