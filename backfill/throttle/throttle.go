// Package throttle decides whether backfill batches may run, based on how
// far replicas and logical replication slots have fallen behind the primary.
//
// The sources are pg_stat_replication on the primary, combined with the
// primary's own WAL history to turn replay positions into time; a heartbeat
// row read back on replicas given by DSN; the WAL retained by logical
// slots; and an operator's pause file.
//
// Every input fails closed: a missing, erroring or stale reading throttles,
// because a lag signal that cannot be read is indistinguishable from a
// replica that is far behind.
package throttle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrThrottledTooLong is returned by Wait when the gate has been throttled
// continuously for longer than Config.MaxThrottle. The caller should stop
// with a resumable abort rather than copy anyway.
var ErrThrottledTooLong = errors.New("throttle: throttled for longer than MaxThrottle")

// ErrSlotLost is returned by Wait when a logical replication slot is
// unreserved or lost: more backfill WAL would break its consumer.
var ErrSlotLost = errors.New("throttle: logical replication slot unreserved or lost")

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("throttle: gate closed")

// Config configures a Gate. Zero values select the defaults.
type Config struct {
	MaxLag       time.Duration // time lag above which batches pause (default 1500ms)
	ResumeLag    time.Duration // resume only when every reading stays below this... (default MaxLag/2)
	ResumeStable time.Duration // ...for this long (default 2s)
	MaxLagBytes  int64         // byte lag above which batches pause (default 256 MiB); a second guard only
	MaxThrottle  time.Duration // continuous throttling after which Wait fails (default 30m)

	// Replicas are the application_names of the standbys that must keep
	// up. Empty means the physical standbys streaming when Start is
	// called; logical walsenders are watched through their slots instead.
	Replicas []string

	// ReplicaDSNs are replicas read directly: a heartbeat row written on the
	// primary with the gate's clock is read back on each of them.
	ReplicaDSNs []string

	MaxSlotLagBytes int64 // WAL retained by a logical slot above which batches pause (default 1 GiB)

	PauseFile    string        // batches pause while this file exists
	PollInterval time.Duration // how often the sources are read (default 250ms)

	Now func() time.Time // clock; nil means time.Now
}

// Reading is one observation of one lag source.
type Reading struct {
	Source string        // a standby's application_name, "replica host:port", "slot <name>", "pause file <path>" or "primary"
	Lag    time.Duration // time lag, when the source measures time
	Bytes  int64         // byte lag, when the source measures bytes
	Known  bool          // false when the lag could not be determined; an unknown reading throttles
	Err    error         // why the reading is unknown, if a query failed
	At     time.Time     // when the reading was taken, on the gate's clock

	kind kind
}

// Status is a snapshot of the gate's state.
type Status struct {
	Throttled      bool
	Reason         string    // why the gate is throttled, e.g. "app1 replay lag 2.31s > 1.5s"; empty when open
	Since          time.Time // when the gate entered its current state
	ThrottledTotal time.Duration

	// ThrottledByReason splits ThrottledTotal by cause, with keys that do
	// not change with the lag's value ("app1 lag", "app1 missing",
	// "slot cdc bytes", "pause file /path"), so they suit metric labels.
	// The time spent waiting for a reading to settle below ResumeLag counts
	// towards the cause that throttled the gate.
	ThrottledByReason map[string]time.Duration

	Readings []Reading // the latest reading of every source
}

var errNotRead = errors.New("not read yet")

// decideEvery is how often the gate re-judges its readings; collectors
// poll on their own schedule (Config.PollInterval).
const decideEvery = 100 * time.Millisecond

// Gate reports whether batches may run. It is safe for concurrent use.
type Gate struct {
	cfg      Config
	primary  *pgxpool.Pool
	id       string   // heartbeat row
	replicas []string // expected standbys
	timeout  time.Duration

	mu         sync.Mutex
	groups     map[string][]Reading // latest readings, by collector
	st         state
	wake       chan struct{} // closed and replaced when Wait should look again
	onThrottle []func(reason string)
	closed     bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	hb        *pgx.Conn // owned by the heartbeat goroutine until it exits
}

