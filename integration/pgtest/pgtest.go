// Package pgtest starts throwaway PostgreSQL servers — a primary and a
// streaming standby — for integration tests, and injects replication lag.
//
// The backend is chosen by environment:
//
//   - MIGRATE_TEST_DSN: use that existing server; nothing is started, there is
//     no standby, and the lag helpers return ErrNoStandby.
//   - MIGRATE_TEST_PG_IMAGE (with a reachable Docker engine): two containers of
//     that image on one network, via testcontainers-go.
//   - otherwise: local server binaries (see BinDir), run as the postgres OS
//     user when the tests run as root.
//
// Every cluster is torn down by t.Cleanup. A SIGINT/SIGTERM/SIGHUP handler
// and a watchdog process (which notices when the test binary dies, even by
// SIGKILL or a test timeout) make sure no server outlives the test process.
// Because of that handler, a test binary that has started a local cluster
// dies when it receives SIGINT; code that must see its own SIGINT (graceful
// shutdown tests) belongs in a subprocess.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// DefaultDB is the database DSN("") points at on servers pgtest starts.
	DefaultDB = "migrate_test"
	// superuser is the role initdb creates and every connection uses.
	superuser = "postgres"
	// standbyAppName identifies the standby in pg_stat_replication.
	standbyAppName = "pgtest_standby"
)

// ErrNoStandby is returned by the lag helpers when the cluster has no standby.
var ErrNoStandby = errors.New("pgtest: cluster has no standby")

// Node is one running PostgreSQL server.
type Node struct {
	Name    string
	Host    string
	Port    int
	DataDir string // empty for containers and external servers

	// external is the user's DSN when the node is an existing server.
	external string
}

// DSN returns a connection string for dbname on the node; dbname "" means
// the default test database (DefaultDB, or the database in MIGRATE_TEST_DSN).
func (n *Node) DSN(dbname string) string {
	if n.external != "" {
		if dbname == "" {
			return n.external
		}
		return withDBName(n.external, dbname)
	}
	if dbname == "" {
		dbname = DefaultDB
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		n.Host, n.Port, superuser, quoteDSNValue(dbname))
}

// Connect opens one connection to the node's default test database.
func (n *Node) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, n.DSN(""))
}

// Pool opens a connection pool to the node's default test database.
func (n *Node) Pool(ctx context.Context) (*pgxpool.Pool, error) {
	return pgxpool.New(ctx, n.DSN(""))
}

// Cluster is a primary and, unless Options.NoStandby or an external DSN is
// used, one streaming standby.
type Cluster struct {
	Primary *Node
	Standby *Node // nil when there is none

	opts Options
	// b performs what cannot be done over SQL (stopping and starting the
	// standby); nil for an external server.
	b backend
	// noStandby explains why Standby is nil, for errors and skips.
	noStandby string

	mu sync.Mutex
	// undo holds work to undo on a server that outlives the test (external
	// DSN), such as dropping slots that would otherwise retain WAL forever.
	undo []func(context.Context) error
}

// Options tune the servers Start creates. They are ignored (with a log line)
// for an external server.
type Options struct {
	NoStandby bool              // primary only
	Logical   bool              // wal_level = logical, for logical slots
	Settings  map[string]string // extra postgresql.conf settings, for both servers
}

// backend is what differs between local binaries and containers.
type backend interface {
	stopStandby(ctx context.Context) error
	// startStandby starts the standby process; the caller waits for streaming.
	startStandby(ctx context.Context) error
}

const (
	envDSN   = "MIGRATE_TEST_DSN"
	envImage = "MIGRATE_TEST_PG_IMAGE"
)

// Start starts a cluster for the test and registers its teardown with
// t.Cleanup. When no server can be found it skips the test, or fails it when
// CI=true (where a silent skip would hide that nothing was tested).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if dsn := os.Getenv(envDSN); dsn != "" {
		return startExternal(t, dsn, opts)
	}
	if img := os.Getenv(envImage); img != "" {
		if err := dockerReachable(); err == nil {
			return startDocker(t, img, opts)
		} else {
			t.Logf("pgtest: %s=%s but no Docker engine is reachable (%v); using local binaries", envImage, img, err)
		}
	}
	return startLocal(t, opts)
}

// unavailable skips the test, or fails it under CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg + " (CI=true, so this is a failure rather than a skip)")
	}
	t.Skip(msg)
}

// RequireStandby skips the test when the cluster has no standby.
func (c *Cluster) RequireStandby(t testing.TB) {
	t.Helper()
	if c.Standby == nil {
		t.Skip(c.noStandby)
	}
}

// StandbyAppName is the application_name the standby shows in
// pg_stat_replication on the primary; "" when there is no standby.
func (c *Cluster) StandbyAppName() string {
	if c.Standby == nil {
		return ""
	}
	return standbyAppName
}

