package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func emitInput(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlanEmit(t *testing.T) {
	in := emitInput(t, "20240501120000_add_index.sql", "CREATE INDEX users_email_idx ON users (email);\nALTER TABLE users ADD COLUMN flag int DEFAULT random();\n")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, errOut := runCLI(t, "plan", "--emit", "goose", "--out", out, in)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errOut)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) == 0 || !strings.Contains(stdout, filepath.Join(out, "20240501120000_expand_")) {
		t.Fatalf("files %v, stdout %q", entries, stdout)
	}

	// A non-empty directory is refused unless --force.
	code, _, errOut = runCLI(t, "plan", "--emit", "goose", "--out", out, in)
	if code != exitUsage || !strings.Contains(errOut, "not empty") {
		t.Errorf("non-empty --out: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runCLI(t, "plan", "--emit", "goose", "--out", out, "--force", in); code != exitOK {
		t.Errorf("--force: exit %d, stderr %q", code, errOut)
	}

	// Refused statements: exit 1 and nothing written.
	refused := emitInput(t, "0007_vacuum.sql", "CREATE INDEX ON users (email);\nVACUUM FULL users;\n")
	none := filepath.Join(t.TempDir(), "none")
	code, _, errOut = runCLI(t, "plan", "--emit", "golang-migrate", "--out", none, refused)
	if _, err := os.Stat(none); code != exitFindings || err == nil || !strings.Contains(errOut, "rewriting-table-operation") {
		t.Errorf("refused: exit %d, dir exists %v, stderr %q", code, err == nil, errOut)
	}

	for _, args := range [][]string{
		{"plan", "--emit", "liquibase", "--out", none, in},
		{"plan", "--emit", "goose", in},
		{"plan", "--out", none, in},
		{"plan", "--emit", "goose", "--out", none, "--start-version", "1", "--version-prefix", "2", in},
		{"plan", "--emit", "goose", "--out", none, "--start-version", "x1", in},
	} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