func (c *Config) setDefaults() error {
	if c.MaxLag == 0 {
		c.MaxLag = 1500 * time.Millisecond
	}
	if c.ResumeLag == 0 {
		c.ResumeLag = c.MaxLag / 2
	}
	if c.ResumeStable == 0 {
		c.ResumeStable = 2 * time.Second
	}
	if c.MaxLagBytes == 0 {
		c.MaxLagBytes = 256 << 20
	}
	if c.MaxThrottle == 0 {
		c.MaxThrottle = 30 * time.Minute
	}
	if c.MaxSlotLagBytes == 0 {
		c.MaxSlotLagBytes = 1 << 30
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.MaxLag < 0, c.ResumeLag < 0, c.ResumeStable < 0, c.MaxLagBytes < 0,
		c.MaxThrottle < 0, c.MaxSlotLagBytes < 0, c.PollInterval < 0:
		return errors.New("throttle: negative limit in Config")
	case c.ResumeLag > c.MaxLag:
		return fmt.Errorf("throttle: ResumeLag %s is above MaxLag %s", c.ResumeLag, c.MaxLag)
	}
	return nil
}

// Start checks that every expected standby is streaming, then starts
// reading the lag sources in the background. Close releases them.
//
// The first readings are taken before Start returns, so a healthy gate is
// open at once. With ReplicaDSNs the heartbeat still has to reach the
// replicas first, which takes about one PollInterval.
func Start(ctx context.Context, primary *pgxpool.Pool, cfg Config) (*Gate, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	g := &Gate{
		cfg:     cfg,
		primary: primary,
		// A query slower than this is as good as failed: its reading is
		// already stale and has throttled the gate.
		timeout: max(3*cfg.PollInterval, time.Second),
		groups:  make(map[string][]Reading),
		st:      newState(cfg.Now()),
		wake:    make(chan struct{}),
	}

	var inRecovery bool
	var version int
	err := primary.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('server_version_num')::int").Scan(&inRecovery, &version)
	if err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	if inRecovery {
		return nil, errors.New("throttle: the primary pool is connected to a server in recovery")
	}
	withWALStatus := version >= 130000
	snap, err := querySnapshot(ctx, primary, withWALStatus)
	if err != nil {
		return nil, fmt.Errorf("throttle: reading pg_stat_replication: %w", err)
	}
	if g.replicas, err = expectedStandbys(cfg.Replicas, snap.walsenders); err != nil {
		return nil, err
	}

	var conns []*pgx.Conn
	if len(cfg.ReplicaDSNs) > 0 {
		if g.hb, err = g.heartbeatConn(ctx); err == nil {
			err = ensureHeartbeatTable(ctx, g.hb)
		}
		if err == nil {
			g.id, err = newID()
		}
		if err == nil {
			err = writeHeartbeat(ctx, g.hb, g.id, cfg.Now())
		}
		for _, dsn := range cfg.ReplicaDSNs {
			if err != nil {
				break
			}
			var c *pgx.Conn
			c, err = pgx.Connect(ctx, dsn)
			conns = append(conns, c)
		}
		if err != nil {
			for _, c := range conns {
				if c != nil {
					c.Close(ctx)
				}
			}
			if g.hb != nil {
				g.hb.Close(ctx)
			}
			return nil, fmt.Errorf("throttle: heartbeat: %w", err)
		}
	}

	hist := newWALHistory(max(2*time.Minute, 4*cfg.MaxLag))
	now := cfg.Now()
	g.publish("primary", g.primaryReadings(snap, hist, now))
	var sources []string
	for _, dsn := range cfg.ReplicaDSNs {
		src := replicaSource(dsn)
		if n := len(sources); slices.Contains(sources, src) {
			src = fmt.Sprintf("%s #%d", src, n+1)
		}
		sources = append(sources, src)
		// Until a replica has been read its lag is unknown, not absent.
		g.publish(src, []Reading{{Source: src, Err: errNotRead, At: now, kind: kindHeartbeat}})
	}
	g.decide()

	bg, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.goLoop(bg, func(ctx context.Context) { g.pollPrimary(ctx, hist, withWALStatus) }, cfg.PollInterval, nil)
	if g.hb != nil {
		g.goLoop(bg, g.beat, cfg.PollInterval, nil)
		for i, dsn := range cfg.ReplicaDSNs {
			r := &replica{dsn: dsn, conn: conns[i], source: sources[i]}
			g.goLoop(bg, r.poll(g), cfg.PollInterval, r.close)
		}
	}
	g.goLoop(bg, func(context.Context) { g.decide() }, decideEvery, nil)
	return g, nil
}