func (c *Cluster) errNoStandby() error {
	return fmt.Errorf("%w: %s", ErrNoStandby, c.noStandby)
}

// WaitReplayed waits until the standby has replayed the primary's WAL up to
// pg_current_wal_lsn() at the time of the call. Without a deadline on ctx it
// gives up after a minute, so a forgotten PauseReplay fails instead of hanging.
func (c *Cluster) WaitReplayed(ctx context.Context) error {
	if c.Standby == nil {
		return c.errNoStandby()
	}
	ctx, cancel := withDefaultTimeout(ctx, time.Minute)
	defer cancel()

	var target string
	if err := queryRow(ctx, c.Primary, "SELECT pg_current_wal_lsn()::text", nil, &target); err != nil {
		return fmt.Errorf("pgtest: reading primary WAL position: %w", err)
	}
	s, err := c.Standby.Connect(ctx)
	if err != nil {
		return fmt.Errorf("pgtest: connecting to standby: %w", err)
	}
	defer s.Close(context.Background())

	var replayed *string // NULL before the standby has replayed anything
	err = poll(ctx, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		var done *bool
		err := s.QueryRow(ctx,
			"SELECT pg_last_wal_replay_lsn()::text, pg_last_wal_replay_lsn() >= $1::pg_lsn",
			target).Scan(&replayed, &done)
		return done != nil && *done, err
	})
	if err != nil {
		got := "nothing"
		if replayed != nil {
			got = *replayed
		}
		return fmt.Errorf("pgtest: standby replayed %s, waiting for %s%s: %w",
			got, target, pausedHint(c.Standby), err)
	}
	return nil
}

// pausedHint names the likely cause of a replay wait that timed out. It
// asks on a new connection: pgx closes the one whose query the expired
// context interrupted.
func pausedHint(n *Node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := n.Connect(ctx)
	if err != nil {
		return ""
	}
	defer s.Close(context.Background())
	var paused bool
	if s.QueryRow(ctx, "SELECT pg_is_wal_replay_paused()").Scan(&paused) == nil && paused {
		return " (replay is paused)"
	}
	return ""
}

// PauseReplay pauses WAL replay on the standby. On PostgreSQL 14+ it returns
// once the pause has taken effect, not merely been requested.
func (c *Cluster) PauseReplay(ctx context.Context) error {
	if c.Standby == nil {
		return c.errNoStandby()
	}
	s, err := c.Standby.Connect(ctx)
	if err != nil {
		return fmt.Errorf("pgtest: connecting to standby: %w", err)
	}
	defer s.Close(context.Background())
	if _, err := s.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		return fmt.Errorf("pgtest: pausing replay: %w", err)
	}
	if serverMajor(s) < 14 {
		return nil // no pause state to observe; the request takes effect at the next record
	}
	ctx, cancel := withDefaultTimeout(ctx, 30*time.Second)
	defer cancel()
	var state string
	err = poll(ctx, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		err := s.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state)
		return state == "paused", err
	})
	if err != nil {
		return fmt.Errorf("pgtest: waiting for replay to pause (state %q): %w", state, err)
	}
	return nil
}

// ResumeReplay resumes WAL replay on the standby.
func (c *Cluster) ResumeReplay(ctx context.Context) error {
	if c.Standby == nil {
		return c.errNoStandby()
	}
	if err := execSQL(ctx, c.Standby, "SELECT pg_wal_replay_resume()"); err != nil {
		return fmt.Errorf("pgtest: resuming replay: %w", err)
	}
	return nil
}

// SetApplyDelay sets recovery_min_apply_delay on the standby (0 resets it)
// and returns once new sessions see the new value, i.e. the reload happened.
func (c *Cluster) SetApplyDelay(ctx context.Context, d time.Duration) error {
	if c.Standby == nil {
		return c.errNoStandby()
	}
	if d < 0 {
		return fmt.Errorf("pgtest: negative apply delay %s", d)
	}
	ms := d.Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1 // the setting's unit is milliseconds; never round a delay to "none"
	}
	// ALTER SYSTEM takes no bind parameters; ms is an integer, so the
	// formatted literal cannot carry anything but digits.
	stmt := fmt.Sprintf("ALTER SYSTEM SET recovery_min_apply_delay = '%dms'", ms)
	if ms == 0 {
		stmt = "ALTER SYSTEM RESET recovery_min_apply_delay"
	}
	if err := execSQL(ctx, c.Standby, stmt); err != nil {
		return fmt.Errorf("pgtest: setting apply delay: %w", err)
	}
	if err := execSQL(ctx, c.Standby, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("pgtest: reloading standby config: %w", err)
	}
	// The reload is asynchronous; a fresh session is forked from a
	// postmaster that has re-read the file only once it has processed SIGHUP.
	want := strconv.FormatInt(ms, 10)
	return poll(ctx, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		var got string
		err := queryRow(ctx, c.Standby,
			"SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'", nil, &got)
		return got == want, err
	})
}

