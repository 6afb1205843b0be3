package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The old migrations: a table, and an unsafe index on it that is already
// on main (a finding lint reports when it reads the whole directory).
var oldMigrations = map[string]string{
	"migrations/001_create_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text, name varchar(20));\n",
	"migrations/002_index_email.sql":  "CREATE INDEX users_email_idx ON users (email);\n",
}

// newUnsafe is a branch's migration: unsafe, and with a varchar widening
// that is catalog-only only if lint knows name's type from 001.
const newUnsafe = "CREATE INDEX users_name_idx ON users (name);\nALTER TABLE users ALTER COLUMN name TYPE varchar(40);\n"

// gitRepo makes a git repository on branch main holding oldMigrations in
// one commit, and a branch feature that adds migrations/003_new.sql; the
// working directory is the repository, feature checked out.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := inTempDir(t, oldMigrations)
	runGit(t, dir, "init", "-q", "-b", "main")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "old migrations")
	runGit(t, dir, "checkout", "-q", "-b", "feature")
	putFile(t, filepath.Join(dir, "migrations/003_new.sql"), newUnsafe)
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "new migration")
	return dir
}

// runGit runs git with an identity and none of the user's configuration.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitTestEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

var gitTestEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
	"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
}

func putFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// findingFiles is the set of files the JSON report has findings for, and
// the files it lists as linted.
func findingFiles(t *testing.T, stdout string) (findings, files []string) {
	t.Helper()
	doc := decodeJSON(t, stdout)
	for _, f := range doc.Findings {
		if !slices.Contains(findings, f.File) {
			findings = append(findings, f.File)
		}
	}
	for _, f := range doc.Files {
		files = append(files, f.Path)
	}
	slices.Sort(findings)
	slices.Sort(files)
	return findings, files
}

func TestChangedSinceReportsOnlyChangedFiles(t *testing.T) {
	gitRepo(t)

	// Without the flag the old unsafe index is reported too, so the
	// narrowing below is what hides it.
	code, out, errOut := lintCLI(t, "", "--format", "json", "migrations")
	if code != exitFindings {
		t.Fatalf("whole directory: exit %d, stderr %s", code, errOut)
	}
	if got, _ := findingFiles(t, out); !slices.Equal(got, []string{"migrations/002_index_email.sql", "migrations/003_new.sql"}) {
		t.Fatalf("whole directory: findings in %v", got)
	}

	code, out, errOut = lintCLI(t, "", "--changed-since", "main", "--format", "json", "migrations")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	findings, files := findingFiles(t, out)
	if want := []string{"migrations/003_new.sql"}; !slices.Equal(findings, want) || !slices.Equal(files, want) {
		t.Errorf("findings in %v, files %v; want only %v", findings, files, want)
	}
	// 001 was read for the schema model: name is varchar(20), so the
	// widening is catalog-only and not reported.
	for _, f := range decodeJSON(t, out).Findings {
		if f.Line == 2 {
			t.Errorf("the varchar widening on line 2 was reported (%s): the schema model missed the earlier migration", f.Rule)
		}
	}
}

