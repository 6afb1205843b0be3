package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/migrate-tool/migrate/integration/pgtest"
)

type planJSON struct {
	Steps []struct {
		Description string `json:"description"`
		SQL         string `json:"sql"`
		Assumes     string `json:"assumes"`
	} `json:"steps"`
}

func planOf(t *testing.T, args ...string) (planJSON, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"plan", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("plan %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return p, out
}

// Issue 11, defect 8: a file-only plan of a type change on a table the
// files do not create used to be printed as if it would work, although its
// swap is certain to stop on the NOT NULL it did not carry. Offline the
// plan must say which steps rest on unknown facts; with --dsn it reads them
// (read-only) and plans what apply would.
func TestPlanWithLiveCatalog(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.Primary.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const fixture = `CREATE TABLE orders (id int NOT NULL PRIMARY KEY, note text);
CREATE INDEX orders_note_idx ON orders (note);
INSERT INTO orders SELECT g, 'n' FROM generate_series(1, 10) g;`
	if _, err := conn.Exec(ctx, fixture); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "0042_widen.sql", "ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n")

	offline, _ := planOf(t, file)
	assumed := 0
	for _, s := range offline.Steps {
		if strings.Contains(s.Assumes, "public.orders.id") || strings.Contains(s.Assumes, "orders.id") {
			assumed++
		}
	}
	if assumed != len(offline.Steps) || assumed == 0 {
		t.Errorf("offline: %d of %d steps say what they assume\n%+v", assumed, len(offline.Steps), offline.Steps)
	}
	code, text, _ := runCLI(t, "plan", file)
	if code != exitOK || !strings.Contains(text, "depend on facts the files do not give") || !strings.Contains(text, "assumes: ") {
		t.Errorf("text plan does not say what it assumes (exit %d):\n%s", code, text)
	}

	live, out := planOf(t, "--dsn", c.Primary.DSN(""), file)
	for _, s := range live.Steps {
		if s.Assumes != "" {
			t.Errorf("live plan still assumes: %s", s.Assumes)
		}
	}
	for _, want := range []string{"IS NOT NULL", "orders_pkey", "SET NOT NULL"} {
		if !strings.Contains(out, want) {
			t.Errorf("live plan lacks %q: the column's facts were not read\n%s", want, out)
		}
	}

	// Planning only reads: the table is as it was.
	var cols int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped`).Scan(&cols); err != nil || cols != 2 {
		t.Errorf("plan --dsn changed the table: %d columns (%v)", cols, err)
	}
	var schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'migrate'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("plan --dsn created the journal schema (%v)", err)
	}

	code, _, errOut := runCLI(t, "plan", "--dsn", "postgres://nobody:s3cret@127.0.0.1:1/none?connect_timeout=2", file)
	if code != exitUsage || strings.Contains(errOut, "s3cret") || !strings.Contains(errOut, "--dsn") {
		t.Errorf("unreachable --dsn: exit %d, stderr %q", code, errOut)
	}
}