// StopStandby stops the standby with a fast shutdown, which drops it from
// pg_stat_replication at once.
func (c *Cluster) StopStandby(ctx context.Context) error {
	if c.Standby == nil || c.b == nil {
		return c.errNoStandby()
	}
	return c.b.stopStandby(ctx)
}

// StartStandby starts the standby again and waits until it is streaming.
func (c *Cluster) StartStandby(ctx context.Context) error {
	if c.Standby == nil || c.b == nil {
		return c.errNoStandby()
	}
	if err := c.b.startStandby(ctx); err != nil {
		return err
	}
	return c.waitStreaming(ctx)
}

// waitStreaming waits until the primary reports the standby as streaming.
func (c *Cluster) waitStreaming(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, time.Minute)
	defer cancel()
	var state string
	err := poll(ctx, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		state = ""
		err := queryRow(ctx, c.Primary,
			"SELECT coalesce(max(state), '') FROM pg_stat_replication WHERE application_name = $1",
			[]any{standbyAppName}, &state)
		return state == "streaming", err
	})
	if err != nil {
		return fmt.Errorf("pgtest: waiting for standby to stream (last state %q): %w", state, err)
	}
	return nil
}

// CreateLogicalSlot creates a test_decoding slot on the primary. The slot is
// never consumed, so it holds back WAL — that is what slot tests want. On an
// external server it is dropped again at cleanup.
func (c *Cluster) CreateLogicalSlot(ctx context.Context, name string) error {
	if !c.opts.Logical {
		return errors.New("pgtest: CreateLogicalSlot needs Options.Logical (wal_level = logical)")
	}
	if err := execSQL(ctx, c.Primary,
		"SELECT pg_create_logical_replication_slot($1, 'test_decoding')", name); err != nil {
		return fmt.Errorf("pgtest: creating logical slot %q: %w", name, err)
	}
	if c.Primary.external != "" {
		c.mu.Lock()
		c.undo = append(c.undo, func(ctx context.Context) error {
			return execSQL(ctx, c.Primary,
				"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", name)
		})
		c.mu.Unlock()
	}
	return nil
}

// startExternal wraps an existing server; nothing is started or stopped.
func startExternal(t testing.TB, dsn string, opts Options) *Cluster {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		// Not %v of the DSN: it may carry a password.
		t.Fatalf("pgtest: %s does not parse: %v", envDSN, redactErr(err, dsn))
	}
	if len(opts.Settings) > 0 || opts.NoStandby {
		t.Logf("pgtest: %s is set; Options.Settings and NoStandby are ignored", envDSN)
	}
	c := &Cluster{
		Primary:   &Node{Name: "external", Host: cfg.Host, Port: int(cfg.Port), external: dsn},
		opts:      opts,
		noStandby: envDSN + " points at an existing server; no standby",
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.mu.Lock()
		undo := c.undo
		c.undo = nil
		c.mu.Unlock()
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](ctx); err != nil {
				t.Errorf("pgtest: cleanup on external server: %v", err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execSQL(ctx, c.Primary, "SELECT 1"); err != nil {
		t.Fatalf("pgtest: cannot reach the server in %s: %v", envDSN, redactErr(err, dsn))
	}
	return c
}

// redactErr keeps a DSN (and its password) out of test logs.
func redactErr(err error, dsn string) error {
	if err == nil || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "<"+envDSN+">"))
}

// withDBName returns dsn (URL or keyword/value form) pointing at dbname.
func withDBName(dsn, dbname string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + dbname
			u.RawPath = ""
			return u.String()
		}
	}
	// In keyword/value strings a repeated keyword overrides the earlier one.
	return dsn + " dbname=" + quoteDSNValue(dbname)
}

// quoteDSNValue quotes a keyword/value connection string value when needed.
func quoteDSNValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// execSQL runs one statement on a fresh connection to n's test database.
func execSQL(ctx context.Context, n *Node, sql string, args ...any) error {
	return execDSN(ctx, n.DSN(""), sql, args...)
}

func execDSN(ctx context.Context, dsn, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// queryRow runs one single-row query on a fresh connection to n.
func queryRow(ctx context.Context, n *Node, sql string, args []any, dest ...any) error {
	conn, err := n.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// serverMajor is the server's major version, e.g. 15, from the
// server_version it reported at connect time ("15.18 (Debian ...)").
func serverMajor(conn *pgx.Conn) int {
	v := conn.PgConn().ParameterStatus("server_version")
	major, _, _ := strings.Cut(v, ".")
	m, _ := strconv.Atoi(strings.TrimSpace(major))
	return m
}

// poll calls f every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, every time.Duration, f func(context.Context) (bool, error)) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		done, err := f(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
