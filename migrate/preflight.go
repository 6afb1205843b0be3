package migrate

// The pre-flight gate (locks.md §3.5) looks at the live database before a
// step that takes a strong lock or runs CONCURRENTLY. A lock request that
// merely waits already blocks every later conflicting request (§2), and a
// CONCURRENTLY build waits for every older snapshot in the database; so
// instead of queueing behind an old or abandoned transaction, the runner
// waits without asking for any lock, and says what it waits for.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Obstacle is one reason the gate is closed.
type Obstacle struct {
	Reason          string // "holds a lock", "waits for a lock", "old snapshot", "wraparound autovacuum"
	Relation        string
	Mode            string
	PID             int
	State           string
	XactStart       *time.Time
	ApplicationName string
	Query           string
}

func (o Obstacle) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d", o.PID)
	if o.ApplicationName != "" {
		fmt.Fprintf(&b, " (%s)", o.ApplicationName)
	}
	b.WriteString(" " + o.Reason)
	if o.Mode != "" {
		fmt.Fprintf(&b, " %s", o.Mode)
	}
	if o.Relation != "" {
		fmt.Fprintf(&b, " on %s", o.Relation)
	}
	if o.State != "" {
		fmt.Fprintf(&b, ", %s", o.State)
	}
	if o.XactStart != nil {
		fmt.Fprintf(&b, ", transaction open for %s", time.Since(*o.XactStart).Round(time.Second))
	}
	if o.Query != "" {
		fmt.Fprintf(&b, ", query: %s", oneLine(o.Query))
	}
	return b.String()
}

// relations are the step's target relations as regclass text.
func (s *StepState) relations() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range s.Locks {
		rel := qt(l.Relation)
		if !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	return out
}

// preflight waits until nothing old or idle holds or waits for locks on
// the step's relations (and, for CONCURRENTLY, no old snapshot exists
// anywhere in the database), or fails after PreflightTimeout.
func (r *Runner) preflight(ctx context.Context, s *StepState) error {
	start := time.Now()
	var lastReport time.Time
	for {
		obs, err := r.obstacles(ctx, s)
		if err != nil {
			return fmt.Errorf("pre-flight check: %w", err)
		}
		if len(obs) == 0 {
			if !lastReport.IsZero() {
				r.log.Info("pre-flight: the database is clear; going on", "step", s.ID, "waited", time.Since(start).Round(time.Second).String())
			}
			return nil
		}
		waited := time.Since(start)
		if waited >= r.cfg.PreflightTimeout {
			desc := make([]string, len(obs))
			for i, o := range obs {
				desc[i] = o.String()
			}
			return fmt.Errorf("%w: waited %s for: %s", ErrPreflight, r.cfg.PreflightTimeout, strings.Join(desc, "; "))
		}
		if lastReport.IsZero() || time.Since(lastReport) >= r.cfg.PreflightReport {
			lastReport = time.Now()
			for _, o := range obs {
				r.log.Warn("pre-flight: waiting before taking the lock", "step", s.ID, "for", o.String(),
					"waited", waited.Round(time.Second).String(), "gives_up_after", r.cfg.PreflightTimeout.String())
			}
		}
		if err := r.cfg.Sleep(ctx, r.cfg.PreflightPoll); err != nil {
			return err
		}
	}
}

