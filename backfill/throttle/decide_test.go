package throttle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testConfig(t *testing.T) *Config {
	t.Helper()
	cfg := Config{Now: func() time.Time { return t0 }}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func standby(name string, lag time.Duration, at time.Time) Reading {
	return Reading{Source: name, Lag: lag, Known: true, At: at, kind: kindStandby}
}

// run feeds the same readings to s every 100 ms, as the decider does, from
// *now up to end, moving their timestamps along so they stay fresh.
func run(cfg *Config, s *state, now *time.Time, end time.Time, rs ...Reading) {
	for ; !now.After(end); *now = now.Add(decideEvery) {
		for i := range rs {
			rs[i].At = *now
		}
		s.update(cfg, rs, *now)
	}
	*now = end
}

func openState(cfg *Config, now time.Time) state {
	s := newState(now)
	s.update(cfg, []Reading{standby("s1", 0, now)}, now)
	return s
}

func TestHysteresis(t *testing.T) {
	cfg := testConfig(t) // MaxLag 1.5s, ResumeLag 750ms, ResumeStable 2s
	now := t0
	s := openState(cfg, now)
	if s.throttled {
		t.Fatalf("healthy start: throttled (%s)", s.reason)
	}

	now = now.Add(100 * time.Millisecond)
	if !s.update(cfg, []Reading{standby("s1", 2310*time.Millisecond, now)}, now) {
		t.Fatal("lag above MaxLag: not reported as entering the throttled state")
	}
	if want := "s1 replay lag 2.31s > 1.5s"; !s.throttled || s.reason != want {
		t.Fatalf("throttled=%v reason %q, want %q", s.throttled, s.reason, want)
	}

	// Between ResumeLag and MaxLag: not enough to throttle an open gate,
	// not low enough to reopen a throttled one, however long it lasts.
	run(cfg, &s, &now, now.Add(time.Minute), standby("s1", time.Second, now))
	if !s.throttled {
		t.Fatal("reopened while lag was still above ResumeLag")
	}
	if !strings.Contains(s.reason, "s1 replay lag 1s >= resume 750ms") {
		t.Errorf("reason %q does not explain what the gate waits for", s.reason)
	}

	// Clear, but not for long enough, then a blip restarts the window.
	run(cfg, &s, &now, now.Add(1900*time.Millisecond), standby("s1", 100*time.Millisecond, now))
	if !s.throttled {
		t.Fatal("reopened before ResumeStable")
	}
	run(cfg, &s, &now, now.Add(100*time.Millisecond), standby("s1", 800*time.Millisecond, now))
	run(cfg, &s, &now, now.Add(1900*time.Millisecond), standby("s1", 100*time.Millisecond, now))
	if !s.throttled {
		t.Fatal("a reading above ResumeLag did not restart the stable window")
	}
	run(cfg, &s, &now, now.Add(200*time.Millisecond), standby("s1", 100*time.Millisecond, now))
	if s.throttled {
		t.Fatalf("still throttled after ResumeStable below ResumeLag: %s", s.reason)
	}

	// Once open, lag between the thresholds does not throttle.
	run(cfg, &s, &now, now.Add(10*time.Second), standby("s1", 1400*time.Millisecond, now))
	if s.throttled {
		t.Fatalf("open gate throttled below MaxLag: %s", s.reason)
	}
}

func TestByteLag(t *testing.T) {
	cfg := testConfig(t)
	now := t0
	s := openState(cfg, now)
	r := standby("s1", 0, now)
	r.Bytes = 300 << 20
	s.update(cfg, []Reading{r}, now)
	if want := "s1 byte lag 300.0MiB > 256.0MiB"; !s.throttled || s.reason != want {
		t.Fatalf("throttled=%v reason %q, want %q", s.throttled, s.reason, want)
	}
	// Reopening needs the bytes below half the limit, too.
	r.Bytes = 200 << 20
	run(cfg, &s, &now, now.Add(5*time.Second), r)
	if !s.throttled {
		t.Fatal("reopened with byte lag above MaxLagBytes/2")
	}
	r.Bytes = 100 << 20
	run(cfg, &s, &now, now.Add(2100*time.Millisecond), r)
	if s.throttled {
		t.Fatalf("still throttled: %s", s.reason)
	}
}

func TestFailClosed(t *testing.T) {
	cfg := testConfig(t)
	for _, tc := range []struct {
		name   string
		r      Reading
		key    string
		reason string
	}{
		{"stale", standby("s1", 0, t0.Add(-time.Second)), "s1 stale", "s1 reading stale (1s old)"},
		{"never read", Reading{Source: "s1", Known: true}, "s1 stale", "s1 reading stale"},
		{"missing", standbyReading("s1", nil, 100, newWALHistory(time.Minute), t0),
			"s1 missing", "s1 missing from pg_stat_replication"},
		{"query error", Reading{Source: "s1", Err: errors.New("connection refused"), At: t0},
			"s1 unknown", "s1 connection refused"},
		{"unknown without error", Reading{Source: "s1", At: t0}, "s1 unknown", "s1 unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t0.Add(-time.Minute))
			s.starting = false
			s.open(t0.Add(-time.Minute))
			if !s.update(cfg, []Reading{tc.r}, t0) {
				t.Fatal("did not throttle")
			}
			if s.key != tc.key || !strings.HasPrefix(s.reason, tc.reason) {
				t.Errorf("key %q reason %q, want %q and %q...", s.key, s.reason, tc.key, tc.reason)
			}
		})
	}
}

