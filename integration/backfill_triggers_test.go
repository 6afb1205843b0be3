package integration

// A planned migration must not fire the application's row triggers where
// naive fires none: the backfills that only fill the tool's own columns
// (a shadow column's copy, a new column's volatile default) run with
// session_replication_role = replica, and a role that may not set it is
// refused before any change when triggers would fire.

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

// triggerFixture: orders has the two triggers applications typically
// have, a set_updated_at and an audit row per change; plain has none;
// always_orders has an ENABLE ALWAYS audit trigger, which replica does
// not silence. The tables belong to trig_app, a role that may run
// migrations but is no superuser (the grant is given per test).
const triggerFixture = `
CREATE TABLE orders (
    id         int PRIMARY KEY,
    status     text NOT NULL DEFAULT 'new',
    updated_at timestamptz NOT NULL DEFAULT '2000-01-01 00:00+00'
);
INSERT INTO orders (id, status) SELECT g, 'new' FROM generate_series(1, 2500) g;
CREATE TABLE order_audit (order_id bigint NOT NULL, op text NOT NULL);
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_audit VALUES (NEW.id, TG_OP);
    RETURN NULL;
END
$$;
CREATE TRIGGER set_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER orders_audit AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();
-- An UPDATE OF trigger on a column no internal backfill writes never fires.
CREATE TRIGGER orders_status_audit AFTER UPDATE OF status ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();

CREATE TABLE plain (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO plain SELECT g, g FROM generate_series(1, 2500) g;

CREATE TABLE always_orders (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO always_orders SELECT g, g FROM generate_series(1, 2500) g;
CREATE TRIGGER always_orders_audit AFTER UPDATE ON always_orders FOR EACH ROW EXECUTE FUNCTION audit_row();
ALTER TABLE always_orders ENABLE ALWAYS TRIGGER always_orders_audit;

-- A statement trigger on UPDATE would fire once per batch.
CREATE TABLE stmt_orders (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO stmt_orders SELECT g, g FROM generate_series(1, 2500) g;
CREATE FUNCTION audit_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_audit VALUES (0, TG_LEVEL);
    RETURN NULL;
END
$$;
CREATE TRIGGER stmt_orders_audit AFTER UPDATE ON stmt_orders FOR EACH STATEMENT EXECUTE FUNCTION audit_statement();

ALTER TABLE stmt_orders OWNER TO trig_app;
-- A DO ALSO rule on UPDATE would run once per batch.
CREATE TABLE ruled (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO ruled SELECT g, g FROM generate_series(1, 2500) g;
CREATE RULE ruled_log AS ON UPDATE TO ruled DO ALSO INSERT INTO order_audit VALUES (0, 'rule');
ALTER TABLE ruled OWNER TO trig_app;
ALTER TABLE orders OWNER TO trig_app;
ALTER TABLE order_audit OWNER TO trig_app;
ALTER TABLE plain OWNER TO trig_app;
ALTER TABLE always_orders OWNER TO trig_app;
GRANT CREATE ON SCHEMA public TO trig_app;
`

// triggerState is what the triggers would have changed.
type triggerState struct {
	touched, audit, rows int // rows whose updated_at moved; audit rows; orders rows
	idType               string
	data                 string // md5 of orders (id, status) in key order
}

