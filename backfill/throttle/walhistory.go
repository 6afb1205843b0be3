package throttle

import (
	"sort"
	"time"
)

// walSample records when the gate first saw the primary's WAL at lsn.
type walSample struct {
	at  time.Time
	lsn int64
}

// walHistory turns a standby's replay position into a time lag without
// trusting anything the standby reports about time. replay_lag is only
// refreshed when the standby replies and is interpolated while replay is
// stuck, and byte lag says nothing about time when little WAL is written;
// the age of the oldest WAL the standby has not replayed, measured on the
// gate's own clock, has neither problem.
type walHistory struct {
	samples []walSample // strictly increasing lsn, so sorted by both fields
	keep    time.Duration
}

func newWALHistory(keep time.Duration) *walHistory {
	return &walHistory{keep: keep}
}

// add records the primary's current LSN as observed at time at.
func (h *walHistory) add(at time.Time, lsn int64) {
	n := len(h.samples)
	switch {
	case n > 0 && lsn == h.samples[n-1].lsn:
		// Only the first sight of an LSN matters: later samples at the same
		// position would make an idle period look like fresh WAL.
		return
	case n > 0 && lsn < h.samples[n-1].lsn:
		// The primary went backwards (a failover to another timeline): the
		// old history describes a different WAL stream.
		h.samples = h.samples[:0]
	}
	h.samples = append(h.samples, walSample{at: at, lsn: lsn})

	// Drop samples older than keep, except the newest of them: it bounds
	// the age of everything before it, so a standby stuck behind the whole
	// history still shows a lag of at least keep.
	old := 0
	for old < len(h.samples) && at.Sub(h.samples[old].at) > h.keep {
		old++
	}
	if old > 1 {
		h.samples = append(h.samples[:0], h.samples[old-1:]...)
	}
}

// lag returns how long WAL beyond replayLSN has existed on the primary, as
// of now: the time since the first sample past replayLSN. The true lag can
// exceed it by up to one sampling interval, and when even the oldest kept
// sample is past replayLSN the result is the age of that sample, a lower
// bound. A standby at or beyond the newest sample has nothing to replay.
func (h *walHistory) lag(replayLSN int64, now time.Time) time.Duration {
	i := sort.Search(len(h.samples), func(i int) bool { return h.samples[i].lsn > replayLSN })
	if i == len(h.samples) {
		return 0
	}
	return max(now.Sub(h.samples[i].at), 0)
}