func TestStandbyReading(t *testing.T) {
	hist := newWALHistory(time.Minute)
	hist.add(t0, 1000)
	hist.add(t0.Add(time.Second), 2000)
	hist.add(t0.Add(2*time.Second), 3000)
	now := t0.Add(3 * time.Second)
	ptr := func(s string) *string { return &s }
	lsn := func(n int64) *int64 { return &n }
	dur := func(d time.Duration) *time.Duration { return &d }
	streaming := ptr("streaming")

	for _, tc := range []struct {
		name  string
		w     walsender
		known bool
		lag   time.Duration
		bytes int64
	}{
		// P1: NULL replay_lag is zero only for a standby with nothing left to replay...
		{"null lag, caught up", walsender{state: streaming, replayLSN: lsn(3000)}, true, 0, 0},
		// ...and otherwise the WAL history says how long it has been behind.
		{"null lag, behind", walsender{state: streaming, replayLSN: lsn(1500)}, true, 2 * time.Second, 1500},
		{"replay_lag larger than the estimate", walsender{state: streaming, replayLSN: lsn(2500), replayLag: dur(4 * time.Second)}, true, 4 * time.Second, 500},
		{"estimate larger than a stale replay_lag", walsender{state: streaming, replayLSN: lsn(1500), replayLag: dur(time.Millisecond)}, true, 2 * time.Second, 1500},
		{"stale replay_lag once caught up", walsender{state: streaming, replayLSN: lsn(3000), replayLag: dur(9 * time.Second)}, true, 0, 0},
		{"catchup", walsender{state: ptr("catchup"), replayLSN: lsn(3000)}, false, 0, 0},
		{"no privilege", walsender{replayLSN: lsn(3000)}, false, 0, 0},
		{"no replay position", walsender{state: streaming}, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.w.name = "s1"
			r := standbyReading("s1", []walsender{{name: "other", state: ptr("catchup")}, tc.w}, 3000, hist, now)
			if r.Known != tc.known || r.Lag != tc.lag || r.Bytes != tc.bytes {
				t.Errorf("got known=%v lag=%s bytes=%d err=%v, want known=%v lag=%s bytes=%d",
					r.Known, r.Lag, r.Bytes, r.Err, tc.known, tc.lag, tc.bytes)
			}
			if !r.Known && r.Err == nil {
				t.Error("unknown reading without an error to explain it")
			}
		})
	}

	t.Run("two walsenders, one name", func(t *testing.T) {
		ws := []walsender{
			{name: "s1", state: streaming, replayLSN: lsn(3000)},
			{name: "s1", state: streaming, replayLSN: lsn(1500)},
		}
		if r := standbyReading("s1", ws, 3000, hist, now); r.Lag != 2*time.Second {
			t.Errorf("lag %s, want the worse walsender's 2s", r.Lag)
		}
		ws[1].state = ptr("startup")
		if r := standbyReading("s1", ws, 3000, hist, now); r.Known {
			t.Error("an unknown walsender did not make the standby unknown")
		}
	})
}

