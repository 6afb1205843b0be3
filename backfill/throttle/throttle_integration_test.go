package throttle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/backfill/throttle"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cluster starts a primary and a streaming standby with a table to write to.
func cluster(t *testing.T, opts pgtest.Options) (*pgtest.Cluster, *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL servers")
	}
	c := pgtest.Start(t, opts)
	c.RequireStandby(t)
	ctx := context.Background()
	pool, err := c.Primary.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "CREATE TABLE throttle_it (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), pad text)"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	return c, pool
}

// writeSlowly inserts one small row every 200 ms until the test ends: a
// primary writing far too little for byte lag to notice a stalled standby.
func writeSlowly(t *testing.T, pool *pgxpool.Pool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tick.C:
			}
			if _, err := pool.Exec(ctx, "INSERT INTO throttle_it DEFAULT VALUES"); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
	})
}

func start(t *testing.T, pool *pgxpool.Pool, cfg throttle.Config) *throttle.Gate {
	t.Helper()
	g, err := throttle.Start(context.Background(), pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// waitFor polls the gate's status until cond holds or limit passes, and
// returns how long that took.
func waitFor(t *testing.T, g *throttle.Gate, limit time.Duration, what string, cond func(throttle.Status) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st := g.Status()
		if cond(st) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("not %s within %s; status: %s", what, limit, describe(st))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holds checks that cond stays true for d.
func holds(t *testing.T, g *throttle.Gate, d time.Duration, what string, cond func(throttle.Status) bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st := g.Status(); !cond(st) {
			t.Fatalf("no longer %s; status: %s", what, describe(st))
		}
	}
}

func throttled(st throttle.Status) bool { return st.Throttled }
func open(st throttle.Status) bool      { return !st.Throttled }

func describe(st throttle.Status) string {
	var b strings.Builder
	b.WriteString("throttled=")
	if st.Throttled {
		b.WriteString("true (" + st.Reason + ")")
	} else {
		b.WriteString("false")
	}
	for _, r := range st.Readings {
		b.WriteString("; " + r.Source + ": ")
		if r.Known {
			b.WriteString(r.Lag.String())
		} else {
			b.WriteString("unknown")
		}
		if r.Err != nil {
			b.WriteString(" (" + r.Err.Error() + ")")
		}
	}
	return b.String()
}

func reading(st throttle.Status, source string) (throttle.Reading, bool) {
	for _, r := range st.Readings {
		if r.Source == source {
			return r, true
		}
	}
	return throttle.Reading{}, false
}

// TestReplayPaused needs only the primary's pool: the time lag comes from
// the primary's own WAL history, although the primary writes so little
// that byte lag stays tiny and replay_lag is stale.
func TestReplayPaused(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{})
	ctx := context.Background()
	cfg := throttle.Config{MaxLag: time.Second}
	g := start(t, pool, cfg)
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("healthy standby: %v (%s)", err, describe(g.Status()))
	}
	writeSlowly(t, pool)
	holds(t, g, time.Second, "open", open)

	if err := c.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	// Lag appears with the first write after the pause, at most 200 ms later.
	d := waitFor(t, g, 10*time.Second, "throttled", throttled)
	t.Logf("throttled %s after the pause: %s", d, g.Status().Reason)
	if d > 2*time.Second+200*time.Millisecond {
		t.Errorf("throttled %s after the pause, want within 2s of the first unreplayed write", d)
	}
	st := g.Status()
	if !strings.HasPrefix(st.Reason, c.StandbyAppName()+" replay lag ") {
		t.Errorf("reason %q does not name the standby's replay lag", st.Reason)
	}
	if r, _ := reading(st, c.StandbyAppName()); r.Bytes > 1<<20 {
		t.Errorf("byte lag %d: the test meant to write too little for bytes to matter", r.Bytes)
	}

	waitCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := g.Wait(waitCtx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while throttled = %v, want it to block", err)
	}

	if err := c.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	d = time.Since(resumed)
	t.Logf("open %s after resuming replay", d)
	// The lag reading itself takes a moment to fall below ResumeLag, so
	// reopening sooner than ResumeStable would mean no hysteresis.
	if d < 2*time.Second || d > 6*time.Second {
		t.Errorf("open %s after resuming replay, want ResumeStable (2s) plus a little", d)
	}
	st = g.Status()
	if st.ThrottledTotal < 2*time.Second || st.ThrottledByReason[c.StandbyAppName()+" lag"] == 0 {
		t.Errorf("throttle accounting: total %s, by reason %v", st.ThrottledTotal, st.ThrottledByReason)
	}
}

