package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.sql")
	if err := os.WriteFile(file, []byte("CREATE INDEX i ON t (a);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply"}, "no input"},
		{[]string{"apply", "--lock-timeout", "0s", file}, "--lock-timeout must be positive"},
		{[]string{"apply", "--retries", "0", file}, "--retries must be positive"},
		{[]string{"apply", "--pg-version", "banana", file}, "--pg-version"},
		{[]string{"apply", filepath.Join(t.TempDir(), "missing.sql")}, "missing.sql"},
		{[]string{"status", "--format", "xml"}, "--format must be text or json"},
		{[]string{"complete", "extra-arg"}, "unexpected argument"},
		{[]string{"rollback", "extra-arg"}, "unexpected argument"},
		{[]string{"--dsn", "postgres://u:pw@%zz/db", "status"}, "cannot be parsed"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
}

func TestApplyUnreachableHidesPassword(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.sql")
	if err := os.WriteFile(file, []byte("CREATE INDEX i ON t (a);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"apply", file},
		{"status"},
		{"rollback"},
	} {
		full := append([]string{"--dsn", "postgres://app:s3cretpw@127.0.0.1:1/db?connect_timeout=2"}, args...)
		code, out, errOut := runCLI(t, full...)
		if code != exitFindings {
			t.Errorf("%v: exit %d, want %d (could not connect)\n%s", args, code, exitFindings, errOut)
		}
		if strings.Contains(out+errOut, "s3cretpw") {
			t.Errorf("%v: the password leaked:\n%s%s", args, out, errOut)
		}
	}
}
