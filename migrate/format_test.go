package migrate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func goldenPlan(t *testing.T) *Plan {
	t.Helper()
	sql, err := os.ReadFile(filepath.Join("testdata", "migration.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return planSQLAt(t, "testdata/migration.sql", string(sql), Options{})
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./migrate -update and review the diff):\n%s", name, got)
	}
}

func TestGoldenText(t *testing.T) {
	var b bytes.Buffer
	if err := goldenPlan(t).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "migration.plan.txt", b.Bytes())
}

func TestGoldenJSON(t *testing.T) {
	var b bytes.Buffer
	if err := goldenPlan(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "migration.plan.json", b.Bytes())
	var v struct {
		Version int              `json:"version"`
		Steps   []map[string]any `json:"steps"`
		Refused []map[string]any `json:"refused"`
	}
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || len(v.Steps) == 0 || len(v.Refused) != 1 {
		t.Errorf("version %d, %d steps, %d refused", v.Version, len(v.Steps), len(v.Refused))
	}
	for _, key := range []string{"id", "phase", "description", "sql", "backfill", "in_transaction", "locks",
		"lock_timeout_ms", "statement_timeout_ms", "breaking", "undo", "source"} {
		if _, ok := v.Steps[0][key]; !ok {
			t.Errorf("step lacks %q", key)
		}
	}
}

func TestGoldenSQL(t *testing.T) {
	var b bytes.Buffer
	if err := goldenPlan(t).WriteSQL(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "migration.plan.sql", b.Bytes())
	script := b.String()
	if _, err := pg_query.Parse(script); err != nil {
		t.Fatalf("the sql output does not parse: %v", err)
	}
	for _, want := range []string{"-- === expand ===", "-- === backfill ===", "-- === contract ===",
		"SET LOCAL lock_timeout = '2s';", "-- run: migrate backfill --table accounts --set 'code = upper(code)'",
		"-- BREAKING", "-- REFUSED"} {
		if !strings.Contains(script, want) {
			t.Errorf("sql output lacks %q", want)
		}
	}
	// CONCURRENTLY must never sit between BEGIN and COMMIT.
	inTx := false
	for _, line := range strings.Split(script, "\n") {
		switch {
		case line == "BEGIN;":
			inTx = true
		case line == "COMMIT;":
			inTx = false
		case inTx && strings.Contains(line, "CONCURRENTLY"):
			t.Errorf("CONCURRENTLY inside a transaction: %s", line)
		}
	}
}
