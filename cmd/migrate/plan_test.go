package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlanExitCodes(t *testing.T) {
	safe := writeFile(t, "safe.sql", "CREATE INDEX ON users (email);\nALTER TABLE users ADD COLUMN x int DEFAULT random();\n")
	code, out, errOut := runCLI(t, "plan", safe)
	if code != exitOK || !strings.Contains(out, "CREATE INDEX CONCURRENTLY") || errOut != "" {
		t.Errorf("safe: exit %d\n%s\n%s", code, out, errOut)
	}

	refused := writeFile(t, "refused.sql", "VACUUM FULL users;\nCREATE INDEX ON users (email);\n")
	code, out, errOut = runCLI(t, "plan", "--format", "json", refused)
	if code != exitFindings || !strings.Contains(errOut, "refused.sql:1:1") || !strings.Contains(errOut, "rewriting-table-operation") {
		t.Errorf("refused: exit %d, stderr %q", code, errOut)
	}
	var v struct {
		Version int               `json:"version"`
		Steps   []json.RawMessage `json:"steps"`
		Refused []json.RawMessage `json:"refused"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != 1 || len(v.Steps) != 1 || len(v.Refused) != 1 {
		t.Errorf("json: %v %+v\n%s", err, v, out)
	}

	code, out, _ = runCLI(t, "plan", "--allow-unsafe", "rewriting-table-operation", "--format", "sql", refused)
	if code != exitOK || !strings.Contains(out, "VACUUM FULL users;") || !strings.Contains(out, "-- UNSAFE") {
		t.Errorf("allow-unsafe: exit %d\n%s", code, out)
	}

	bad := writeFile(t, "bad.sql", "ALTER TABLE users ADD COLUMN;\n")
	code, _, errOut = runCLI(t, "plan", bad)
	if code != exitUsage || !strings.Contains(errOut, "bad.sql:1:") {
		t.Errorf("parse error: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "plan", filepath.Join(t.TempDir(), "missing.sql"))
	if code != exitUsage || !strings.Contains(errOut, "missing.sql") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"plan"}, {"plan", "--format", "xml", safe}, {"plan", "--pg-version", "x", safe}, {"plan", "--lock-timeout", "0s", safe}} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestPlanLockTimeoutAndVersion(t *testing.T) {
	f := writeFile(t, "m.sql", "ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;\n")
	_, out, _ := runCLI(t, "plan", "--format", "sql", "--lock-timeout", "500ms", "--pg-version", "10", f)
	if !strings.Contains(out, "SET LOCAL lock_timeout = '500ms';") || !strings.Contains(out, "-- run: migrate backfill") {
		t.Errorf("want a 500ms lock timeout and a backfill (constant defaults rewrite before PostgreSQL 11):\n%s", out)
	}
}