func (r *Runner) obstacles(ctx context.Context, s *StepState) ([]Obstacle, error) {
	var out []Obstacle
	rels := s.relations()
	concurrent := !s.InTransaction && s.Backfill == nil
	scan := func(rows pgx.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o Obstacle
			if err := rows.Scan(&o.PID, &o.State, &o.XactStart, &o.ApplicationName, &o.Query, &o.Relation, &o.Mode, &o.Reason); err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	}
	const cols = `a.pid, coalesce(a.state, ''), a.xact_start, coalesce(a.application_name, ''), left(coalesce(a.query, ''), 200)`
	if len(rels) > 0 {
		err := scan(r.pool.Query(ctx, `SELECT DISTINCT `+cols+`, l.relation::regclass::text, l.mode,
    CASE WHEN l.granted THEN 'holds a lock' ELSE 'waits for a lock' END
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation IN (SELECT to_regclass(x) FROM unnest($1::text[]) x)
  AND a.pid <> pg_backend_pid() AND a.application_name IS DISTINCT FROM $2
  AND (a.xact_start < now() - $3::interval
       OR (a.state LIKE 'idle in transaction%' AND a.state_change < now() - $4::interval))`,
			rels, r.cfg.ApplicationName, r.cfg.MaxXactAge, r.cfg.IdleInTransactionGrace))
		if err != nil {
			return nil, err
		}
		err = scan(r.pool.Query(ctx, `SELECT `+cols+`, v.relid::regclass::text, '', 'runs a wraparound autovacuum'
FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a ON a.pid = v.pid
WHERE v.relid IN (SELECT to_regclass(x) FROM unnest($1::text[]) x) AND a.query ILIKE '%to prevent wraparound%'`, rels))
		if err != nil {
			return nil, err
		}
	}
	if concurrent {
		err := scan(r.pool.Query(ctx, `SELECT `+cols+`, '', '', 'holds an old snapshot (CONCURRENTLY waits for it)'
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.backend_xmin IS NOT NULL
  AND a.pid <> pg_backend_pid() AND a.application_name IS DISTINCT FROM $1
  AND (a.xact_start < now() - $2::interval
       OR (a.state LIKE 'idle in transaction%' AND a.state_change < now() - $3::interval))`,
			r.cfg.ApplicationName, r.cfg.MaxXactAge, r.cfg.IdleInTransactionGrace))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Blocker is a session that blocked a step, from pg_stat_activity.
type Blocker struct {
	PID             int
	State           string
	XactStart       *time.Time
	ApplicationName string
	Query           string
	WaitEvent       string
}

const blockerColumns = `a.pid, coalesce(a.state, ''), a.xact_start, coalesce(a.application_name, ''),
    left(coalesce(a.query, ''), 200), coalesce(a.wait_event_type || ':' || a.wait_event, '')`

func scanBlockers(rows pgx.Rows, err error) ([]Blocker, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Blocker, error) {
		var b Blocker
		err := row.Scan(&b.PID, &b.State, &b.XactStart, &b.ApplicationName, &b.Query, &b.WaitEvent)
		return b, err
	})
}

// watchBlockers asks, from a second session, who blocks pid while the step
// runs: once the lock timeout fires, the wait and with it the answer of
// pg_blocking_pids are gone. With live set it also logs the blockers while
// they last (a CONCURRENTLY build may wait for minutes). stop ends the
// watch and returns the last blockers seen.
func (r *Runner) watchBlockers(ctx context.Context, pid uint32, s *StepState, live bool) (stop func() []Blocker) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan []Blocker, 1)
	go func() {
		var last []Blocker
		var logged time.Time
		t := time.NewTicker(r.cfg.BlockerPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- last
				return
			case <-t.C:
			}
			bs, err := scanBlockers(r.pool.Query(ctx, `SELECT `+blockerColumns+`
FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1))`, int32(pid)))
			if err != nil || len(bs) == 0 {
				continue
			}
			last = bs
			if live && time.Since(logged) >= r.cfg.PreflightReport {
				logged = time.Now()
				r.logBlockers(s, bs, "still waiting")
			}
		}
	}()
	return func() []Blocker {
		cancel()
		return <-done
	}
}

// lockHolders is the fallback when the watcher saw nothing (the wait was
// shorter than its poll): the sessions holding locks on the step's tables.
func (r *Runner) lockHolders(ctx context.Context, s *StepState) []Blocker {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	bs, err := scanBlockers(r.pool.Query(ctx, `SELECT DISTINCT `+blockerColumns+`
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.locktype = 'relation' AND l.relation IN (SELECT to_regclass(x) FROM unnest($1::text[]) x)
  AND a.pid <> pg_backend_pid() AND a.application_name IS DISTINCT FROM $2`, s.relations(), r.cfg.ApplicationName))
	if err != nil {
		r.log.Warn("could not look up the sessions holding locks", "step", s.ID, "error", err)
	}
	return bs
}

func (r *Runner) logBlockers(s *StepState, bs []Blocker, what string) {
	if len(bs) == 0 {
		r.log.Warn(what+"; no blocking session found (it ended already)", "step", s.ID)
		return
	}
	for _, b := range bs {
		attrs := []any{"step", s.ID, "blocker_pid", b.PID, "state", b.State, "application_name", b.ApplicationName,
			"query", oneLine(b.Query)}
		if b.XactStart != nil {
			attrs = append(attrs, "xact_start", b.XactStart.Format(time.RFC3339), "xact_age", time.Since(*b.XactStart).Round(time.Millisecond).String())
		}
		if b.WaitEvent != "" {
			attrs = append(attrs, "wait_event", b.WaitEvent)
		}
		r.log.Warn(what+": blocked by", attrs...)
	}
}
