package migrate

// An internal backfill (BackfillSpec.Internal) writes only columns the plan
// itself added, where naive runs a rewrite or a catalog change that fires
// no trigger at all. Run as a plain UPDATE it would fire the application's
// row triggers for every row (a set_updated_at touching every row, an
// audit row per row), so its batches run with session_replication_role =
// replica, which silences ENABLE ORIGIN triggers. ENABLE ALWAYS triggers
// fire in every role, and ENABLE REPLICA ones start firing in replica, so
// those cannot be silenced; and setting the role needs a privilege the
// migration role may lack. Both are found before the first change and
// refused unless the caller accepts the triggers firing.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/lint"
)

// RuleBackfillTriggers is the --allow-unsafe name that accepts the
// application's row triggers firing for every row of an internal backfill.
const RuleBackfillTriggers = "backfill-fires-triggers"

// ErrBackfillTriggers is wrapped by the refusal of CheckBackfillTriggers
// and by an internal backfill step that finds the same at run time.
var ErrBackfillTriggers = errors.New("an internal backfill would fire the application's row triggers")

// rowTrigger is a user trigger that an UPDATE of the backfill's table (or
// of its partitions and children) would fire: a row trigger for every row,
// a statement trigger once per batch.
type rowTrigger struct {
	Table, Name string
	Enabled     string // pg_trigger.tgenabled (pg_rewrite.ev_enabled): O, R or A
	PerRow      bool
	Rule        bool // a rewrite rule ON UPDATE, which replica silences the same way
}

func (t rowTrigger) String() string {
	mode := ""
	switch t.Enabled {
	case "A":
		mode = " (ENABLE ALWAYS)"
	case "R":
		mode = " (ENABLE REPLICA)"
	}
	if t.Rule {
		return "rule " + t.Name + " on " + t.Table + mode
	}
	if !t.PerRow {
		mode += " (FOR EACH STATEMENT: once per batch)"
	}
	return t.Name + " on " + t.Table + mode
}

// triggerQuery lists the enabled user triggers on UPDATE of a table
// and of the tables an UPDATE of it reaches (partitions, inheritance
// children). A trigger limited to UPDATE OF columns counts only when one
// of them is written ($2). The tool's own sync trigger ("~" + reserved
// prefix) does not count: the batch writes the value it would. Rules ON
// UPDATE are listed too: replica skips them like triggers.
const triggerQuery = `WITH RECURSIVE reach(rel) AS (
    SELECT to_regclass($1)::oid
  UNION
    SELECT i.inhrelid FROM pg_inherits i JOIN reach r ON i.inhparent = r.rel
)
SELECT t.tgrelid::regclass::text, t.tgname::text, t.tgenabled::text, t.tgtype & 1 = 1 /* TRIGGER_TYPE_ROW */, false
FROM pg_trigger t JOIN reach r ON t.tgrelid = r.rel
WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
  AND t.tgtype & 16 = 16 -- TRIGGER_TYPE_UPDATE
  AND left(t.tgname, length($3)) <> $3
  AND (cardinality(t.tgattr) = 0 OR EXISTS (
        SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr) AND a.attname = ANY ($2::text[])))
UNION ALL
SELECT w.ev_class::regclass::text, w.rulename::text, w.ev_enabled::text, false, true
FROM pg_rewrite w JOIN reach r ON w.ev_class = r.rel
WHERE w.ev_type = '2' AND w.ev_enabled <> 'D'
ORDER BY 1, 2`

