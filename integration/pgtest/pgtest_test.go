package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// As the helper we must die of the parent's signals exactly as a
		// test binary that never called Main would.
		os.Exit(m.Run())
	}
	Main(m)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, ctx context.Context, n *Node) *pgx.Conn {
	t.Helper()
	conn, err := n.Connect(ctx)
	if err != nil {
		t.Fatalf("connect %s: %v", n.Name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// byteLag is the primary's view of how far the standby's replay is behind.
func byteLag(t *testing.T, ctx context.Context, p *pgx.Conn, app string) int64 {
	t.Helper()
	var lag *int64
	err := p.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
		FROM pg_stat_replication WHERE application_name = $1`, app).Scan(&lag)
	if err != nil {
		t.Fatalf("reading byte lag: %v", err)
	}
	if lag == nil {
		t.Fatal("standby has reported no replay position")
	}
	return *lag
}

func TestRowReachesStandby(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.RequireStandby(t)
	ctx := ctxFor(t, time.Minute)
	p, s := connect(t, ctx, c.Primary), connect(t, ctx, c.Standby)

	mustExec(t, ctx, p, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	mustExec(t, ctx, p, "INSERT INTO t VALUES (1, 'from primary')")
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := s.QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
		t.Fatalf("reading the row on the standby: %v", err)
	}
	if v != "from primary" {
		t.Fatalf("standby has %q", v)
	}
	var inRecovery bool
	if err := s.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("standby pg_is_in_recovery() = %v, %v", inRecovery, err)
	}
	if _, err := s.Exec(ctx, "INSERT INTO t VALUES (2, 'x')"); err == nil {
		t.Fatal("standby accepted a write")
	}
}

func TestPauseReplayMakesLag(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.RequireStandby(t)
	ctx := ctxFor(t, 2*time.Minute)
	p, s := connect(t, ctx, c.Primary), connect(t, ctx, c.Standby)
	app := c.StandbyAppName()

	mustExec(t, ctx, p, "CREATE TABLE t (id bigserial PRIMARY KEY, pad text)")
	mustExec(t, ctx, p, "INSERT INTO t (pad) VALUES ('before')")
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	var before time.Time
	if err := s.QueryRow(ctx, "SELECT pg_last_xact_replay_timestamp()").Scan(&before); err != nil {
		t.Fatal(err)
	}

	// Keep committing while replay is paused, sampling the lag as we go.
	var lags []int64
	began := time.Now()
	for len(lags) < 4 {
		mustExec(t, ctx, p, "INSERT INTO t (pad) SELECT repeat('x', 200) FROM generate_series(1, 50)")
		if time.Since(began) >= time.Duration(len(lags))*500*time.Millisecond {
			lags = append(lags, byteLag(t, ctx, p, app))
		}
	}
	t.Logf("byte lag while paused: %v", lags)
	if lags[len(lags)-1] < 1<<20 {
		t.Errorf("byte lag only %d after 1.5s of writes with replay paused", lags[len(lags)-1])
	}
	for i := 1; i < len(lags); i++ {
		if lags[i] <= lags[i-1] {
			t.Errorf("byte lag did not grow: %v", lags)
			break
		}
	}
	var after time.Time
	var behind time.Duration
	err := s.QueryRow(ctx, "SELECT pg_last_xact_replay_timestamp()").Scan(&after)
	if err == nil {
		err = p.QueryRow(ctx, "SELECT now() - $1::timestamptz", after).Scan(&behind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("standby replayed commits while paused: last replay timestamp moved %s -> %s", before, after)
	}
	if behind < time.Second {
		t.Errorf("standby's last replayed commit is only %s behind the primary", behind)
	}
	var n int
	if err := s.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("standby sees %d rows while paused (err %v), want 1", n, err)
	}

	if err := c.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	// replay_lsn in pg_stat_replication comes from the standby's status
	// messages (every wal_receiver_status_interval), so it follows shortly.
	var lag int64
	err = poll(ctx, 50*time.Millisecond, func(context.Context) (bool, error) {
		lag = byteLag(t, ctx, p, app)
		return lag == 0, nil
	})
	if err != nil {
		t.Fatalf("byte lag still %d after resume and WaitReplayed: %v", lag, err)
	}
}

func TestPauseWithoutWritesIsNotAWait(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.RequireStandby(t)
	ctx := ctxFor(t, time.Minute)
	began := time.Now()
	if err := c.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("PauseReplay on an idle cluster took %s", time.Since(began))
	// WaitReplayed must report a paused standby rather than hang.
	mustExec(t, ctx, connect(t, ctx, c.Primary), "CREATE TABLE t ()")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := c.WaitReplayed(short)
	if err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("WaitReplayed on a paused standby = %v, want an error naming the pause", err)
	}
	if err := c.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStopAndStartStandby(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.RequireStandby(t)
	ctx := ctxFor(t, time.Minute)
	p := connect(t, ctx, c.Primary)
	replicas := func() int {
		var n int
		if err := p.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE application_name = $1",
			c.StandbyAppName()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := replicas(); n != 1 {
		t.Fatalf("%d standbys in pg_stat_replication before stopping, want 1", n)
	}

	if err := c.StopStandby(ctx); err != nil {
		t.Fatal(err)
	}
	// A fast shutdown closes the replication connection, so the row goes at once.
	if n := replicas(); n != 0 {
		t.Errorf("%d standbys in pg_stat_replication right after the stop, want 0", n)
	}
	if conn, err := c.Standby.Connect(ctx); err == nil {
		conn.Close(ctx)
		t.Error("the stopped standby accepts connections")
	}
	mustExec(t, ctx, p, "CREATE TABLE written_while_down (id int)")

	if err := c.StartStandby(ctx); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := p.QueryRow(ctx, "SELECT state FROM pg_stat_replication WHERE application_name = $1",
		c.StandbyAppName()).Scan(&state); err != nil || state != "streaming" {
		t.Fatalf("after StartStandby: state %q, err %v", state, err)
	}
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	var exists bool
	s := connect(t, ctx, c.Standby)
	if err := s.QueryRow(ctx, "SELECT to_regclass('written_while_down') IS NOT NULL").Scan(&exists); err != nil || !exists {
		t.Fatalf("table created while the standby was down is not there after restart (err %v)", err)
	}
}

func TestSetApplyDelay(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.RequireStandby(t)
	ctx := ctxFor(t, time.Minute)
	p, s := connect(t, ctx, c.Primary), connect(t, ctx, c.Standby)

	const delay = 2 * time.Second
	if err := c.SetApplyDelay(ctx, delay); err != nil {
		t.Fatal(err)
	}
	var setting string
	if err := s.QueryRow(ctx, "SHOW recovery_min_apply_delay").Scan(&setting); err != nil || setting != "2s" {
		t.Fatalf("recovery_min_apply_delay = %q (err %v), want 2s", setting, err)
	}
	began := time.Now()
	mustExec(t, ctx, p, "CREATE TABLE delayed (id int)")
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < delay-200*time.Millisecond {
		t.Errorf("commit replayed after %s with a %s apply delay", took, delay)
	} else {
		t.Logf("commit replayed after %s with a %s apply delay", took, delay)
	}

	if err := c.SetApplyDelay(ctx, 0); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	mustExec(t, ctx, p, "CREATE TABLE prompt (id int)")
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("commit took %s to replay after resetting the apply delay", took)
	}
}

func TestCreateLogicalSlot(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{Logical: true, NoStandby: true})
	ctx := ctxFor(t, time.Minute)
	p := connect(t, ctx, c.Primary)

	if err := c.CreateLogicalSlot(ctx, "cdc"); err != nil {
		t.Fatal(err)
	}
	var typ, plugin string
	var active bool
	if err := p.QueryRow(ctx, "SELECT slot_type, plugin, active FROM pg_replication_slots WHERE slot_name = 'cdc'").
		Scan(&typ, &plugin, &active); err != nil {
		t.Fatalf("slot not in pg_replication_slots: %v", err)
	}
	if typ != "logical" || plugin != "test_decoding" || active {
		t.Errorf("slot is %s/%s active=%v, want an inactive logical test_decoding slot", typ, plugin, active)
	}
	mustExec(t, ctx, p, "CREATE TABLE t (id int)")
	mustExec(t, ctx, p, "INSERT INTO t VALUES (42)")
	var changes int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM pg_logical_slot_peek_changes('cdc', NULL, NULL) WHERE data LIKE '%t: INSERT: id[integer]:42%'").
		Scan(&changes); err != nil || changes != 1 {
		t.Errorf("slot decoded %d matching inserts (err %v), want 1", changes, err)
	}
	if err := c.CreateLogicalSlot(ctx, "cdc"); err == nil {
		t.Error("creating the same slot twice succeeded")
	}

	// The standby helpers say plainly that there is none.
	if err := c.PauseReplay(ctx); !errors.Is(err, ErrNoStandby) {
		t.Errorf("PauseReplay without a standby = %v, want ErrNoStandby", err)
	}
	if c.Standby != nil || c.StandbyAppName() != "" {
		t.Errorf("NoStandby cluster has standby %v / app name %q", c.Standby, c.StandbyAppName())
	}
}

func TestLogicalSlotNeedsLogicalOption(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{NoStandby: true, Settings: map[string]string{"work_mem": "7MB"}})
	ctx := ctxFor(t, time.Minute)
	if err := c.CreateLogicalSlot(ctx, "cdc"); err == nil {
		t.Fatal("CreateLogicalSlot succeeded without Options.Logical")
	}
	var wm string
	if err := connect(t, ctx, c.Primary).QueryRow(ctx, "SHOW work_mem").Scan(&wm); err != nil || wm != "7MB" {
		t.Errorf("Options.Settings not applied: work_mem = %q (err %v)", wm, err)
	}
	// RequireStandby must skip, which ends a subtest without failing it.
	skipped := false
	t.Run("requires standby", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		c.RequireStandby(t)
	})
	if !skipped {
		t.Error("RequireStandby did not skip on a NoStandby cluster")
	}
}

// TestExternalDSN points the harness at a server it did not start.
func TestExternalDSN(t *testing.T) {
	if os.Getenv(envDSN) != "" {
		t.Skip("already running against " + envDSN)
	}
	server := Start(t, Options{NoStandby: true, Logical: true})
	t.Setenv(envDSN, server.Primary.DSN(""))

	c := Start(t, Options{Logical: true})
	ctx := ctxFor(t, time.Minute)
	if c.Standby != nil {
		t.Fatal("external backend has a standby")
	}
	if got, want := c.Primary.DSN(""), server.Primary.DSN(""); got != want {
		t.Errorf("DSN(\"\") = %q, want the env DSN %q", got, want)
	}
	var db string
	if err := connect(t, ctx, c.Primary).QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != DefaultDB {
		t.Errorf("connected to %q (err %v)", db, err)
	}
	conn, err := pgx.Connect(ctx, c.Primary.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "postgres" {
		t.Errorf("DSN(\"postgres\") connected to %q (err %v)", db, err)
	}
	conn.Close(ctx)

	for name, f := range map[string]func(context.Context) error{
		"WaitReplayed": c.WaitReplayed, "PauseReplay": c.PauseReplay, "ResumeReplay": c.ResumeReplay,
		"StopStandby": c.StopStandby, "StartStandby": c.StartStandby,
		"SetApplyDelay": func(ctx context.Context) error { return c.SetApplyDelay(ctx, time.Second) },
	} {
		if err := f(ctx); !errors.Is(err, ErrNoStandby) {
			t.Errorf("%s = %v, want ErrNoStandby", name, err)
		}
	}
	var reason string
	t.Run("requires standby", func(t *testing.T) {
		defer func() {
			if t.Skipped() {
				reason = "skipped"
			}
		}()
		c.RequireStandby(t)
	})
	if reason != "skipped" {
		t.Error("RequireStandby did not skip on the external backend")
	}

	// A slot on a server that outlives the test must be dropped at cleanup.
	t.Run("slot", func(t *testing.T) {
		sub := Start(t, Options{Logical: true})
		if err := sub.CreateLogicalSlot(ctxFor(t, time.Minute), "ext_slot"); err != nil {
			t.Fatal(err)
		}
	})
	var n int
	if err := connect(t, ctx, server.Primary).QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ext_slot'").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d slots named ext_slot left on the external server (err %v)", n, err)
	}
}

// localOf returns the local backend of c, skipping when another is in use.
func localOf(t *testing.T, c *Cluster) *localCluster {
	t.Helper()
	l, ok := c.b.(*localCluster)
	if !ok {
		t.Skip("not running on local binaries")
	}
	return l
}

func TestTeardownLeavesNothing(t *testing.T) {
	t.Parallel()
	if os.Getenv(envDSN) != "" {
		t.Skip("not starting servers with " + envDSN + " set")
	}
	var base string
	var pids []int
	var dog int
	t.Run("cluster", func(t *testing.T) {
		c := Start(t, Options{})
		l := localOf(t, c)
		base, dog = l.base, l.dog.cmd.Process.Pid
		for _, dir := range []string{c.Primary.DataDir, c.Standby.DataDir} {
			if !strings.HasPrefix(dir, base) {
				t.Fatalf("data dir %s outside %s", dir, base)
			}
			pids = append(pids, postmasterPID(t, dir))
		}
		// Both postmasters plus their children must be visible, or the
		// emptiness check below would prove nothing.
		if found := processesIn(base); len(found) < 6 && haveProc() {
			t.Fatalf("processesIn(%s) found only %v", base, found)
		}
	})
	if base == "" {
		t.Fatal("subtest did not start a cluster")
	}
	assertGone(t, base, append(pids, dog))
	live.Lock()
	n := len(live.m)
	live.Unlock()
	t.Logf("%d clusters of parallel tests still live", n)
}

func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertGone checks that base was removed and that none of pids (nor
// anything working in base) still runs.
func assertGone(t *testing.T, base string, pids []int) {
	t.Helper()
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists (stat: %v)", base, err)
	}
	if left := processesIn(base); len(left) > 0 {
		t.Errorf("processes %v still run in %s", left, base)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
}

// haveProc tells whether processesIn can see anything on this system.
func haveProc() bool {
	_, err := os.Stat("/proc/self/cwd")
	return err == nil
}

const helperEnv = "PGTEST_HELPER"

// TestHelperHoldCluster is not a test: the interrupt tests run the test
// binary again with only this, to have a process they can kill.
func TestHelperHoldCluster(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for the interrupt tests")
	}
	c := Start(t, Options{NoStandby: os.Getenv(helperEnv) == "primary"})
	l := localOf(t, c)
	pids := []int{l.dog.cmd.Process.Pid}
	for _, n := range []*Node{c.Primary, c.Standby} {
		if n != nil {
			pids = append(pids, postmasterPID(t, n.DataDir))
		}
	}
	fmt.Printf("READY %s %v\n", l.base, strings.Trim(fmt.Sprint(pids), "[]"))
	time.Sleep(time.Minute)
	t.Error("helper was not killed")
}

// TestInterruptLeavesNothing kills a test process holding a cluster, with
// the signals a developer or CI would send, and checks what remains.
func TestInterruptLeavesNothing(t *testing.T) {
	t.Parallel()
	if os.Getenv(envDSN) != "" || os.Getenv(envImage) != "" {
		t.Skip("only for the local-binaries backend")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		mode string
	}{
		{"SIGINT", syscall.SIGINT, "standby"},   // the signal handler cleans up
		{"SIGTERM", syscall.SIGTERM, "primary"}, // same path, primary only
		{"SIGKILL", syscall.SIGKILL, "standby"}, // nothing runs in the process: the watchdog must act
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t, 2*time.Minute)
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperHoldCluster$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+tc.mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var base string
			var pids []int
			sc := bufio.NewScanner(out)
			var seen []string
			for sc.Scan() {
				line := sc.Text()
				seen = append(seen, line)
				if fields := strings.Fields(line); len(fields) > 2 && fields[0] == "READY" {
					base = fields[1]
					for _, f := range fields[2:] {
						pid, _ := strconv.Atoi(f)
						pids = append(pids, pid)
					}
					break
				}
			}
			if base == "" {
				cmd.Wait()
				t.Fatalf("helper never became ready; output:\n%s", strings.Join(seen, "\n"))
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			go func() {
				for sc.Scan() {
				}
			}()
			werr := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(werr, &ee) {
				t.Fatalf("helper exit: %v", werr)
			}
			if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != tc.sig {
				t.Errorf("helper exited with %v, want death by %v", werr, tc.sig)
			}
			if tc.sig == syscall.SIGKILL {
				// The watchdog works asynchronously after the death.
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) && len(processesIn(base)) == 0 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				// The watchdog itself must have finished too.
				for time.Now().Before(deadline) && syscall.Kill(pids[0], 0) == nil && !isZombie(pids[0]) {
					time.Sleep(50 * time.Millisecond)
				}
			}
			assertGone(t, base, pids)
		})
	}
}

func TestBinDir(t *testing.T) {
	if os.Getenv(envDSN) != "" {
		t.Skip("no binaries needed with " + envDSN)
	}
	dir, err := BinDir()
	if err != nil {
		unavailable(t, "%v", err)
	}
	if !hasServerTools(dir) {
		t.Fatalf("BinDir() = %s, which lacks a server tool", dir)
	}
	if _, err := serverMajorVersion(dir); err != nil {
		t.Fatal(err)
	}
}

func TestHelpers(t *testing.T) {
	if a, b := dirVersion("/usr/lib/postgresql/9.6/bin"), dirVersion("/usr/lib/postgresql/15/bin"); a >= b {
		t.Errorf("version order: 9.6 -> %v, 15 -> %v", a, b)
	}
	for in, want := range map[string]string{"db": "db", "my db": `'my db'`, "it's": `'it\'s'`, "": "''"} {
		if got := quoteDSNValue(in); got != want {
			t.Errorf("quoteDSNValue(%q) = %s, want %s", in, got, want)
		}
	}
	if got := withDBName("postgres://u:p@h:5/a?sslmode=disable", "b"); got != "postgres://u:p@h:5/b?sslmode=disable" {
		t.Errorf("withDBName(URL) = %s", got)
	}
	if got := withDBName("host=h dbname=a", "b"); got != "host=h dbname=a dbname=b" {
		t.Errorf("withDBName(kv) = %s", got)
	}
	if err := appendConf(t.TempDir(), [][2]string{{"x\nfsync", "on"}}); err == nil {
		t.Error("appendConf accepted a setting name with a newline")
	}
}
