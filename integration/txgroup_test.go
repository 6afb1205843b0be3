package integration

// Transaction groups (issue 11, defect 5): statements the author wrapped
// in BEGIN ... COMMIT, or that the file's runner runs in one transaction,
// keep their all-or-nothing meaning through `migrate apply`. When a step of
// the group fails on its data, the runner undoes the group's done steps,
// and the database ends where naive ends: as it was. And (defect 9)
// `migrate status` after a rollback still shows each step's own run.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const txGroupFixture = `
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 5000) g;
CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, amount int NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 5000, 1 + g % 97 FROM generate_series(1, 20000) g;
-- The one row the new check rejects.
INSERT INTO orders VALUES (20001, 7, -5);`

// The example, as written in a plain file and in a goose file
// (whose runner wraps the file in one transaction).
const txGroupBody = `ALTER TABLE users ADD COLUMN nickname text;
CREATE INDEX users_nickname_idx ON users (nickname);
ALTER TABLE orders ADD CONSTRAINT amount_pos CHECK (amount > 0);`

func TestApplyTransactionGroup(t *testing.T) {
	e := newEnv(t, txGroupFixture)
	ctx := context.Background()
	tables := []string{"users", "orders"}
	orig := takeSnapshot(t, ctx, e.c.Primary.DSN(e.db(t, ctx, "orig")), tables, nil)

	for _, tc := range []struct {
		name, file, naive string
		failLine          string // file:line of the failing statement
	}{
		{name: "explicit_begin", file: "BEGIN;\n" + txGroupBody + "\nCOMMIT;", naive: "BEGIN;\n" + txGroupBody + "\nCOMMIT;", failLine: ":4:"},
		{name: "goose_file", file: "-- +goose Up\n" + txGroupBody, naive: "BEGIN;\n" + txGroupBody + "\nCOMMIT;", failLine: ":4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeMigration(t, "20240501120000_"+tc.name, tc.file)
			naiveDB, planned := e.db(t, ctx, "naive"), e.db(t, ctx, "planned")

			if err := execErr(ctx, e.c.Primary.DSN(naiveDB), tc.naive); err == nil {
				t.Fatal("naive run passed; the fixture must violate the check")
			}
			if d := orig.diff(takeSnapshot(t, ctx, e.c.Primary.DSN(naiveDB), tables, nil), nil); len(d) > 0 {
				t.Fatalf("naive did not roll back (test premise):\n  %s", strings.Join(d, "\n  "))
			}

			plan := e.migrateCmd(ctx, planned, "apply", "--dry-run", file)
			if plan.code != 0 || !strings.Contains(plan.stdout, "split out: CONCURRENTLY cannot run inside a transaction block") ||
				!strings.Contains(plan.stdout, "all or nothing") {
				t.Errorf("the dry run does not say which statements were split out and why:\n%s", plan)
			}

			res := e.migrateCmd(ctx, planned, applyArgs(file)...)
			t.Logf("the failed apply:\n%s", res)
			if res.code != 1 {
				t.Fatalf("apply: want exit 1, got:\n%s", res)
			}
			for _, want := range []string{"rolled back", "amount_pos", "is violated by some row", file + tc.failLine} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("apply's message lacks %q:\n%s", want, res)
				}
			}
			if d := orig.diff(takeSnapshot(t, ctx, e.c.Primary.DSN(planned), tables, nil), nil); len(d) > 0 {
				t.Errorf("after the failed group the database differs from the original (naive rolled back):\n  %s\n%s", strings.Join(d, "\n  "), res)
			}
			checkNothingOfOurs(t, ctx, e, planned)
			st := status(t, e, ctx, planned)
			if len(st.Migrations) != 1 || st.Migrations[0].Status != "rolled_back" {
				t.Errorf("status after the group rolled back: %+v", st)
			} else {
				for _, s := range st.Migrations[0].Steps {
					if s.Status == "done" || s.Status == "running" {
						t.Errorf("step %d is %s after the group rolled back", s.ID, s.Status)
					}
				}
			}
			text := e.migrateCmd(ctx, planned, "status")
			t.Logf("status after the rollback:\n%s", text.stdout)
			if !strings.Contains(text.stdout, "ROLLED_BACK") || !strings.Contains(text.stdout, "rolled back") {
				t.Errorf("status text does not say the group was rolled back:\n%s", text)
			}

			// Fix the data and run both again: the group starts over and
			// ends where naive ends.
			for _, db := range []string{naiveDB, planned} {
				exec1(t, ctx, e.c.Primary.DSN(db), `DELETE FROM orders WHERE amount <= 0`)
			}
			exec1(t, ctx, e.c.Primary.DSN(naiveDB), tc.naive)
			res = e.migrateCmd(ctx, planned, applyArgs(file)...)
			if res.code != 0 || !strings.Contains(res.stdout, "completed") {
				t.Fatalf("apply after fixing the data:\n%s", res)
			}
			want := takeSnapshot(t, ctx, e.c.Primary.DSN(naiveDB), tables, nil)
			if d := want.diff(takeSnapshot(t, ctx, e.c.Primary.DSN(planned), tables, nil), nil); len(d) > 0 {
				t.Errorf("the re-run differs from naive:\n  %s", strings.Join(d, "\n  "))
			}
			checkNothingOfOurs(t, ctx, e, planned)
		})
	}
}

// TestApplyTransactionGroupConcurrentFailure: the failing step runs
// outside any transaction (a unique index built CONCURRENTLY on
// duplicates); the group's earlier step is undone all the same, and the
// invalid index the build left is gone.
func TestApplyTransactionGroupConcurrentFailure(t *testing.T) {
	e := newEnv(t, txGroupFixture)
	ctx := context.Background()
	tables := []string{"users", "orders"}
	db := e.db(t, ctx, "uq")
	orig := takeSnapshot(t, ctx, e.c.Primary.DSN(db), tables, nil)
	file := writeMigration(t, "20240501120000_uq", `-- +goose Up