func TestWALHistory(t *testing.T) {
	h := newWALHistory(time.Minute)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	h.add(at(0), 100)
	h.add(at(1), 200)
	h.add(at(1.5), 200) // idle: the primary was at 200 since 1s, not 1.5s
	h.add(at(2), 300)
	h.add(at(2.5), 300)

	for _, tc := range []struct {
		replay int64
		now    float64
		want   time.Duration
	}{
		{300, 3, 0},               // caught up
		{400, 3, 0},               // ahead of the last sample: nothing seen to be behind on
		{250, 3, time.Second},     // WAL past 250 exists since the 300 sample
		{200, 3, time.Second},     // at 200 exactly: behind since WAL went past it
		{150, 3, 2 * time.Second}, // behind since the 200 sample, not the idle repeat
		{50, 3, 3 * time.Second},  // older than the history: its age is a lower bound
		{250, 1.9, 0},             // a sample newer than now (clock step) is no lag
		{150, 63, 62 * time.Second},
	} {
		if got := h.lag(tc.replay, at(tc.now)); got != tc.want {
			t.Errorf("lag(%d) at %gs = %s, want %s", tc.replay, tc.now, got, tc.want)
		}
	}

	// Pruning keeps the newest sample older than the window, so a standby
	// stuck through a long idle period still shows its age.
	h.add(at(600), 300)
	h.add(at(601), 400)
	if len(h.samples) != 2 {
		t.Fatalf("kept %d samples, want the 300 and 400 samples", len(h.samples))
	}
	if got := h.lag(250, at(602)); got != 600*time.Second {
		t.Errorf("after pruning, lag = %s, want 600s", got)
	}

	// A primary that went backwards is another WAL stream.
	h.add(at(700), 10)
	if len(h.samples) != 1 || h.lag(5, at(701)) != time.Second {
		t.Errorf("history not reset after the LSN went backwards: %v", h.samples)
	}
}

// TestStuckReplayLittleWAL is the case replay_lag and byte lag both miss:
// replay is paused and the primary writes a few hundred bytes per second.
func TestStuckReplayLittleWAL(t *testing.T) {
	cfg := testConfig(t)
	hist := newWALHistory(time.Minute)
	now := t0
	streaming := "streaming"
	replayed := int64(5000)
	primaryLSN := int64(5000)
	poll := func() Reading {
		hist.add(now, primaryLSN)
		// The walsender shows a tiny, stale replay_lag, as in backfill.md
		// experiment C.
		stale := 480 * time.Microsecond
		return standbyReading("s1", []walsender{{name: "s1", state: &streaming, replayLSN: &replayed, replayLag: &stale}}, primaryLSN, hist, now)
	}
	s := newState(now)
	s.update(cfg, []Reading{poll()}, now)
	if s.throttled {
		t.Fatalf("caught-up standby throttled: %s", s.reason)
	}

	// Idle primary: replay paused does not matter, nothing is waiting.
	for range 40 {
		now = now.Add(250 * time.Millisecond)
		s.update(cfg, []Reading{poll()}, now)
	}
	if s.throttled {
		t.Fatalf("idle primary with paused replay throttled: %s", s.reason)
	}

	// One small write every 200 ms; the standby replays none of it.
	start := now
	for !s.throttled && now.Sub(start) < 5*time.Second {
		now = now.Add(50 * time.Millisecond)
		if now.Sub(start)%(200*time.Millisecond) == 0 {
			primaryLSN += 120
		}
		if now.Sub(start)%(250*time.Millisecond) == 0 {
			r := poll()
			s.update(cfg, []Reading{r}, now)
		}
	}
	if !s.throttled {
		t.Fatal("never throttled")
	}
	if d := now.Sub(start); d > 2*time.Second {
		t.Errorf("throttled %s after the first unreplayed write, want <= 2s", d)
	}
	if !strings.HasPrefix(s.reason, "s1 replay lag ") {
		t.Errorf("reason %q does not name the standby's replay lag", s.reason)
	}
}

func TestPauseFile(t *testing.T) {
	cfg := testConfig(t)
	now := t0
	s := openState(cfg, now)
	pause := Reading{Source: "pause file /tmp/p", Err: errPaused, At: now, kind: kindPause}
	s.update(cfg, []Reading{standby("s1", 0, now), pause}, now)
	if want := "pause file /tmp/p"; !s.throttled || s.reason != want {
		t.Fatalf("throttled=%v reason %q, want %q", s.throttled, s.reason, want)
	}
	// The operator's pause names the reason even when lag is also high.
	s.update(cfg, []Reading{standby("s1", time.Hour, now), pause}, now)
	if s.reason != "pause file /tmp/p" {
		t.Errorf("reason %q, want the pause file", s.reason)
	}
	pause.Err, pause.Known = nil, true
	run(cfg, &s, &now, now.Add(2100*time.Millisecond), standby("s1", 0, now), pause)
	if s.throttled {
		t.Fatalf("still throttled after the pause file went: %s", s.reason)
	}
}