// expectedStandbys returns the standbys to watch and checks the pre-flight
// condition: each of them must be streaming now.
func expectedStandbys(names []string, ws []walsender) ([]string, error) {
	if len(names) == 0 {
		for _, w := range ws {
			// Logical walsenders are CDC consumers, watched through their
			// slots; their lag columns mean something else.
			if !w.logical && w.state != nil && *w.state == "streaming" && !slices.Contains(names, w.name) {
				names = append(names, w.name)
			}
		}
		return names, nil
	}
	for _, name := range names {
		r := standbyReading(name, ws, 0, newWALHistory(0), time.Time{})
		if !r.Known {
			return nil, fmt.Errorf("throttle: expected standby %s %v", name, r.Err)
		}
	}
	return slices.Clone(names), nil
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// heartbeatConn opens the gate's own connection to the primary. It does not
// wait for synchronous standbys: a heartbeat blocked behind a stalled
// standby would hold a connection and tell nothing the replicas' readings
// do not already say.
func (g *Gate) heartbeatConn(ctx context.Context) (*pgx.Conn, error) {
	cc := g.primary.Config().ConnConfig.Copy()
	cc.RuntimeParams["synchronous_commit"] = "local"
	cc.RuntimeParams["application_name"] = "migrate throttle heartbeat"
	return pgx.ConnectConfig(ctx, cc)
}

// goLoop runs f every interval until ctx is done, then cleanup if not nil.
func (g *Gate) goLoop(ctx context.Context, f func(context.Context), interval time.Duration, cleanup func()) {
	g.wg.Go(func() {
		if cleanup != nil {
			defer cleanup()
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	})
}

func (g *Gate) pollPrimary(ctx context.Context, hist *walHistory, withWALStatus bool) {
	qctx, cancel := context.WithTimeout(ctx, g.timeout)
	snap, err := querySnapshot(qctx, g.primary, withWALStatus)
	cancel()
	now := g.cfg.Now()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		// Fail closed: every standby is unknown, and so is the primary
		// itself, which keeps the gate shut when no standby is expected.
		rs := []Reading{{Source: "primary", Err: err, At: now, kind: kindStandby}}
		for _, name := range g.replicas {
			rs = append(rs, Reading{Source: name, Err: err, At: now, kind: kindStandby})
		}
		g.publish("primary", rs)
		return
	}
	g.publish("primary", g.primaryReadings(snap, hist, now))
}

func (g *Gate) primaryReadings(snap primarySnapshot, hist *walHistory, now time.Time) []Reading {
	hist.add(now, snap.lsn)
	var rs []Reading
	for _, name := range g.replicas {
		rs = append(rs, standbyReading(name, snap.walsenders, snap.lsn, hist, now))
	}
	for _, s := range snap.slots {
		rs = append(rs, slotReading(s, snap.lsn, now))
	}
	return rs
}

// beat writes the heartbeat, and keeps doing so while throttled: a replica
// catching up is only visible through fresh beats.
func (g *Gate) beat(ctx context.Context) {
	var err error
	if g.hb == nil || g.hb.IsClosed() {
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		g.hb, err = g.heartbeatConn(cctx)
		cancel()
		if err != nil {
			g.hb = nil
			return // the replicas' readings age and throttle
		}
	}
	// A failed beat needs no handling: pgx closes the connection on fatal
	// errors, so the next beat reconnects, and the replicas' readings age
	// meanwhile and throttle.
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	_ = writeHeartbeat(cctx, g.hb, g.id, g.cfg.Now())
}

// replica reads the heartbeat on one ReplicaDSN.
type replica struct {
	dsn    string
	source string
	conn   *pgx.Conn
}

func replicaSource(dsn string) string {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "replica ?"
	}
	return fmt.Sprintf("replica %s:%d", cc.Host, cc.Port)
}