ALTER TABLE users ADD COLUMN nickname text;
CREATE UNIQUE INDEX orders_user_uq ON orders (user_id);`)
	res := e.migrateCmd(ctx, db, applyArgs(file)...)
	if res.code != 1 || !strings.Contains(res.stderr, "rolled back") || !strings.Contains(res.stderr, "23505") ||
		!strings.Contains(res.stderr, file+":3:") {
		t.Fatalf("apply: want exit 1 naming the group's rollback, the duplicate and line 3:\n%s", res)
	}
	if d := orig.diff(takeSnapshot(t, ctx, e.c.Primary.DSN(db), tables, nil), nil); len(d) > 0 {
		t.Errorf("after the failed group the database differs from the original:\n  %s\n%s", strings.Join(d, "\n  "), res)
	}
	checkNothingOfOurs(t, ctx, e, db)
}

// TestApplyTransactionGroupResumable: a step of a group that cannot get
// its lock (here: the pre-flight gate gives up on a transaction holding
// the table) fails resumably as before: nothing is undone, and a re-run
// once the blocker is gone finishes.
func TestApplyTransactionGroupResumable(t *testing.T) {
	e := newEnv(t, txGroupFixture)
	ctx := context.Background()
	db := e.db(t, ctx, "busy")
	file := writeMigration(t, "20240501120000_busy", "-- +goose Up\n"+strings.ReplaceAll(txGroupBody, "amount > 0", "amount > -100"))
	blocker, err := pgx.Connect(ctx, e.c.Primary.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(context.Background())
	if _, err := blocker.Exec(ctx, `BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	res := e.migrateCmd(ctx, db, applyArgs(file, "--preflight-timeout", "2s", "--retries", "2")...)
	if res.code != 1 || strings.Contains(res.stderr, "undo step") || strings.Contains(res.stderr, "transaction from") {
		t.Fatalf("apply with orders locked: want a resumable failure, nothing undone:\n%s", res)
	}
	st := statusSteps(t, e, ctx, db)
	if st[0].Status != "done" || st[1].Status != "done" {
		t.Errorf("the steps on users were undone after a lock failure: %+v", st)
	}
	if _, err := blocker.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if res := e.migrateCmd(ctx, db, applyArgs(file)...); res.code != 0 || !strings.Contains(res.stdout, "completed") {
		t.Fatalf("re-run once the blocker is gone:\n%s", res)
	}
}

