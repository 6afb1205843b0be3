package throttle

import (
	"errors"
	"fmt"
	"time"
)

// kind says which thresholds apply to a Reading.
type kind uint8

const (
	kindStandby   kind = iota // Lag against MaxLag, Bytes against MaxLagBytes
	kindHeartbeat             // Lag against MaxLag
	kindSlot                  // Bytes against MaxSlotLagBytes
	kindPause                 // throttles unless Known, i.e. the file is absent
)

// errPaused marks the pause-file reading while the file exists.
var errPaused = errors.New("exists")

// verdict is how one reading bears on the decision.
type verdict struct {
	over   bool    // throttle now
	clear  bool    // low enough to count towards resuming
	rank   int     // which over reading names the reason: higher wins...
	ratio  float64 // ...then the one furthest above its threshold
	key    string  // stable name for per-reason accounting
	reason string
}

const (
	rankLag = iota + 1
	rankUnknown
	rankPause
	rankSlotLost
)

// judge compares one reading with the thresholds. Anything that is not a
// fresh, known value is over: a lag nobody can read might be any size.
func judge(cfg *Config, r Reading, now time.Time) verdict {
	src := r.Source
	if age := now.Sub(r.At); r.At.IsZero() || age > 3*cfg.PollInterval {
		return verdict{over: true, rank: rankUnknown, key: src + " stale",
			reason: fmt.Sprintf("%s reading stale (%s old)", src, fmtDur(age))}
	}
	if !r.Known {
		v := verdict{over: true, rank: rankUnknown, key: src + " unknown", reason: src + " unknown"}
		switch {
		case r.kind == kindPause:
			v.rank, v.key = rankPause, src
			if errors.Is(r.Err, errPaused) {
				v.reason = src
			} else {
				v.reason = fmt.Sprintf("%s: %v", src, r.Err)
			}
		case errors.Is(r.Err, ErrSlotLost):
			v.rank, v.key, v.reason = rankSlotLost, src+" lost", r.Err.Error()
		case errors.Is(r.Err, errMissing):
			v.key, v.reason = src+" missing", fmt.Sprintf("%s %v", src, r.Err)
		case r.Err != nil:
			v.reason = fmt.Sprintf("%s %v", src, r.Err)
		}
		return v
	}

	var maxBytes int64
	noun := "replay lag"
	switch r.kind {
	case kindStandby:
		maxBytes = cfg.MaxLagBytes
	case kindHeartbeat:
		noun = "heartbeat lag"
	case kindSlot:
		maxBytes = cfg.MaxSlotLagBytes
	case kindPause:
		return verdict{clear: true}
	}

	v := verdict{clear: r.Lag < cfg.ResumeLag && (maxBytes == 0 || r.Bytes < maxBytes/2)}
	if r.kind != kindSlot && r.Lag > cfg.MaxLag {
		v.over, v.rank, v.key = true, rankLag, src+" lag"
		v.ratio = float64(r.Lag) / float64(cfg.MaxLag)
		v.reason = fmt.Sprintf("%s %s %s > %s", src, noun, fmtAbove(r.Lag, cfg.MaxLag), fmtDur(cfg.MaxLag))
	}
	if maxBytes > 0 && r.Bytes > maxBytes {
		if ratio := float64(r.Bytes) / float64(maxBytes); !v.over || ratio > v.ratio {
			v.over, v.rank, v.key, v.ratio = true, rankLag, src+" bytes", ratio
			v.reason = fmt.Sprintf("%s %s > %s", src, bytesNoun(r.kind, r.Bytes), fmtBytes(maxBytes))
		}
	}
	if !v.clear && !v.over {
		// Between the resume and the pause thresholds: explain why a
		// throttled gate has not reopened yet.
		if r.kind != kindSlot && r.Lag >= cfg.ResumeLag {
			v.reason = fmt.Sprintf("%s %s %s >= resume %s", src, noun, fmtDur(r.Lag), fmtDur(cfg.ResumeLag))
		} else {
			v.reason = fmt.Sprintf("%s %s >= resume %s", src, bytesNoun(r.kind, r.Bytes), fmtBytes(maxBytes/2))
		}
	}
	return v
}

