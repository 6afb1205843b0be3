package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errMissing marks an expected standby that has no walsender on the
// primary: it disconnected, or was never there (P5 in backfill.md).
var errMissing = errors.New("missing from pg_stat_replication")

// Heartbeat table, in the schema that holds the rest of migrate's state.
var (
	heartbeatSchema = pgx.Identifier{"migrate"}
	heartbeatTable  = pgx.Identifier{"migrate", "heartbeat"}
)

// walsender is one row of pg_stat_replication.
type walsender struct {
	name      string
	state     *string
	replayLag *time.Duration
	replayLSN *int64 // bytes since 0/0
	logical   bool
}

// primarySnapshot is what one poll of the primary returns.
type primarySnapshot struct {
	lsn        int64 // pg_current_wal_lsn(), bytes since 0/0
	walsenders []walsender
	slots      []slot
}

type slot struct {
	name       string
	walStatus  *string
	restartLSN *int64
}

// LSNs are read as byte offsets from 0/0 because pgx has no pg_lsn type
// and arithmetic on them is all the gate needs.
const replicationQuery = `
SELECT pg_wal_lsn_diff(w.lsn, '0/0')::int8,
       r.application_name, r.state, r.replay_lag,
       pg_wal_lsn_diff(r.replay_lsn, '0/0')::int8,
       EXISTS (SELECT FROM pg_replication_slots s
               WHERE s.active_pid = r.pid AND s.slot_type = 'logical')
FROM (SELECT pg_current_wal_lsn() AS lsn) w
LEFT JOIN pg_stat_replication r ON true`

func querySnapshot(ctx context.Context, pool *pgxpool.Pool, withWALStatus bool) (primarySnapshot, error) {
	var snap primarySnapshot
	rows, err := pool.Query(ctx, replicationQuery)
	if err != nil {
		return snap, err
	}
	for rows.Next() {
		var w walsender
		var name *string
		if err := rows.Scan(&snap.lsn, &name, &w.state, &w.replayLag, &w.replayLSN, &w.logical); err != nil {
			rows.Close()
			return snap, err
		}
		if name != nil { // nil only for the LEFT JOIN's row when no walsender exists
			w.name = *name
			snap.walsenders = append(snap.walsenders, w)
		}
	}
	if err := rows.Err(); err != nil {
		return snap, err
	}

	// wal_status is PostgreSQL 13+; before that a slot cannot be
	// invalidated, so there is nothing to report.
	walStatus := "NULL::text"
	if withWALStatus {
		walStatus = "wal_status"
	}
	rows, err = pool.Query(ctx, `SELECT slot_name, `+walStatus+`, pg_wal_lsn_diff(restart_lsn, '0/0')::int8
		FROM pg_replication_slots WHERE slot_type = 'logical'`)
	if err != nil {
		return snap, err
	}
	for rows.Next() {
		var s slot
		if err := rows.Scan(&s.name, &s.walStatus, &s.restartLSN); err != nil {
			rows.Close()
			return snap, err
		}
		snap.slots = append(snap.slots, s)
	}
	return snap, rows.Err()
}

// standbyReading judges one expected standby from the primary's view of it.
// A standby with no row, or not streaming, is unknown.
func standbyReading(name string, ws []walsender, curLSN int64, hist *walHistory, now time.Time) Reading {
	r := Reading{Source: name, At: now, kind: kindStandby, Err: errMissing}
	found := false
	for _, w := range ws {
		if w.name != name {
			continue
		}
		one := walsenderReading(w, curLSN, hist, now)
		switch {
		case !one.Known:
			return one
		case !found:
			r, found = one, true
		default:
			// Two walsenders under one name: the worse one counts.
			r.Lag, r.Bytes = max(r.Lag, one.Lag), max(r.Bytes, one.Bytes)
		}
	}
	return r
}

// walsenderReading computes a standby's lag from one pg_stat_replication row.
//
// The time lag is the larger of replay_lag and the WAL-history estimate.
// replay_lag is used only while the standby is behind the primary's current
// LSN: it describes WAL already replayed, so once nothing is left to replay
// a stale value (kept until the walsender clears it, ~20 s when idle) would
// only hold the gate shut. A NULL replay_lag is never read as zero for a
// standby that is behind (P1); the estimate alone then gives the lag, and it
// is above zero whenever there is WAL the gate has seen and the standby has
// not replayed.
func walsenderReading(w walsender, curLSN int64, hist *walHistory, now time.Time) Reading {
	r := Reading{Source: w.name, At: now, kind: kindStandby}
	switch {
	case w.state == nil:
		r.Err = errors.New("has no visible state (the gate's role needs pg_monitor or pg_read_all_stats)")
		return r
	case *w.state != "streaming":
		r.Err = fmt.Errorf("is %s, not streaming", *w.state)
		return r
	case w.replayLSN == nil:
		r.Err = errors.New("has not reported a replay position")
		return r
	}
	r.Known = true
	if *w.replayLSN >= curLSN {
		return r
	}
	r.Bytes = curLSN - *w.replayLSN
	r.Lag = hist.lag(*w.replayLSN, now)
	if w.replayLag != nil {
		r.Lag = max(r.Lag, *w.replayLag)
	}
	return r
}

// slotReading judges one logical slot: the WAL it pins on the primary.
func slotReading(s slot, curLSN int64, now time.Time) Reading {
	r := Reading{Source: "slot " + s.name, At: now, kind: kindSlot}
	if s.walStatus != nil && (*s.walStatus == "unreserved" || *s.walStatus == "lost") {
		r.Err = fmt.Errorf("%w: slot %q has wal_status %s", ErrSlotLost, s.name, *s.walStatus)
		return r
	}
	if s.restartLSN == nil {
		r.Err = errors.New("has no restart_lsn")
		return r
	}
	r.Known = true
	r.Bytes = max(curLSN-*s.restartLSN, 0)
	return r
}

// ensureHeartbeatTable creates the heartbeat table unless it exists. It
// looks first so that a role without CREATE on the database can still use
// a table a DBA created for it.
func ensureHeartbeatTable(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", heartbeatTable.Sanitize()).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	// fillfactor 50 leaves room on the page for HOT updates, so a beat
	// every few hundred milliseconds does not bloat the table or its index.
	_, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+heartbeatSchema.Sanitize())
	if err == nil {
		_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+heartbeatTable.Sanitize()+
			" (id text PRIMARY KEY, ts timestamptz NOT NULL) WITH (fillfactor = 50)")
	}
	return err
}

func writeHeartbeat(ctx context.Context, conn *pgx.Conn, id string, ts time.Time) error {
	_, err := conn.Exec(ctx, "INSERT INTO "+heartbeatTable.Sanitize()+" (id, ts) VALUES ($1, $2)"+
		" ON CONFLICT (id) DO UPDATE SET ts = excluded.ts", id, ts)
	return err
}

// readHeartbeat returns the gate's own clock as of the last beat the
// replica has applied; comparing it with the same clock makes the lag
// immune to clock skew between hosts (P4).
func readHeartbeat(ctx context.Context, conn *pgx.Conn, id string) (time.Time, error) {
	var ts time.Time
	err := conn.QueryRow(ctx, "SELECT ts FROM "+heartbeatTable.Sanitize()+" WHERE id = $1", id).Scan(&ts)
	if errors.Is(err, pgx.ErrNoRows) {
		err = errors.New("has no heartbeat row yet")
	}
	return ts, err
}