func TestMaxThrottle(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxThrottle = 10 * time.Second
	now := t0
	s := openState(cfg, now)
	run(cfg, &s, &now, now.Add(9900*time.Millisecond), standby("s1", 2*time.Second, now))
	if s.err != nil {
		t.Fatalf("err before MaxThrottle: %v", s.err)
	}
	// Dipping below MaxLag does not end the episode: the gate is still shut.
	run(cfg, &s, &now, now.Add(200*time.Millisecond), standby("s1", time.Second, now))
	if !errors.Is(s.err, ErrThrottledTooLong) {
		t.Fatalf("err = %v, want ErrThrottledTooLong", s.err)
	}
	run(cfg, &s, &now, now.Add(2100*time.Millisecond), standby("s1", 0, now))
	if s.throttled || s.err != nil {
		t.Fatalf("throttled=%v err=%v after recovering", s.throttled, s.err)
	}
}

func TestSlots(t *testing.T) {
	cfg := testConfig(t)
	str := func(s string) *string { return &s }
	lsn := func(n int64) *int64 { return &n }
	cur := int64(3 << 30)

	r := slotReading(slot{name: "cdc", walStatus: str("extended"), restartLSN: lsn(cur - 1536<<20)}, cur, t0)
	s := openState(cfg, t0)
	s.update(cfg, []Reading{r}, t0)
	if want := "slot cdc retains 1.5GiB > 1.0GiB"; !s.throttled || s.reason != want || s.err != nil {
		t.Fatalf("throttled=%v reason %q err %v, want %q", s.throttled, s.reason, s.err, want)
	}

	for _, status := range []string{"unreserved", "lost"} {
		r := slotReading(slot{name: "cdc", walStatus: str(status)}, cur, t0)
		s := openState(cfg, t0)
		s.update(cfg, []Reading{standby("s1", time.Hour, t0), r}, t0)
		if !s.throttled || !errors.Is(s.err, ErrSlotLost) || !strings.Contains(s.err.Error(), `"cdc"`) {
			t.Errorf("%s: throttled=%v err=%v, want ErrSlotLost naming the slot", status, s.throttled, s.err)
		}
	}

	// PostgreSQL 12 has no wal_status; the slot is still measured.
	r = slotReading(slot{name: "cdc", restartLSN: lsn(cur - 10)}, cur, t0)
	if !r.Known || r.Bytes != 10 {
		t.Errorf("slot without wal_status: %+v", r)
	}
}

func TestStarting(t *testing.T) {
	cfg := testConfig(t)
	now := t0
	s := newState(now)
	if !s.throttled {
		t.Fatal("a gate with no readings is open")
	}
	// Not read yet is not lag: once the readings arrive and are fine, the
	// gate opens without waiting out ResumeStable.
	hb := Reading{Source: "replica r1", Err: errNotRead, At: now, kind: kindHeartbeat}
	s.update(cfg, []Reading{standby("s1", 0, now), hb}, now)
	if !s.throttled {
		t.Fatal("open with an unread replica")
	}
	now = now.Add(250 * time.Millisecond)
	hb = Reading{Source: "replica r1", Known: true, Lag: time.Second, At: now, kind: kindHeartbeat}
	if entered := s.update(cfg, []Reading{standby("s1", 0, now), hb}, now); entered || s.throttled {
		t.Fatalf("entered=%v throttled=%v (%s), want open", entered, s.throttled, s.reason)
	}

	// Real lag at start, on the other hand, is waited out like any other.
	s = newState(now)
	s.update(cfg, []Reading{standby("s1", 3*time.Second, now)}, now)
	run(cfg, &s, &now, now.Add(time.Second), standby("s1", 0, now))
	if !s.throttled {
		t.Fatal("lag seen at start did not need ResumeStable to clear")
	}
}

func TestAccounting(t *testing.T) {
	cfg := testConfig(t)
	now := t0
	s := openState(cfg, now)
	run(cfg, &s, &now, now.Add(3*time.Second), standby("s1", 2*time.Second, now))
	run(cfg, &s, &now, now.Add(4*time.Second), standby("s1", 0, now), Reading{Source: "s2", At: now})
	run(cfg, &s, &now, now.Add(5*time.Second), standby("s1", 0, now), standby("s2", 0, now))
	if s.throttled {
		t.Fatal("still throttled")
	}
	// The 2 s of recovery count towards the reason being recovered from.
	want := map[string]time.Duration{"s1 lag": 3 * time.Second, "s2 unknown": 6 * time.Second}
	for k, d := range want {
		if got := s.byReason[k]; got < d-200*time.Millisecond || got > d+200*time.Millisecond {
			t.Errorf("byReason[%q] = %s, want ~%s (all: %v)", k, got, d, s.byReason)
		}
	}
	if s.total < 8800*time.Millisecond || s.total > 9200*time.Millisecond {
		t.Errorf("total %s, want ~9s", s.total)
	}
}