func TestChangedSinceWithoutPathsLintsChangedSQLOnly(t *testing.T) {
	dir := gitRepo(t)
	putFile(t, filepath.Join(dir, "README.md"), "```sql\nCREATE INDEX a_idx ON a (b);\n```\n")
	code, out, errOut := lintCLI(t, "", "--changed-since", "main", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	findings, files := findingFiles(t, out)
	if want := []string{"migrations/003_new.sql"}; !slices.Equal(findings, want) || !slices.Equal(files, want) {
		t.Errorf("findings in %v, files %v; want only %v", findings, files, want)
	}
	// Alone, 003 has no earlier file saying what name was: the widening
	// is reported, erring towards caution.
	widened := false
	for _, f := range decodeJSON(t, out).Findings {
		widened = widened || f.Line == 2
	}
	if !widened {
		t.Errorf("without the earlier files the widening should be reported:\n%s", out)
	}
}

// A commit that lands on main after the branch point is not the branch's
// change: the diff starts at the merge base, as a pull request's does.
func TestChangedSinceUsesMergeBase(t *testing.T) {
	dir := gitRepo(t)
	runGit(t, dir, "checkout", "-q", "main")
	putFile(t, filepath.Join(dir, "migrations/002_index_email.sql"), "CREATE INDEX users_email_idx ON users (email);\nCREATE INDEX users_email2_idx ON users (email);\n")
	runGit(t, dir, "commit", "-q", "-am", "main moves on")
	runGit(t, dir, "checkout", "-q", "feature")
	// The feature branch does not have main's change, so 002 differs
	// between main and HEAD; only a two-dot diff would report it.
	code, out, errOut := lintCLI(t, "", "--changed-since", "main", "--format", "json", "migrations")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if findings, _ := findingFiles(t, out); !slices.Equal(findings, []string{"migrations/003_new.sql"}) {
		t.Errorf("findings in %v, want only the branch's own migration", findings)
	}
}

func TestChangedSinceIncludesWorkingTree(t *testing.T) {
	dir := gitRepo(t)
	// Untracked, modified-but-unstaged, and outside the PATH argument.
	putFile(t, filepath.Join(dir, "migrations/004_untracked.sql"), "CREATE INDEX users_id_email_idx ON users (id, email);\n")
	putFile(t, filepath.Join(dir, "migrations/002_index_email.sql"), "CREATE INDEX users_email_idx ON users (email);\nCREATE INDEX users_email3_idx ON users (email);\n")
	putFile(t, filepath.Join(dir, "other/x.sql"), "CREATE INDEX users_x_idx ON users (name);\n")
	code, out, errOut := lintCLI(t, "", "--changed-since", "main", "--format", "json", "migrations")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	want := []string{"migrations/002_index_email.sql", "migrations/003_new.sql", "migrations/004_untracked.sql"}
	if findings, _ := findingFiles(t, out); !slices.Equal(findings, want) {
		t.Errorf("findings in %v, want %v", findings, want)
	}
}

func TestChangedSinceNothingChangedExits0(t *testing.T) {
	gitRepo(t)
	for _, args := range [][]string{
		{"--changed-since", "HEAD", "migrations"},
		{"--changed-since", "HEAD"},
		{"--changed-since", "HEAD", "--format", "sarif", "migrations"},
	} {
		code, _, errOut := lintCLI(t, "", args...)
		if code != exitOK {
			t.Errorf("%v: exit %d, want 0; stderr %s", args, code, errOut)
		}
		if !strings.Contains(errOut, "no migration files changed since HEAD") {
			t.Errorf("%v: stderr lacks the note: %q", args, errOut)
		}
	}
}

func TestChangedSinceBadInputExits2(t *testing.T) {
	gitRepo(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown ref":    {[]string{"--changed-since", "no-such-branch", "migrations"}, `"no-such-branch" is not a commit`},
		"option as ref":  {[]string{"--changed-since", "--output=x", "migrations"}, "is not a commit"},
		"empty ref":      {[]string{"--changed-since", "", "migrations"}, "needs a git ref"},
		"standard input": {[]string{"--changed-since", "main", "-"}, "standard input"},
		"missing path":   {[]string{"--changed-since", "main", "no-such-dir"}, "no-such-dir"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := lintCLI(t, "", tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %s", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q lacks %q", errOut, tc.want)
			}
		})
	}
}

func TestChangedSinceOutsideGitExits2(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := inTempDir(t, oldMigrations)
	// Keep git from finding a repository above the temporary directory.
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	code, _, errOut := lintCLI(t, "", "--changed-since", "main", "migrations")
	if code != exitUsage || !strings.Contains(errOut, "git work tree") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// An unchanged file that does not parse is not the branch's problem: it
// is left out with a note instead of failing the run.
func TestChangedSinceIgnoresErrorsInUnchangedFiles(t *testing.T) {
	dir := gitRepo(t)
	runGit(t, dir, "checkout", "-q", "main")
	putFile(t, filepath.Join(dir, "migrations/000_broken.sql"), "CREATE TABLE (;\n")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "broken")
	runGit(t, dir, "checkout", "-q", "-b", "feature2")
	putFile(t, filepath.Join(dir, "migrations/005_ok.sql"), "CREATE TABLE t (id int);\n")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "ok")

	code, _, errOut := lintCLI(t, "", "--changed-since", "main", "migrations")
	if code != exitOK || !strings.Contains(errOut, "1 problem(s) in files unchanged") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	// The same broken file, changed on the branch, fails the run.
	putFile(t, filepath.Join(dir, "migrations/000_broken.sql"), "CREATE TABLE ((;\n")
	code, _, errOut = lintCLI(t, "", "--changed-since", "main", "migrations")
	if code != exitUsage || !strings.Contains(errOut, "000_broken.sql") {
		t.Errorf("changed broken file: exit %d, stderr %q", code, errOut)
	}
}