func readTriggerState(t *testing.T, ctx context.Context, dsn string) triggerState {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s triggerState
	err = conn.QueryRow(ctx, `SELECT
    (SELECT count(*) FROM orders WHERE updated_at <> '2000-01-01 00:00+00'),
    (SELECT count(*) FROM order_audit),
    (SELECT count(*) FROM orders),
    (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'),
    (SELECT md5(string_agg(id || ':' || status, ',' ORDER BY id)) FROM orders)`).Scan(&s.touched, &s.audit, &s.rows, &s.idType, &s.data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// asRole is dsn connecting as role instead of the superuser.
func asRole(dsn, role string) string {
	return regexp.MustCompile(`user=\S+`).ReplaceAllString(dsn, "user="+role)
}

func TestBackfillTriggers(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	e := &env{c: c, tmpl: "tmpl"}
	ctx := context.Background()
	exec1(t, ctx, c.Primary.DSN(""), "CREATE ROLE trig_app LOGIN; CREATE ROLE trig_granted LOGIN IN ROLE trig_app")
	exec1(t, ctx, c.Primary.DSN(""), "CREATE DATABASE tmpl")
	exec1(t, ctx, c.Primary.DSN("tmpl"), triggerFixture)
	exec1(t, ctx, c.Primary.DSN("tmpl"), "VACUUM ANALYZE")

	// runAs applies sql on a fresh database as role ("" for the
	// superuser) and, for comparison, naively on another.
	type run struct {
		res            result
		planned, naive triggerState
		db             string
	}
	runAs := func(t *testing.T, role, sql string, extra ...string) run {
		t.Helper()
		file := writeMigration(t, "m", sql)
		naive := e.db(t, ctx, "naive")
		exec1(t, ctx, c.Primary.DSN(naive), sql)
		planned := e.db(t, ctx, "planned")
		dsn := c.Primary.DSN(planned)
		if role != "" {
			exec1(t, ctx, c.Primary.DSN(""), "GRANT CREATE ON DATABASE "+planned+" TO trig_app")
			dsn = asRole(dsn, role)
		}
		res := e.migrateWithDSN(ctx, dsn, applyArgs(file, extra...)...)
		return run{res: res, planned: readTriggerState(t, ctx, c.Primary.DSN(planned)),
			naive: readTriggerState(t, ctx, c.Primary.DSN(naive)), db: planned}
	}
	sameAsNaive := func(t *testing.T, r run) {
		t.Helper()
		if r.res.code != 0 {
			t.Fatalf("apply: %s", r.res)
		}
		if r.planned != r.naive {
			t.Errorf("planned %+v, naive %+v\n%s", r.planned, r.naive, r.res)
		}
	}

	const typeChange = `ALTER TABLE orders ALTER COLUMN id TYPE bigint;`
	const volatileDefault = `ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();`

	t.Run("type_change_fires_no_trigger", func(t *testing.T) {
		r := runAs(t, "", typeChange)
		sameAsNaive(t, r)
		if r.planned.touched != 0 || r.planned.audit != 0 || r.planned.idType != "bigint" {
			t.Errorf("want no row touched, no audit row, id bigint; got %+v", r.planned)
		}
	})
	t.Run("volatile_default_fires_no_trigger", func(t *testing.T) {
		r := runAs(t, "", volatileDefault)
		sameAsNaive(t, r)
		var unfilled int
		if err := queryOne(ctx, c.Primary.DSN(r.db), `SELECT count(*) FROM orders WHERE seen_at IS NULL`, &unfilled); err != nil || unfilled != 0 {
			t.Errorf("rows without seen_at: %d (%v)", unfilled, err)
		}
		if r.planned.touched != 0 || r.planned.audit != 0 {
			t.Errorf("want no row touched and no audit row; got %+v", r.planned)
		}
	})
	t.Run("user_update_fires_triggers", func(t *testing.T) {
		r := runAs(t, "", `UPDATE orders SET status = 'shipped';`)
		sameAsNaive(t, r)
		if !strings.Contains(r.res.stderr+r.res.stdout, "backfill") {
			t.Logf("the UPDATE was not planned as a backfill:\n%s", r.res)
		}
		// set_updated_at on every row; orders_audit and the UPDATE OF
		// status trigger each write a row per row.
		if r.planned.touched != r.planned.rows || r.planned.audit != 2*r.planned.rows {
			t.Errorf("the application's own UPDATE must fire its triggers as naive does: %+v", r.planned)
		}
	})
	t.Run("no_privilege_refused_before_any_change", func(t *testing.T) {
		for _, sql := range []string{typeChange, volatileDefault} {
			r := runAs(t, "trig_app", sql)
			if r.res.code != 2 {
				t.Fatalf("want exit 2 (refused), got %s", r.res)
			}
			for _, want := range []string{"set_updated_at on orders", "orders_audit on orders", "GRANT SET ON PARAMETER session_replication_role",
				"--allow-unsafe backfill-fires-triggers", "nothing was run"} {
				if !strings.Contains(r.res.stderr, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, r.res)
				}
			}
			if strings.Contains(r.res.stderr, "orders_status_audit") {
				t.Errorf("an UPDATE OF status trigger does not fire for a backfill that does not write status:\n%s", r.res)
			}
			checkUntouched(t, ctx, c.Primary.DSN(r.db))
		}
	})
	t.Run("no_privilege_accepted", func(t *testing.T) {
		r := runAs(t, "trig_app", typeChange, "--allow-unsafe", "backfill-fires-triggers")
		if r.res.code != 0 {
			t.Fatalf("apply: %s", r.res)
		}
		if r.planned.audit != r.planned.rows || r.planned.idType != "bigint" {
			t.Errorf("accepted: the triggers fire for every row, and the change is made: %+v", r.planned)
		}
	})
	t.Run("granted_role", func(t *testing.T) {
		exec1(t, ctx, c.Primary.DSN(""), "GRANT SET ON PARAMETER session_replication_role TO trig_granted")
		for _, sql := range []string{typeChange, volatileDefault} {
			sameAsNaive(t, runAs(t, "trig_granted", sql))
		}
	})
	t.Run("table_without_triggers_needs_no_privilege", func(t *testing.T) {
		r := runAs(t, "trig_app", `ALTER TABLE plain ALTER COLUMN v TYPE bigint;
ALTER TABLE plain ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();`)
		if r.res.code != 0 {
			t.Fatalf("apply: %s", r.res)
		}
	})
	t.Run("statement_trigger", func(t *testing.T) {
		const widen = `ALTER TABLE stmt_orders ALTER COLUMN v TYPE bigint;`
		r := runAs(t, "trig_app", widen)
		if r.res.code != 2 || !strings.Contains(r.res.stderr, "stmt_orders_audit on stmt_orders (FOR EACH STATEMENT: once per batch)") {
			t.Fatalf("want a refusal naming the statement trigger, got %s", r.res)
		}
		sameAsNaive(t, runAs(t, "", widen))
	})
	t.Run("update_rule", func(t *testing.T) {
		const widen = `ALTER TABLE ruled ALTER COLUMN v TYPE bigint;`
		r := runAs(t, "trig_app", widen)
		if r.res.code != 2 || !strings.Contains(r.res.stderr, "rule ruled_log on ruled") {
			t.Fatalf("want a refusal naming the rule, got %s", r.res)
		}
		sameAsNaive(t, runAs(t, "", widen))
	})
	t.Run("always_trigger_refused", func(t *testing.T) {
		r := runAs(t, "", `ALTER TABLE always_orders ALTER COLUMN v TYPE bigint;`)
		if r.res.code != 2 || !strings.Contains(r.res.stderr, "always_orders_audit on always_orders (ENABLE ALWAYS)") {
			t.Fatalf("want a refusal naming the ENABLE ALWAYS trigger, got %s", r.res)
		}
		checkUntouched(t, ctx, c.Primary.DSN(r.db))
		r = runAs(t, "", `ALTER TABLE always_orders ALTER COLUMN v TYPE bigint;`, "--allow-unsafe", "backfill-fires-triggers")
		if r.res.code != 0 || r.planned.audit != 2500 {
			t.Fatalf("accepted: want exit 0 and one audit row per row, got audit=%d\n%s", r.planned.audit, r.res)
		}
	})
}

// checkUntouched asserts that a refused apply changed nothing: orders has
// its columns and types, and no journal was created.
func checkUntouched(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	var cols string
	if err := queryOne(ctx, dsn, `SELECT string_agg(c.relname || '.' || attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY c.relname, attnum)
FROM pg_attribute JOIN pg_class c ON c.oid = attrelid
WHERE c.relname IN ('orders', 'always_orders') AND attnum > 0 AND NOT attisdropped`, &cols); err != nil {
		t.Fatal(err)
	}
	const want = "always_orders.id:integer,always_orders.v:integer,orders.id:integer,orders.status:text,orders.updated_at:timestamp with time zone"
	if cols != want {
		t.Errorf("columns after a refusal: %s, want %s", cols, want)
	}
	var journal bool
	if err := queryOne(ctx, dsn, `SELECT to_regnamespace('migrate') IS NOT NULL`, &journal); err != nil {
		t.Fatal(err)
	}
	if journal {
		t.Error("a refused apply created the journal")
	}
}

// migrateWithDSN runs the CLI against dsn, which may name another role
// than the harness's superuser.
func (e *env) migrateWithDSN(ctx context.Context, dsn string, args ...string) result {
	cmd := exec.CommandContext(ctx, binary, append([]string{"--dsn", dsn}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code = -1
		r.stderr += "\n" + err.Error()
	}
	return r
}

// queryOne scans the one value of a one-row query.
func queryOne(ctx context.Context, dsn, sql string, into any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(into)
}
