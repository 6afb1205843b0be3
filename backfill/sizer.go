package backfill

import (
	"slices"
	"time"
)

// sizer adapts the batch size so that batches take about target each, in the
// way Spirit sizes its chunks: a p90 over ten samples, growth of at most 1.5×
// per step, a tenfold cut after one very slow batch, and feedback from
// batches run at an older size ignored (they say nothing about the new one).
type sizer struct {
	size, min, max int
	target         time.Duration
	fixed          bool
	samples        []time.Duration
}

const (
	sizerSamples   = 10
	sizerMaxGrowth = 1.5
	sizerPanic     = 5 // a batch slower than panic × target cuts the size tenfold
)

func newSizer(initial, min, max int, target time.Duration, fixed bool) *sizer {
	s := &sizer{min: min, max: max, target: target, fixed: fixed}
	s.size = s.clamp(initial)
	return s
}

func (s *sizer) clamp(n int) int {
	return max(s.min, min(s.max, n))
}

// Size is the number of rows the next batch should cover.
func (s *sizer) Size() int { return s.size }

// Feedback records that a batch of size rows took d.
func (s *sizer) Feedback(size int, d time.Duration) {
	if s.fixed || size != s.size {
		return
	}
	if d > sizerPanic*s.target {
		s.set(s.size / 10)
		return
	}
	s.samples = append(s.samples, d)
	if len(s.samples) < sizerSamples {
		return
	}
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	p90 := sorted[(len(sorted)*9+9)/10-1]
	if p90 <= 0 {
		p90 = time.Microsecond
	}
	next := float64(s.size) * float64(s.target) / float64(p90)
	next = min(next, float64(s.size)*sizerMaxGrowth)
	s.set(int(next))
}

// Cut divides the size by div at once, for a statement timeout (2) or the
// lag gate closing (2), so that the job does not return at full speed into
// the same trouble; growth back goes through the usual 1.5× steps.
func (s *sizer) Cut(div int) {
	if s.fixed {
		return
	}
	s.set(s.size / div)
}

func (s *sizer) set(n int) {
	s.size = s.clamp(n)
	s.samples = s.samples[:0]
}