func TestApplyDelay(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{})
	ctx := context.Background()
	writeSlowly(t, pool)
	if err := c.SetApplyDelay(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	// The delay applies to what is committed from now on; let it settle.
	time.Sleep(4 * time.Second)

	t.Run("MaxLag 1s", func(t *testing.T) {
		g := start(t, pool, throttle.Config{MaxLag: time.Second})
		waitFor(t, g, 3*time.Second, "throttled", throttled)
		holds(t, g, 6*time.Second, "throttled", throttled)
	})
	t.Run("MaxLag 5s", func(t *testing.T) {
		g := start(t, pool, throttle.Config{MaxLag: 5 * time.Second})
		holds(t, g, 8*time.Second, "open", open)
		// The gate is open because it measured ~3s, not because it saw nothing.
		r, ok := reading(g.Status(), c.StandbyAppName())
		if !ok || !r.Known || r.Lag < 2*time.Second || r.Lag > 4500*time.Millisecond {
			t.Errorf("standby reading %+v, want a lag of about 3s", r)
		}
	})
}

func TestStandbyStopped(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{})
	ctx := context.Background()
	// Pre-flight: an expected standby that is not there refuses to start.
	_, err := throttle.Start(ctx, pool, throttle.Config{Replicas: []string{"no_such_standby"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_standby") {
		t.Fatalf("Start with an absent expected standby: %v", err)
	}

	g := start(t, pool, throttle.Config{MaxThrottle: 3 * time.Second})
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	if err := c.StopStandby(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, g, 2*time.Second, "throttled", throttled)
	want := c.StandbyAppName() + " missing from pg_stat_replication"
	if st := g.Status(); st.Reason != want {
		t.Errorf("reason %q, want %q", st.Reason, want)
	}

	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = g.Wait(waitCtx)
	if !errors.Is(err, throttle.ErrThrottledTooLong) {
		t.Fatalf("Wait = %v, want ErrThrottledTooLong", err)
	}
	if d := time.Since(stopped); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("ErrThrottledTooLong after %s, want MaxThrottle (3s) after the standby left", d)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say why", err)
	}

	// The standby coming back reopens the gate.
	if err := c.StartStandby(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, g, 10*time.Second, "open after the standby came back", open)
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("after the standby came back: %v", err)
	}
}

func TestHeartbeat(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{})
	ctx := context.Background()
	g := start(t, pool, throttle.Config{MaxLag: time.Second, ReplicaDSNs: []string{c.Standby.DSN("")}})
	hb := func(st throttle.Status) (throttle.Reading, bool) {
		for _, r := range st.Readings {
			if strings.HasPrefix(r.Source, "replica ") {
				return r, true
			}
		}
		return throttle.Reading{}, false
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := g.Wait(waitCtx); err != nil {
		t.Fatalf("heartbeat never arrived: %v (%s)", err, describe(g.Status()))
	}
	if r, ok := hb(g.Status()); !ok || !r.Known || r.Lag > time.Second {
		t.Fatalf("heartbeat reading %+v", r)
	}

	// Nothing but the heartbeat writes on the primary.
	if err := c.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, g, 3*time.Second, "throttled", throttled)
	waitFor(t, g, 3*time.Second, "throttled by the heartbeat", func(st throttle.Status) bool {
		r, _ := hb(st)
		return st.Throttled && r.Known && r.Lag > time.Second
	})

	if err := c.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// Close removes the gate's row and nothing else.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM "migrate"."heartbeat"`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d heartbeat rows left after Close", rows)
	}
}

func TestLogicalSlot(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{Logical: true})
	ctx := context.Background()
	if err := c.CreateLogicalSlot(ctx, "cdc"); err != nil {
		t.Fatal(err)
	}
	g := start(t, pool, throttle.Config{MaxSlotLagBytes: 1 << 20})
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// ~2 MiB of WAL the slot's consumer never reads.
	if _, err := pool.Exec(ctx, "INSERT INTO throttle_it (pad) SELECT repeat('x', 200) FROM generate_series(1, 8000)"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, g, 2*time.Second, "throttled", throttled)
	if st := g.Status(); !strings.HasPrefix(st.Reason, "slot cdc retains ") {
		t.Errorf("reason %q, want the slot's retained WAL", st.Reason)
	}
}

func TestLogicalSlotLost(t *testing.T) {
	c, pool := cluster(t, pgtest.Options{Logical: true, Settings: map[string]string{
		"max_slot_wal_keep_size": "1MB",
		"wal_keep_size":          "0",
	}})
	ctx := context.Background()
	if err := c.CreateLogicalSlot(ctx, "cdc"); err != nil {
		t.Fatal(err)
	}
	g := start(t, pool, throttle.Config{})
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Move the primary two WAL segments on: the slot no longer reserves
	// its WAL, and the checkpoint removes it.
	for range 2 {
		if _, err := pool.Exec(ctx, "INSERT INTO throttle_it DEFAULT VALUES"); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, g, 2*time.Second, "throttled", throttled)
	if err := g.Wait(ctx); !errors.Is(err, throttle.ErrSlotLost) {
		t.Fatalf("Wait = %v, want ErrSlotLost (%s)", err, describe(g.Status()))
	}
}
