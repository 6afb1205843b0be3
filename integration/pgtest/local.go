package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// localCluster runs the servers from local binaries in one temp directory:
// <base>/primary and <base>/standby are the data directories, and <base>
// itself is the unix socket directory.
type localCluster struct {
	bin     string
	major   int
	base    string
	runAs   *osUser // nil: run the tools as ourselves
	primary *Node
	standby *Node // nil with Options.NoStandby
	dog     *watchdog

	mu      sync.Mutex
	stopped bool
}

// osUser is the account the servers run as when we are root, because
// PostgreSQL refuses to run as root.
type osUser struct {
	name     string
	uid, gid int
	runuser  string // path of runuser(1); "" means drop privileges ourselves
}

func startLocal(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		unavailable(t, "pgtest: PostgreSQL server binaries not found: %v; run scripts/ensure-postgres.sh (or set %s)", err, envDSN)
	}
	major, err := serverMajorVersion(bin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if major < 12 {
		// pg_basebackup -R writes recovery.conf before 12, which this harness does not handle.
		unavailable(t, "pgtest: PostgreSQL %d in %s is too old; need 12 or later", major, bin)
	}
	var runAs *osUser
	if os.Geteuid() == 0 {
		if runAs, err = lookupServerUser(); err != nil {
			unavailable(t, "pgtest: running as root and %v; run scripts/ensure-postgres.sh", err)
		}
	}

	l := &localCluster{bin: bin, major: major, runAs: runAs}
	if l.base, err = os.MkdirTemp("", "pgtest-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// /proc reports the servers' working directories with symlinks
	// resolved; processesIn compares against this path.
	if real, err := filepath.EvalSymlinks(l.base); err == nil {
		l.base = real
	}
	if runAs != nil {
		// The servers write their data and sockets here.
		if err := os.Chown(l.base, runAs.uid, runAs.gid); err != nil {
			os.RemoveAll(l.base)
			t.Fatalf("pgtest: %v", err)
		}
	}
	if l.dog, err = startWatchdog(l.base); err != nil {
		os.RemoveAll(l.base)
		t.Fatalf("pgtest: %v", err)
	}
	register(l)
	// Registered before anything starts so that a failure half way still
	// stops what did start.
	t.Cleanup(func() { l.teardown(t) })

	c := &Cluster{opts: opts, b: l, noStandby: "the cluster was started with Options.NoStandby"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	if err := l.startPrimary(ctx, opts); err != nil {
		t.Fatalf("pgtest: starting primary: %v", err)
	}
	c.Primary = l.primary
	if opts.NoStandby {
		t.Logf("pgtest: PostgreSQL %d primary on port %d ready in %s", major, l.primary.Port, time.Since(began).Round(time.Millisecond))
		return c
	}
	if err := l.startNewStandby(ctx); err != nil {
		t.Fatalf("pgtest: starting standby: %v", err)
	}
	c.Standby = l.standby
	if err := c.waitStreaming(ctx); err != nil {
		t.Fatalf("%v\n%s", err, tail(logFile(l.standby), 20))
	}
	t.Logf("pgtest: PostgreSQL %d primary on port %d and standby on port %d ready in %s",
		major, l.primary.Port, l.standby.Port, time.Since(began).Round(time.Millisecond))
	return c
}

func lookupServerUser() (*osUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("there is no postgres OS user to run the servers as (%v)", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres OS user: %v", err)
	}
	if uid == 0 {
		return nil, errors.New("the postgres OS user is root")
	}
	ru, _ := exec.LookPath("runuser")
	return &osUser{name: u.Username, uid: uid, gid: gid, runuser: ru}, nil
}

func (l *localCluster) startPrimary(ctx context.Context, opts Options) error {
	n := &Node{Name: "primary", Host: "127.0.0.1", DataDir: filepath.Join(l.base, "primary")}
	if err := l.run(ctx, "initdb", "-D", n.DataDir, "--auth=trust", "-U", superuser,
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return err
	}
	walLevel := "replica"
	if opts.Logical {
		walLevel = "logical"
	}
	conf := [][2]string{
		{"listen_addresses", "127.0.0.1"},
		{"unix_socket_directories", l.base},
		// Durability is irrelevant for throwaway servers, and fsync dominates
		// their run time. synchronous_commit stays on: backfill tests measure commits.
		{"fsync", "off"},
		{"full_page_writes", "off"},
		{"shared_buffers", "32MB"},
		{"wal_level", walLevel},
		{"max_wal_senders", "10"},
		{"max_replication_slots", "10"},
		{"hot_standby", "on"},
		// Copied to the standby by pg_basebackup; makes replay_lag in
		// pg_stat_replication follow the standby within a second.
		{"wal_receiver_status_interval", "1s"},
		{"logging_collector", "off"},
		{"log_line_prefix", "%m [%p] %q%a "},
	}
	if l.major >= 13 {
		conf = append(conf, [2]string{"wal_keep_size", "256MB"})
	} else {
		conf = append(conf, [2]string{"wal_keep_segments", "16"})
	}
	keys := make([]string, 0, len(opts.Settings))
	for k := range opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conf = append(conf, [2]string{k, opts.Settings[k]})
	}
	if err := appendConf(n.DataDir, conf); err != nil {
		return err
	}
	hba := "local all all trust\n" +
		"local replication all trust\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(n.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	if err := l.chown(filepath.Join(n.DataDir, "pg_hba.conf")); err != nil {
		return err
	}
	l.primary = n
	if err := l.startServer(ctx, n); err != nil {
		return err
	}
	return execDSN(ctx, n.DSN("postgres"), "CREATE DATABASE "+DefaultDB)
}

