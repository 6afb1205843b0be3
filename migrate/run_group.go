package migrate

// When a step of a transaction group (txgroup.go) fails on its data, naive
// would have rolled the whole transaction back and run nothing after it.
// The runner does the same by hand: it undoes, newest first, every done
// step of the group and of the statements after it (which naive never
// reached but the plan's phases may have run early), and ends the
// migration where naive ends.
//
// Journal states after a group rolled back:
//   - the failed step: failed, with its error;
//   - every step undone: undone (undone_at, undo_attempts beside the run);
//   - the migration: rolled_back when no step is left done (the database is
//     as before the migration, and a re-run plans afresh), else failed (the
//     steps before the group stay done, and a re-run resumes at the group's
//     first step). Its error says the group was rolled back and why.
//
// Failures that a later run may get past (lock timeouts after the retries,
// a lost connection, a cancel or SIGINT, the pre-flight gate) stay
// resumable exactly as before: nothing is undone.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// GroupError is a step of a transaction group that failed on its data.
type GroupError struct {
	Step  *StepState
	Err   error  // the step's error (a *StepError)
	Group Source // where the group's transaction opens
	Kind  string // who opened it
	// RolledBack: the group's done steps were undone (Undone, in the order
	// undone). Otherwise Reason says why they could not be.
	RolledBack bool
	Undone     []int
	Reason     string
	// Statement: the unit rolled back is one statement the plan split
	// into steps, not a transaction of the source.
	Statement bool
}

func (e *GroupError) Error() string {
	var b strings.Builder
	if e.Statement {
		fmt.Fprintf(&b, "statement at %s (%s) ", e.Group, e.Kind)
	} else {
		fmt.Fprintf(&b, "transaction from %s (%s) ", e.Group, e.Kind)
	}
	if e.RolledBack {
		b.WriteString("rolled back")
	} else {
		b.WriteString("NOT rolled back")
	}
	cause, attempts := e.Err, 1
	var se *StepError
	if errors.As(e.Err, &se) {
		cause, attempts = se.Err, se.Attempts
	}
	fmt.Fprintf(&b, ": step %d (%s) from %s failed after %d attempt(s): %s", e.Step.ID, e.Step.Description, e.Step.Source, attempts, errText(cause))
	unit := "transaction"
	if e.Statement {
		unit = "statement"
	}
	switch {
	case e.RolledBack && len(e.Undone) > 0:
		fmt.Fprintf(&b, "; undid step(s) %s (newest first): nothing of the %s stays applied, as when it runs as written", idList(e.Undone), unit)
	case e.RolledBack:
		fmt.Fprintf(&b, "; no other step of the %s had run: nothing of it is applied, as when it runs as written", unit)
	default:
		b.WriteString("; " + e.Reason)
	}
	return b.String()
}

func (e *GroupError) Unwrap() error { return e.Err }

// definitive reports whether err is the data's or the statement's fault,
// so that running the step again as it is would fail the same way: a
// check or unique violation, bad data, a missing object. Lock timeouts,
// deadlocks, cancels, lost connections and full disks are not.
func definitive(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPreflight) {
		return false
	}
	return definitiveCode(sqlState(err))
}

// definitiveCode is definitive for an SQLSTATE, by its class.
func definitiveCode(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "0A", // feature not supported
		"21", // cardinality violation
		"22", // data exception
		"23", // integrity constraint violation
		"27", // triggered data change violation
		"2B", // dependent objects still exist
		"42", // syntax error or access rule violation (undefined or duplicate objects)
		"44", // WITH CHECK OPTION violation
		"P0": // RAISE EXCEPTION in PL/pgSQL
		return true
	}
	return false
}

