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
		fmt.Fprintf(&b, "%d/%d %s", p.Done, p.Total, Percent(p.Fraction))
	} else {
		fmt.Fprintf(&b, "%d rows %s", p.Done, Percent(p.Fraction))
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
		frac := rateMeter{window: 10 * time.Second}
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
			frac.add(s.fraction-prev.fraction, dt, thr)
			prev = s
			r.emit(s, rows.rate, frac.rate, final)
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
	s.fraction = r.fractionLocked()
	s.sweeping = r.cursor != nil && r.cursor.Sweep
	return s
}

// fractionLocked estimates how much of the job is done: by key space for a
// single integer key, by pages for ctid ranges, else by rows walked against
// the planner's row estimate.
func (r *runner) fractionLocked() float64 {
	switch {
	case r.finished:
		return 1
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
	if r.total <= 0 {
		return 0
	}
	return math.Min(0.999, float64(r.scanned)/float64(r.total))
}

func (r *runner) emit(s snap, rowRate, fracRate float64, final bool) {
	p := Progress{
		JobID:     r.job.ID,
		Table:     r.tbl.name,
		Done:      s.scanned,
		Total:     r.total,
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
	if fracRate > 0 && p.Fraction >= 0.001 && p.Elapsed >= 5*time.Second {
		p.ETA = time.Duration((1 - p.Fraction) / fracRate * float64(time.Second))
		p.ETAKnown = true
	}
	if r.opts.progress != nil {
		r.opts.progress(p)
	}
}