// startNewStandby clones the primary and starts the clone as its standby.
func (l *localCluster) startNewStandby(ctx context.Context) error {
	n := &Node{Name: "standby", Host: "127.0.0.1", DataDir: filepath.Join(l.base, "standby")}
	src := fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", l.primary.Port, superuser, standbyAppName)
	// -R writes standby.signal and primary_conninfo (with our
	// application_name); -c fast avoids waiting for a spread checkpoint.
	if err := l.run(ctx, "pg_basebackup", "-D", n.DataDir, "-d", src, "-R", "-X", "stream",
		"-c", "fast", "--no-sync"); err != nil {
		return err
	}
	// The primary's log came along with the copy.
	if err := os.Remove(logFile(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l.standby = n
	return l.startServer(ctx, n)
}

func (l *localCluster) stopStandby(ctx context.Context) error {
	return l.run(ctx, "pg_ctl", "-D", l.standby.DataDir, "-m", "fast", "-w", "stop")
}

func (l *localCluster) startStandby(ctx context.Context) error {
	return l.startServer(ctx, l.standby)
}

var bindFailure = regexp.MustCompile(`could not bind|could not create listen socket|Address already in use`)

// startServer picks a free port for a node that has none yet, starts the
// server and waits until it accepts connections. Another process can take
// the port between our probe and the server's bind, so that case retries.
func (l *localCluster) startServer(ctx context.Context, n *Node) error {
	for attempt := 0; ; attempt++ {
		if n.Port == 0 || attempt > 0 {
			port, err := freePort()
			if err != nil {
				return err
			}
			if err := appendConf(n.DataDir, [][2]string{{"port", strconv.Itoa(port)}}); err != nil {
				return err
			}
			n.Port = port
		}
		err := l.run(ctx, "pg_ctl", "-D", n.DataDir, "-l", logFile(n), "-w", "-t", "60", "start")
		if err == nil {
			return nil
		}
		log := tail(logFile(n), 30)
		if attempt < 4 && bindFailure.MatchString(log) {
			continue
		}
		return fmt.Errorf("%v\nserver log:\n%s", err, log)
	}
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// appendConf appends settings to postgresql.conf; a later line for the same
// name wins, so the file keeps initdb's defaults above ours.
func appendConf(dataDir string, settings [][2]string) error {
	var b strings.Builder
	for _, kv := range settings {
		if !confName.MatchString(kv[0]) {
			return fmt.Errorf("invalid setting name %q", kv[0])
		}
		fmt.Fprintf(&b, "%s = '%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", "''"))
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Close())
}

var confName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func logFile(n *Node) string { return filepath.Join(n.DataDir, "postgres.log") }

// run runs a PostgreSQL tool from the bin dir as the server's OS user.
func (l *localCluster) run(ctx context.Context, tool string, args ...string) error {
	path := filepath.Join(l.bin, tool)
	var cmd *exec.Cmd
	switch {
	case l.runAs == nil:
		cmd = exec.CommandContext(ctx, path, args...)
	case l.runAs.runuser != "":
		cmd = exec.CommandContext(ctx, l.runAs.runuser, append([]string{"-u", l.runAs.name, "--", path}, args...)...)
	default:
		cmd = exec.CommandContext(ctx, path, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(l.runAs.uid), Gid: uint32(l.runAs.gid)}}
	}
	// The postgres user may not be able to enter the test's working directory.
	cmd.Dir = l.base
	cmd.Env = toolEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// A server that kept our pipe open would otherwise block Wait forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// toolEnv is our environment without libpq/server variables, which would
// redirect the tools (PGDATA, PGPORT, PGHOST, ...).
func toolEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func (l *localCluster) chown(path string) error {
	if l.runAs == nil {
		return nil
	}
	return os.Chown(path, l.runAs.uid, l.runAs.gid)
}

// dataDirs lists the data directories that may hold a running server,
// standby first so the primary does not wait on its walsender.
func (l *localCluster) dataDirs() []string {
	return []string{filepath.Join(l.base, "standby"), filepath.Join(l.base, "primary")}
}

// teardown stops the servers and removes their files, logging the server
// logs first when the test failed.
func (l *localCluster) teardown(t testing.TB) {
	if t.Failed() {
		for _, n := range []*Node{l.primary, l.standby} {
			if n != nil {
				t.Logf("pgtest: last lines of %s log:\n%s", n.Name, tail(logFile(n), 40))
			}
		}
	}
	if err := l.destroy(); err != nil {
		t.Errorf("pgtest: teardown: %v", err)
	}
}

// destroy stops both servers immediately (no checkpoint: the data is about
// to be deleted), verifies that no process is left in the cluster's
// directories, and deletes them. Safe to call more than once and from the
// signal handler.
func (l *localCluster) destroy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil
	}
	l.stopped = true
	defer unregister(l)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, dir := range l.dataDirs() {
		if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
			continue // never started, or already stopped
		}
		if err := l.run(ctx, "pg_ctl", "-D", dir, "-m", "immediate", "-w", "-t", "20", "stop"); err != nil {
			errs = append(errs, err)
		}
	}
	// Any process still working in our directories — a server pg_ctl could
	// not stop, or an orphaned child — is killed rather than leaked.
	if left := waitGone(l.base, 10*time.Second); len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if left = waitGone(l.base, 5*time.Second); len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes %v still run in %s", left, l.base))
		} else {
			errs = append(errs, fmt.Errorf("had to SIGKILL leftover server processes in %s", l.base))
		}
	}
	if err := os.RemoveAll(l.base); err != nil {
		errs = append(errs, err)
	}
	l.dog.release()
	return errors.Join(errs...)
}

// waitGone waits up to d for processesIn(dir) to be empty and returns what is left.
func waitGone(dir string, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		left := processesIn(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesIn lists live processes whose working directory is dir or below
// it. Every PostgreSQL server process works in its data directory, so this
// finds a cluster's processes (including orphaned children) without relying
// on pid files. Zombies are not counted: they hold no resources and, where
// PID 1 does not reap, would never go away.
func processesIn(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		if cwd != dir && !strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			continue
		}
		if isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone already
	}
	// The state follows the parenthesised command name, which may itself contain ")".
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