// rollbackGroup handles the failure err of step failed. It returns nil
// when the failure is not a group's to roll back (the caller reports err
// as a resumable failure), else a *GroupError saying what it did.
func (r *Runner) rollbackGroup(ctx context.Context, m *Migration, failed *StepState, err error) error {
	if (failed.Group == 0 && failed.Order == 0) || !definitive(ctx, err) {
		return nil
	}
	ge := &GroupError{Step: failed, Err: err, Group: failed.groupFrom, Kind: failed.groupKind}
	if failed.Group == 0 {
		// One statement outside any transaction block is still atomic as
		// written: its NOT VALID constraint must not outlive the VALIDATE
		// that failed, as a naive run would leave nothing of it.
		ge.Group, ge.Kind, ge.Statement = failed.Source, "one statement, all-or-nothing as written", true
	}
	scope := r.groupScope(m, failed)
	if reason := irreversibleIn(m, scope, failed); reason != "" {
		ge.Reason = reason
		r.recordGroup(ctx, m, ge, MigrationFailed)
		return ge
	}
	fmt.Fprintf(r.cfg.Out, "step %d failed on its data: undoing the done steps of its transaction (from %s)\n", failed.ID, ge.Group)
	var jobs []string
	if failed.Backfill != nil {
		jobs = append(jobs, m.ID+"/"+strconv.Itoa(failed.ID))
	}
	for i := len(scope) - 1; i >= 0; i-- {
		s := scope[i]
		if uerr := r.undoStep(ctx, m, s); uerr != nil {
			// What is undone is a suffix of what was done: a re-run
			// resumes at the first step not done, or rollback finishes.
			ge.Reason = fmt.Sprintf("undoing step %d failed (%s); steps %s were undone; finish with 'migrate rollback --id %s', or fix the cause and re-run to resume",
				s.ID, errText(uerr), idList(ge.Undone), m.ID)
			r.recordGroup(ctx, m, ge, MigrationFailed)
			return ge
		}
		ge.Undone = append(ge.Undone, s.ID)
		if s.Backfill != nil {
			jobs = append(jobs, m.ID+"/"+strconv.Itoa(s.ID))
		}
	}
	if err := r.forgetJobs(ctx, jobs); err != nil {
		r.log.Error("could not delete the checkpoints of the undone backfills; a re-run may skip them", "error", err)
	}
	ge.RolledBack = true
	status := MigrationRolledBack
	for _, s := range m.Steps {
		if s.Status == StepDone {
			status = MigrationFailed
		}
	}
	r.recordGroup(ctx, m, ge, status)
	return ge
}

// groupScope lists, in plan order, the done steps a failure of failed's
// group must undo: the group's, and those of the statements after it.
func (r *Runner) groupScope(m *Migration, failed *StepState) []*StepState {
	inGroup := func(s *StepState) bool { return failed.Group != 0 && s.Group == failed.Group }
	first := 0
	if failed.Group == 0 {
		first = failed.Order
	}
	for _, s := range m.Steps {
		if inGroup(s) && s.Order > 0 && (first == 0 || s.Order < first) {
			first = s.Order
		}
	}
	var out []*StepState
	for _, s := range m.Steps {
		if s == failed || s.Status != StepDone {
			continue
		}
		if inGroup(s) || (first > 0 && s.Order >= first) {
			out = append(out, s)
		}
	}
	return out
}

// irreversibleIn says why the scope cannot be undone, or "".
func irreversibleIn(m *Migration, scope []*StepState, failed *StepState) string {
	steps := make([]Step, len(m.Steps))
	index := map[*StepState]int{}
	for i, s := range m.Steps {
		steps[i] = s.Step
		index[s] = i
	}
	var stuck []string
	for _, s := range scope {
		if !undoable(steps, index[s]) {
			stuck = append(stuck, fmt.Sprintf("step %d (%s)", s.ID, s.Description))
		}
	}
	if failed.Backfill != nil && !undoable(steps, index[failed]) {
		stuck = append(stuck, fmt.Sprintf("the batches step %d already committed", failed.ID))
	}
	if len(stuck) == 0 {
		return ""
	}
	return "the transaction cannot be undone because " + strings.Join(stuck, ", ") +
		" cannot be; nothing was undone, the database is consistent: fix the cause and re-run to resume"
}

// recordGroup journals the migration's end after a group failure.
func (r *Runner) recordGroup(ctx context.Context, m *Migration, ge *GroupError, status string) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.st.setMigration(bg, r.pool, m.ID, status, ge.Error()); err != nil {
		r.log.Error("could not record the transaction's rollback in the journal", "migration", m.ID, "error", err)
	}
	m.Status = status
}

// forgetJobs deletes backfill checkpoints, so that the steps start over.
func (r *Runner) forgetJobs(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	jobs := pgx.Identifier{r.cfg.StateSchema, "backfill_jobs"}.Sanitize()
	var exists bool
	if err := r.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, jobs).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := r.pool.Exec(ctx, `DELETE FROM `+jobs+` WHERE job_id = ANY ($1)`, ids)
	return err
}
