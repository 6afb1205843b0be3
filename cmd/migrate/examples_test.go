package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var updateExamples = flag.Bool("update", false, "rewrite examples/*.lint.txt and examples/*.plan.txt from the current output")

// TestExamples keeps the committed output next to every example migration
// current: examples/NAME.lint.txt is what `migrate lint examples/NAME.sql`
// prints and examples/NAME.plan.txt what `migrate plan examples/NAME.sql`
// prints, both run from the repository root so the paths in them are
// relative and stable. After an intended change to the linter or the
// planner, regenerate them with
//
//	go test ./cmd/migrate -run TestExamples -update
//
// and review the diff.
func TestExamples(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	files, err := filepath.Glob(filepath.Join("examples", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("examples/ holds %d migrations, want at least 10", len(files))
	}
	readme, err := os.ReadFile(filepath.Join("examples", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, sql := range files {
		// Forward slashes: the outputs name the file as it was passed.
		sql = filepath.ToSlash(sql)
		base := strings.TrimSuffix(sql, ".sql")
		want[base+".lint.txt"] = true
		want[base+".plan.txt"] = true
		t.Run(filepath.Base(base), func(t *testing.T) {
			if !strings.Contains(string(readme), "`"+filepath.Base(sql)+"`") {
				t.Errorf("examples/README.md does not list %s", filepath.Base(sql))
			}

			code, out, errOut := runCLI(t, "lint", sql)
			if code != exitOK && code != exitFindings {
				t.Fatalf("migrate lint %s exited %d:\n%s", sql, code, errOut)
			}
			if errOut != "" {
				t.Errorf("migrate lint %s wrote to stderr:\n%s", sql, errOut)
			}
			golden(t, base+".lint.txt", out)

			// A migration that fails as written is refused (exit 1), the
			// refusal printed on stderr too; anything else must plan.
			code, out, errOut = runCLI(t, "plan", sql)
			if (code != exitOK || errOut != "") && (code != exitFindings || !strings.Contains(out, "refused")) {
				t.Fatalf("migrate plan %s exited %d:\n%s", sql, code, errOut)
			}
			golden(t, base+".plan.txt", out)
		})
	}

	// Output files whose example is gone would mislead a reader.
	txt, _ := filepath.Glob(filepath.Join("examples", "*.txt"))
	for _, f := range txt {
		if f = filepath.ToSlash(f); !want[f] {
			if *updateExamples {
				if err := os.Remove(f); err != nil {
					t.Error(err)
				}
				continue
			}
			t.Errorf("%s belongs to no example migration; delete it (or run with -update)", f)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *updateExamples {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./cmd/migrate -run TestExamples -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date (run: go test ./cmd/migrate -run TestExamples -update, then review the diff)\n%s",
			path, firstDifference(string(want), got))
	}
}

// firstDifference shows the first line where want and got differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + wl + "\n  current:   " + gl
		}
	}
	return "(they differ only in line endings)"
}

// Lint's fix for a finding and `migrate plan` for the same statement must
// name the same objects and run the same SQL (issue 11: one source of
// PostgreSQL knowledge): every statement a committed example's fix shows
// is one of its plan's statements. Fixes that are advice about the file
// (lock_timeout) and placeholders a reader fills in are left out.
func TestExampleFixesMatchPlans(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	lints, err := filepath.Glob(filepath.Join("examples", "*.lint.txt"))
	if err != nil || len(lints) == 0 {
		t.Fatalf("no example outputs: %v", err)
	}
	fixRE := regexp.MustCompile(`(?s)\n    fix:\n(.*?)\n    see:`)
	planLine := regexp.MustCompile(`^\s+(?:\| |undo: )?(.*)$`)
	sqlStart := regexp.MustCompile(`^(CREATE|ALTER|DROP|UPDATE|DELETE|INSERT)\b`)
	checked := 0
	for _, lf := range lints {
		plan, err := os.ReadFile(strings.TrimSuffix(lf, ".lint.txt") + ".plan.txt")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(plan), "\nrefused (") {
			continue // nothing runs: there is no plan to agree with
		}
		inPlan := map[string]bool{}
		for _, line := range strings.Split(string(plan), "\n") {
			if m := planLine.FindStringSubmatch(line); m != nil {
				inPlan[strings.TrimSuffix(strings.TrimSpace(m[1]), ";")] = true
			}
		}
		lint, err := os.ReadFile(lf)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fixRE.FindAllStringSubmatch(string(lint), -1) {
			if strings.Contains(m[1], "lock_timeout") {
				continue
			}
			for _, line := range strings.Split(m[1], "\n") {
				stmt := strings.TrimSuffix(strings.TrimSpace(line), ";")
				if !sqlStart.MatchString(stmt) || strings.Contains(stmt, "<") {
					continue
				}
				checked++
				if !inPlan[stmt] {
					t.Errorf("%s: the fix says %q, which migrate plan does not", lf, stmt)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d fix statements compared: the outputs' layout changed?", checked)
	}
}