// checkNothingOfOurs fails when the runner left invalid indexes, helper
// triggers or functions, or backfill checkpoints behind.
func checkNothingOfOurs(t *testing.T, ctx context.Context, e *env, db string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, e.c.Primary.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var leftovers string
	err = conn.QueryRow(ctx, `SELECT concat_ws(', ',
    (SELECT 'invalid index ' || string_agg(indexrelid::regclass::text, ' ') FROM pg_index WHERE NOT indisvalid),
    (SELECT 'trigger ' || string_agg(tgname, ' ') FROM pg_trigger WHERE NOT tgisinternal),
    (SELECT 'function ' || string_agg(proname, ' ') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'))`).Scan(&leftovers)
	if err != nil {
		t.Fatal(err)
	}
	var jobs bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('migrate.backfill_jobs') IS NOT NULL`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM migrate.backfill_jobs WHERE status <> 'done'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			leftovers += fmt.Sprintf(", %d unfinished backfill jobs", n)
		}
	}
	if leftovers != "" {
		t.Errorf("left behind: %s", leftovers)
	}
}

// TestStatusAfterRollback (defect 9): a rollback records the undo beside
// the step's run; it does not count the undo as another attempt of the
// step nor replace the step's start and finish times.
func TestStatusAfterRollback(t *testing.T) {
	e := newEnv(t, txGroupFixture)
	ctx := context.Background()
	db := e.db(t, ctx, "status")
	file := writeMigration(t, "expand", `ALTER TABLE users ADD COLUMN nickname text;
CREATE INDEX users_name_idx ON users (name);
ALTER TABLE orders ADD CONSTRAINT amount_small CHECK (amount < 1000);
ALTER TABLE users RENAME COLUMN name TO full_name;`)
	args := append([]string{"apply", "--lock-timeout", lockTimeout.String()}, fastRetries...)
	if res := e.migrateCmd(ctx, db, append(args, file)...); res.code != 0 || !strings.Contains(res.stdout, "expanded") {
		t.Fatalf("apply: %s", res)
	}
	before := statusSteps(t, e, ctx, db)
	time.Sleep(1100 * time.Millisecond) // so that a rewritten time cannot round to the old one
	if res := e.migrateCmd(ctx, db, "rollback"); res.code != 0 {
		t.Fatalf("rollback: %s", res)
	}
	after := statusSteps(t, e, ctx, db)
	if len(after) != len(before) {
		t.Fatalf("steps: %d before, %d after", len(before), len(after))
	}
	undone := 0
	for i, b := range before {
		a := after[i]
		if a.Attempts != b.Attempts {
			t.Errorf("step %d: %d attempts before the rollback, %d after", b.ID, b.Attempts, a.Attempts)
		}
		if !sameTime(a.StartedAt, b.StartedAt) || !sameTime(a.FinishedAt, b.FinishedAt) {
			t.Errorf("step %d: ran %v .. %v, after the rollback the journal says %v .. %v", b.ID, b.StartedAt, b.FinishedAt, a.StartedAt, a.FinishedAt)
		}
		if b.Status == "done" {
			if a.Status != "undone" {
				t.Errorf("step %d: %s after the rollback", b.ID, a.Status)
			}
			if a.UndoneAt == nil || (b.FinishedAt != nil && a.UndoneAt.Before(*b.FinishedAt)) {
				t.Errorf("step %d: undone_at %v (finished %v)", b.ID, a.UndoneAt, b.FinishedAt)
			}
			undone++
		}
		if b.Undo != "" && b.Status == "done" && a.UndoAttempts != 1 {
			t.Errorf("step %d: undo_attempts %d, want 1", b.ID, a.UndoAttempts)
		}
	}
	if undone == 0 {
		t.Fatalf("no step was done before the rollback: %+v", before)
	}
	text := e.migrateCmd(ctx, db, "status")
	if !strings.Contains(text.stdout, "undone in") {
		t.Errorf("status text does not show the undo beside the run:\n%s", text.stdout)
	}
}

type stepStatus struct {
	ID           int        `json:"id"`
	Status       string     `json:"status"`
	Undo         string     `json:"undo"`
	Attempts     int        `json:"attempts"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	UndoAttempts int        `json:"undo_attempts"`
	UndoneAt     *time.Time `json:"undone_at"`
}

func statusSteps(t *testing.T, e *env, ctx context.Context, db string) []stepStatus {
	t.Helper()
	res := e.migrateCmd(ctx, db, "status", "--format", "json")
	var st struct {
		Migrations []struct {
			Steps []stepStatus `json:"steps"`
		} `json:"migrations"`
	}
	if res.code != 0 {
		t.Fatalf("status: %s", res)
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil || len(st.Migrations) != 1 {
		t.Fatalf("status json (%v):\n%s", err, res.stdout)
	}
	return st.Migrations[0].Steps
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