// internalTriggers are the triggers an UPDATE of b's table that writes b's
// columns would fire; nil for a backfill that is not internal.
func internalTriggers(ctx context.Context, q querier, b *BackfillSpec) ([]rowTrigger, error) {
	if b == nil || !b.Internal {
		return nil, nil
	}
	table, cols := backfillTargets(b)
	if table == "" {
		return nil, fmt.Errorf("reading the columns of backfill %q", b.Set)
	}
	rows, err := q.Query(ctx, triggerQuery, qt(table), cols, "~"+lint.ReservedPrefix)
	if err != nil {
		return nil, fmt.Errorf("reading the triggers of %s: %w", lint.DisplayName(table), err)
	}
	defer rows.Close()
	var out []rowTrigger
	for rows.Next() {
		var t rowTrigger
		if err := rows.Scan(&t.Table, &t.Name, &t.Enabled, &t.PerRow, &t.Rule); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// canSetReplicaRole reports whether this role may set
// session_replication_role, by trying it in a transaction it rolls back:
// that covers superuser, a PostgreSQL 15+ GRANT SET ON PARAMETER held
// directly or through a role, and a server without either.
func canSetReplicaRole(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica`)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return false, nil
	}
	return err == nil, err
}

// triggerVerdict is what running one internal backfill would do to the
// application's triggers.
type triggerVerdict struct {
	suppress bool         // run with session_replication_role = replica
	firing   []rowTrigger // triggers that fire all the same
	noRole   bool         // suppressing would be needed but the role may not
}

// judgeTriggers decides how an internal backfill runs: replica when it
// silences some trigger and the role may set it; the triggers that fire
// even so are listed.
func judgeTriggers(trigs []rowTrigger, privileged func() (bool, error)) (triggerVerdict, error) {
	var v triggerVerdict
	var origin, replica, always []rowTrigger
	for _, t := range trigs {
		switch t.Enabled {
		case "A":
			always = append(always, t)
		case "R":
			replica = append(replica, t)
		default:
			origin = append(origin, t)
		}
	}
	if len(origin) == 0 {
		// Nothing to silence: without replica, REPLICA triggers stay quiet.
		v.firing = always
		return v, nil
	}
	ok, err := privileged()
	if err != nil {
		return v, err
	}
	if !ok {
		v.noRole = true
		v.firing = append(origin, always...)
		return v, nil
	}
	v.suppress = true
	v.firing = append(always, replica...)
	return v, nil
}

// CheckBackfillTriggers looks, before the first change, at the tables of
// plan's internal backfills in the live database. When an application row
// trigger would fire for their rows (ENABLE ALWAYS or REPLICA triggers,
// or any trigger when this role may not set session_replication_role),
// it returns an error naming the triggers and the ways out, unless
// allowUnsafe names RuleBackfillTriggers; then the affected steps are
// marked Unsafe, so a resumed run knows the firing was accepted.
func CheckBackfillTriggers(ctx context.Context, pool *pgxpool.Pool, plan *Plan, allowUnsafe []string) error {
	accepted := slices.Contains(allowUnsafe, RuleBackfillTriggers)
	var privileged *bool
	probe := func() (bool, error) {
		if privileged == nil {
			ok, err := canSetReplicaRole(ctx, pool)
			if err != nil {
				return false, fmt.Errorf("checking the privilege to set session_replication_role: %w", err)
			}
			privileged = &ok
		}
		return *privileged, nil
	}
	var problems []string
	for i := range plan.Steps {
		s := &plan.Steps[i]
		trigs, err := internalTriggers(ctx, pool, s.Backfill)
		if err != nil || len(trigs) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		v, err := judgeTriggers(trigs, probe)
		if err != nil {
			return err
		}
		if len(v.firing) == 0 {
			continue
		}
		if accepted {
			s.Unsafe = RuleBackfillTriggers
			continue
		}
		problems = append(problems, "step "+fmt.Sprint(s.ID)+" ("+s.Description+"): "+firingText(v))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w, where running the SQL as written fires none; nothing was run:\n  %s\n"+
		"Either let the migration role silence them (superuser, or on PostgreSQL 15+: GRANT SET ON PARAMETER session_replication_role TO <role>; "+
		"ENABLE ALWAYS and ENABLE REPLICA triggers fire all the same), or accept them firing for every row with --allow-unsafe %s",
		ErrBackfillTriggers, strings.Join(problems, "\n  "), RuleBackfillTriggers)
}

func firingText(v triggerVerdict) string {
	names := make([]string, len(v.firing))
	for i, t := range v.firing {
		names[i] = t.String()
	}
	why := "would fire for every row"
	if v.noRole {
		why += " (this role may not set session_replication_role to silence them)"
	}
	return strings.Join(names, ", ") + " " + why
}

// backfillTriggerMode is the run-time side of CheckBackfillTriggers, for
// the step about to run (also after a resume, whose plan was checked by
// an earlier run): whether to suppress triggers, or an error when some
// would fire and the journal does not say that was accepted.
func (r *Runner) backfillTriggerMode(ctx context.Context, s *StepState) (bool, error) {
	trigs, err := internalTriggers(ctx, r.pool, s.Backfill)
	if err != nil || len(trigs) == 0 {
		return false, err
	}
	v, err := judgeTriggers(trigs, func() (bool, error) { return canSetReplicaRole(ctx, r.pool) })
	if err != nil {
		return false, err
	}
	if len(v.firing) > 0 && s.Unsafe != RuleBackfillTriggers {
		return false, fmt.Errorf("%w: %s; grant SET ON PARAMETER session_replication_role to the migration role, "+
			"or roll back and apply again with --allow-unsafe %s", ErrBackfillTriggers, firingText(v), RuleBackfillTriggers)
	}
	return v.suppress, nil
}