func (r *replica) poll(g *Gate) func(context.Context) {
	return func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		var err error
		if r.conn == nil || r.conn.IsClosed() {
			r.conn, err = pgx.Connect(cctx, r.dsn)
		}
		var ts time.Time
		if err == nil {
			ts, err = readHeartbeat(cctx, r.conn, g.id)
		}
		now := g.cfg.Now()
		if ctx.Err() != nil {
			return
		}
		rd := Reading{Source: r.source, At: now, kind: kindHeartbeat}
		if err != nil {
			rd.Err = err
		} else {
			rd.Known, rd.Lag = true, max(now.Sub(ts), 0)
		}
		g.publish(r.source, []Reading{rd})
	}
}

func (r *replica) close() {
	if r.conn != nil {
		r.conn.Close(context.Background())
	}
}

func (g *Gate) publish(group string, rs []Reading) {
	g.mu.Lock()
	g.groups[group] = rs
	g.mu.Unlock()
}

// decide judges the latest readings and wakes waiters if the outcome changed.
func (g *Gate) decide() {
	now := g.cfg.Now()
	var pause []Reading
	if g.cfg.PauseFile != "" {
		r := Reading{Source: "pause file " + g.cfg.PauseFile, At: now, kind: kindPause}
		_, err := os.Stat(g.cfg.PauseFile)
		switch {
		case err == nil:
			r.Err = errPaused
		case errors.Is(err, os.ErrNotExist):
			r.Known = true
		default:
			r.Err = err
		}
		pause = []Reading{r}
	}

	g.mu.Lock()
	if pause != nil {
		g.groups["pause"] = pause
	}
	var readings []Reading
	for _, k := range slices.Sorted(maps.Keys(g.groups)) {
		readings = append(readings, g.groups[k]...)
	}
	wasThrottled, hadErr := g.st.throttled, g.st.err != nil
	entered := g.st.update(&g.cfg, readings, now)
	if g.st.throttled != wasThrottled || (g.st.err != nil) != hadErr {
		close(g.wake)
		g.wake = make(chan struct{})
	}
	reason, hooks := g.st.reason, g.onThrottle
	g.mu.Unlock()

	if entered {
		for _, f := range hooks {
			f(reason)
		}
	}
}

// Wait returns nil at once when the gate is open and blocks while it is
// throttled. It returns ErrThrottledTooLong, ErrSlotLost or the context's
// error instead of letting a batch run when it must not.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		closed, throttled, err, wake := g.closed, g.st.throttled, g.st.err, g.wake
		g.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case err != nil:
			return err
		case !throttled:
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status returns a snapshot of the gate's state.
func (g *Gate) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Status{
		Throttled:         g.st.throttled,
		Reason:            g.st.reason,
		Since:             g.st.since,
		ThrottledTotal:    g.st.total,
		ThrottledByReason: maps.Clone(g.st.byReason),
	}
	for _, k := range slices.Sorted(maps.Keys(g.groups)) {
		st.Readings = append(st.Readings, g.groups[k]...)
	}
	return st
}

// OnThrottle registers f to be called, with the reason, each time the gate
// goes from open to throttled. f runs on the gate's goroutine and must not
// block.
func (g *Gate) OnThrottle(f func(reason string)) {
	g.mu.Lock()
	g.onThrottle = append(g.onThrottle, f)
	g.mu.Unlock()
}

// Close stops the background work and closes the gate's own connections.
// It removes the gate's heartbeat row but leaves the table, which other
// gates may share.
func (g *Gate) Close() error {
	var err error
	g.closeOnce.Do(func() {
		g.cancel()
		g.wg.Wait()
		g.mu.Lock()
		g.closed = true
		close(g.wake)
		g.wake = make(chan struct{})
		g.mu.Unlock()
		if g.hb != nil && !g.hb.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = g.hb.Exec(ctx, "DELETE FROM "+heartbeatTable.Sanitize()+" WHERE id = $1", g.id)
			g.hb.Close(ctx)
			cancel()
		}
	})
	return err
}