// newTestGate returns a gate with no collectors, driven by hand.
func newTestGate(t *testing.T, cfg Config) (*Gate, *time.Time) {
	t.Helper()
	now := t0
	cfg.Now = func() time.Time { return now }
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	g := &Gate{cfg: cfg, groups: map[string][]Reading{}, st: newState(now), wake: make(chan struct{}), cancel: func() {}}
	return g, &now
}

func TestGateWait(t *testing.T) {
	g, now := newTestGate(t, Config{})
	var mu sync.Mutex
	var hooked []string
	g.OnThrottle(func(reason string) {
		mu.Lock()
		hooked = append(hooked, reason)
		mu.Unlock()
	})
	set := func(lag time.Duration) {
		g.publish("primary", []Reading{standby("s1", lag, *now)})
		g.decide()
	}
	set(0)
	ctx := context.Background()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("open gate: %v", err)
	}

	set(2 * time.Second)
	done := make(chan error, 1)
	go func() { done <- g.Wait(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v while throttled", err)
	case <-time.After(50 * time.Millisecond):
	}
	for range 25 {
		*now = now.Add(100 * time.Millisecond)
		set(0)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after reopening: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the gate reopened")
	}
	mu.Lock()
	if len(hooked) != 1 || hooked[0] != "s1 replay lag 2s > 1.5s" {
		t.Errorf("OnThrottle calls: %q", hooked)
	}
	mu.Unlock()

	st := g.Status()
	if st.Throttled || st.ThrottledTotal < 2*time.Second || len(st.Readings) != 1 {
		t.Errorf("status %+v", st)
	}

	cctx, cancel := context.WithCancel(ctx)
	set(time.Hour)
	cancel()
	if err := g.Wait(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a canceled context = %v", err)
	}

	*now = now.Add(30 * time.Minute)
	set(time.Hour)
	if err := g.Wait(ctx); !errors.Is(err, ErrThrottledTooLong) {
		t.Errorf("Wait after MaxThrottle = %v", err)
	}

	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v", err)
	}
}

func TestGatePauseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pause")
	g, now := newTestGate(t, Config{PauseFile: path})
	g.publish("primary", []Reading{standby("s1", 0, *now)})
	g.decide()
	if st := g.Status(); st.Throttled {
		t.Fatalf("throttled without the pause file: %s", st.Reason)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.decide()
	if st := g.Status(); !st.Throttled || st.Reason != "pause file "+path {
		t.Fatalf("throttled=%v reason %q", st.Throttled, st.Reason)
	}
}

func TestConfigDefaults(t *testing.T) {
	var cfg Config
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxLag != 1500*time.Millisecond || cfg.ResumeLag != 750*time.Millisecond || cfg.ResumeStable != 2*time.Second ||
		cfg.MaxLagBytes != 256<<20 || cfg.MaxThrottle != 30*time.Minute || cfg.MaxSlotLagBytes != 1<<30 ||
		cfg.PollInterval != 250*time.Millisecond || cfg.Now == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = Config{MaxLag: time.Second, ResumeLag: 2 * time.Second}
	if err := cfg.setDefaults(); err == nil {
		t.Error("ResumeLag above MaxLag accepted")
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2314 * time.Millisecond: "2.31s",
		1500 * time.Millisecond: "1.5s",
		750 * time.Millisecond:  "750ms",
		90 * time.Second:        "1m30s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%s) = %q, want %q", d, got, want)
		}
	}
	if got := fmtAbove(1004*time.Millisecond, time.Second); got != "1.01s" {
		t.Errorf("fmtAbove(1.004s, 1s) = %q, want 1.01s", got)
	}
	if got := fmtAbove(2314*time.Millisecond, time.Second); got != "2.31s" {
		t.Errorf("fmtAbove(2.314s, 1s) = %q, want 2.31s", got)
	}
	for n, want := range map[int64]string{512: "512B", 1536: "1.5KiB", 256 << 20: "256.0MiB", 3 << 30: "3.0GiB"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