// state is the gate's decision and its bookkeeping. update is its only
// mutator and does no I/O, so the whole policy is testable with synthetic
// readings and a fake clock.
type state struct {
	throttled bool
	starting  bool // nothing has been judged yet; see update
	reason    string
	key       string    // accounting key of the current throttle episode
	since     time.Time // start of the current open or throttled period
	clearAt   time.Time // since when every reading has been clear; zero if not
	last      time.Time // previous update
	total     time.Duration
	byReason  map[string]time.Duration
	err       error // what Wait must return instead of waiting
}

// newState returns the state of a gate that has not read anything yet:
// throttled, since nothing is known.
func newState(now time.Time) state {
	return state{
		throttled: true,
		starting:  true,
		reason:    "waiting for first readings",
		key:       "starting",
		since:     now,
		last:      now,
		byReason:  make(map[string]time.Duration),
	}
}

// update judges the latest readings at time now. It reports whether the
// gate just went from open to throttled.
//
// The gate throttles as soon as any reading is over its threshold, but
// reopens only after every reading has stayed clear (below ResumeLag and
// half the byte limits) for ResumeStable, so that it does not flap around
// the threshold and send the next batches straight back into the lag.
func (s *state) update(cfg *Config, readings []Reading, now time.Time) (entered bool) {
	if s.throttled {
		d := max(now.Sub(s.last), 0)
		s.total += d
		s.byReason[s.key] += d
	}
	s.last = now

	var worst, pending verdict
	allClear := true
	knownOver := false
	s.err = nil
	for _, r := range readings {
		v := judge(cfg, r, now)
		if v.over && (!worst.over || v.rank > worst.rank || v.rank == worst.rank && v.ratio > worst.ratio) {
			worst = v
		}
		if v.over && v.rank == rankLag {
			knownOver = true
		}
		if !v.clear && !v.over && pending.reason == "" {
			pending = v
		}
		allClear = allClear && v.clear
		if v.rank == rankSlotLost {
			s.err = r.Err
		}
	}

	switch {
	case worst.over:
		entered = !s.throttled
		if entered {
			s.since = now
		}
		if s.starting && knownOver {
			// Real lag at start: from now on reopening needs the full
			// hysteresis like any other throttle episode.
			s.starting = false
		}
		s.throttled, s.reason, s.key, s.clearAt = true, worst.reason, worst.key, time.Time{}
	case !s.throttled:
	case s.starting:
		// Readings that were merely not there yet are not lag; there is
		// nothing to wait out.
		s.open(now)
	case !allClear:
		s.clearAt = time.Time{}
		s.reason = fmt.Sprintf("recovering from %s: %s", s.key, pending.reason)
	default:
		if s.clearAt.IsZero() {
			s.clearAt = now
		}
		if stable := now.Sub(s.clearAt); stable >= cfg.ResumeStable {
			s.open(now)
		} else {
			s.reason = fmt.Sprintf("recovering from %s: all clear for %s of %s", s.key, fmtDur(stable), fmtDur(cfg.ResumeStable))
		}
	}

	if s.err == nil && s.throttled && now.Sub(s.since) >= cfg.MaxThrottle {
		s.err = fmt.Errorf("%w (%s): %s", ErrThrottledTooLong, fmtDur(now.Sub(s.since)), s.reason)
	}
	return entered
}

func (s *state) open(now time.Time) {
	s.throttled, s.starting = false, false
	s.reason, s.key = "", ""
	s.since, s.clearAt = now, time.Time{}
}

// fmtAbove formats d, which exceeds limit, so that it also reads as
// exceeding it: 1.004s against 1s shows as 1.01s, not 1s.
func fmtAbove(d, limit time.Duration) string {
	if s := fmtDur(d); s != fmtDur(limit) {
		return s
	}
	step := precision(d)
	return (d.Truncate(step) + step).String()
}

func bytesNoun(k kind, n int64) string {
	if k == kindSlot {
		return "retains " + fmtBytes(n)
	}
	return "byte lag " + fmtBytes(n)
}

// fmtDur rounds for humans: "2.31s", "750ms".
func fmtDur(d time.Duration) string {
	return d.Round(precision(d)).String()
}

func precision(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return time.Second
	case d >= time.Second:
		return 10 * time.Millisecond
	default:
		return time.Millisecond
	}
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}
