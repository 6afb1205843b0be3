package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The CI integrations (action.yml, scripts/ci-lint.sh, ci/gitlab-ci.yml,
// .pre-commit-hooks.yaml) run the migrate binary, so these tests build it
// once and drive it the way CI would, in a temporary git repository.

var (
	builtOnce sync.Once
	builtBin  string
	builtErr  error
	builtOut  []byte
)

// migrateBinary builds cmd/migrate into a directory that outlives the
// first test using it (t.TempDir would be removed after that test).
func migrateBinary(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := os.MkdirTemp("", "migrate-ci-test-")
		if err != nil {
			builtErr = err
			return
		}
		builtBin = filepath.Join(dir, "migrate")
		if runtime.GOOS == "windows" {
			builtBin += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", builtBin, ".")
		builtOut, builtErr = cmd.CombinedOutput()
	})
	if builtErr != nil {
		t.Fatalf("go build: %v\n%s", builtErr, builtOut)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// repoFile is a path in this repository; tests run in cmd/migrate.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func needBash(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// ciRepo is gitRepo without changing the test's working directory, which
// the scripts do not need and repoFile's relative paths do.
func ciRepo(t *testing.T) (dir, mainSHA string) {
	t.Helper()
	dir = t.TempDir()
	for name, text := range oldMigrations {
		putFile(t, filepath.Join(dir, name), text)
	}
	runGit(t, dir, "init", "-q", "-b", "main")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "old migrations")
	mainSHA = runGit(t, dir, "rev-parse", "HEAD")
	runGit(t, dir, "checkout", "-q", "-b", "feature")
	putFile(t, filepath.Join(dir, "migrations/003_new.sql"), newUnsafe)
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "new migration")
	return dir, mainSHA
}

type scriptRun struct {
	code                 int
	stdout, stderr       string
	output, summary, dir string
}

func runCIScript(t *testing.T, dir string, env ...string) scriptRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "github_output")
	summary := filepath.Join(t.TempDir(), "step_summary")
	for _, f := range []string{out, summary} {
		putFile(t, f, "")
	}
	cmd := exec.Command("bash", repoFile(t, "scripts/ci-lint.sh"))
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), gitTestEnv...),
		"MIGRATE_BIN="+migrateBinary(t),
		"GITHUB_OUTPUT="+out,
		"GITHUB_STEP_SUMMARY="+summary,
	)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := scriptRun{stdout: stdout.String(), stderr: stderr.String(), dir: dir}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	r.output = string(b)
	b, _ = os.ReadFile(summary)
	r.summary = string(b)
	return r
}

func TestCIScriptAnnotatesChangedMigrationsAndWritesSARIF(t *testing.T) {
	needBash(t)
	dir, mainSHA := ciRepo(t)
	r := runCIScript(t, dir,
		"MIGRATE_PATHS=migrations",
		"MIGRATE_BASE_REF="+mainSHA,
		"MIGRATE_SARIF=migrate.sarif",
	)
	if r.code != exitFindings {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitFindings, r.stdout, r.stderr)
	}
	annotation := regexp.MustCompile(`(?m)^::error file=migrations/003_new\.sql,line=1,col=1,[^:]*title=require-concurrent-index::`)
	if !annotation.MatchString(r.stdout) {
		t.Errorf("no ::error annotation for the new index:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "002_index_email") {
		t.Errorf("an unchanged migration was annotated:\n%s", r.stdout)
	}
	for _, want := range []string{"exit-code=1\n", "errors=", "sarif-file=migrate.sarif\n"} {
		if !strings.Contains(r.output, want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, r.output)
		}
	}
	if !strings.Contains(r.summary, "**Failed**") || !strings.Contains(r.summary, "| error | `migrations/003_new.sql` | 1 | require-concurrent-index |") {
		t.Errorf("step summary:\n%s", r.summary)
	}

	sarif := filepath.Join(dir, "migrate.sarif")
	validateSARIF(t, sarif)
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	b, err := os.ReadFile(sarif)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, run := range doc.Runs {
		for _, res := range run.Results {
			for _, l := range res.Locations {
				if u := l.PhysicalLocation.ArtifactLocation.URI; !slices.Contains(uris, u) {
					uris = append(uris, u)
				}
			}
		}
	}
	if !slices.Equal(uris, []string{"migrations/003_new.sql"}) {
		t.Errorf("SARIF results are in %v, want only migrations/003_new.sql", uris)
	}
}

func TestCIScriptDeferredExitAndCleanRun(t *testing.T) {
	needBash(t)
	dir, _ := ciRepo(t)
	head := runGit(t, dir, "rev-parse", "HEAD")

	// The action runs the script deferred so the SARIF upload still runs.
	r := runCIScript(t, dir, "MIGRATE_PATHS=migrations", "MIGRATE_BASE_REF=main", "MIGRATE_DEFER_EXIT=true")
	if r.code != 0 || !strings.Contains(r.output, "exit-code=1\n") {
		t.Errorf("deferred: exit %d, GITHUB_OUTPUT:\n%s", r.code, r.output)
	}

	// Nothing changed: exit 0 and an empty, valid SARIF report, so the
	// upload step has a file.
	r = runCIScript(t, dir, "MIGRATE_PATHS=migrations", "MIGRATE_BASE_REF="+head)
	if r.code != 0 || strings.Contains(r.stdout, "::error") || !strings.Contains(r.output, "exit-code=0\n") {
		t.Errorf("nothing changed: exit %d\nstdout:\n%s\nGITHUB_OUTPUT:\n%s", r.code, r.stdout, r.output)
	}
	validateSARIF(t, filepath.Join(dir, "migrate.sarif"))

	// A push's all-zero "before" means no base: everything under the
	// paths is linted, the old migration included.
	r = runCIScript(t, dir, "MIGRATE_PATHS=migrations", "MIGRATE_BASE_REF=0000000000000000000000000000000000000000")
	if r.code != exitFindings || !strings.Contains(r.stdout, "file=migrations/002_index_email.sql") {
		t.Errorf("no base: exit %d\nstdout:\n%s", r.code, r.stdout)
	}

	// A base that does not exist anywhere: exit 2, said on stderr.
	r = runCIScript(t, dir, "MIGRATE_PATHS=migrations", "MIGRATE_BASE_REF=no-such-ref", "MIGRATE_SARIF=")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no-such-ref") || !strings.Contains(r.output, "exit-code=2\n") {
		t.Errorf("bad base: exit %d\nstderr:\n%s\nGITHUB_OUTPUT:\n%s", r.code, r.stderr, r.output)
	}
}

func validateSARIF(t *testing.T, path string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	f, err := os.Open(repoFile(t, "lint/testdata/sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Registered under the schema's own id: tests run offline.
	const id = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(id, schemaDoc); err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	schema, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.Open(path)
	if err != nil {
		t.Fatalf("SARIF report: %v", err)
	}
	defer g.Close()
	inst, err := jsonschema.UnmarshalJSON(g)
	if err != nil {
		t.Fatalf("SARIF report is not JSON: %v", err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("SARIF report does not validate: %v", err)
	}
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestActionYAML(t *testing.T) {
	var action struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Inputs      map[string]struct {
			Description string  `yaml:"description"`
			Default     *string `yaml:"default"`
		} `yaml:"inputs"`
		Outputs map[string]struct {
			Value string `yaml:"value"`
		} `yaml:"outputs"`
		Runs struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID              string            `yaml:"id"`
				Uses            string            `yaml:"uses"`
				Run             string            `yaml:"run"`
				Shell           string            `yaml:"shell"`
				If              string            `yaml:"if"`
				ContinueOnError bool              `yaml:"continue-on-error"`
				With            map[string]string `yaml:"with"`
				Env             map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	readYAML(t, "action.yml", &action)
	if action.Name == "" || action.Description == "" {
		t.Error("name and description are required")
	}
	if action.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite", action.Runs.Using)
	}
	for _, in := range []string{"paths", "base-ref", "fail-on", "pg-version", "version", "upload-sarif"} {
		i, ok := action.Inputs[in]
		if !ok || i.Description == "" || i.Default == nil {
			t.Errorf("input %q missing, or without description and default", in)
		}
	}
	if d := action.Inputs["base-ref"].Default; d == nil || *d != "${{ github.event.pull_request.base.sha }}" {
		t.Errorf("base-ref default = %v", d)
	}

	raw, _ := os.ReadFile(repoFile(t, "action.yml"))
	// Every input the steps use is declared: a typo would silently be empty.
	for _, m := range regexp.MustCompile(`inputs\.([a-z0-9-]+)`).FindAllStringSubmatch(string(raw), -1) {
		if _, ok := action.Inputs[m[1]]; !ok {
			t.Errorf("action.yml uses undeclared input %q", m[1])
		}
	}
	// Every MIGRATE_* variable handed to the script is one it reads.
	script, err := os.ReadFile(repoFile(t, "scripts/ci-lint.sh"))
	if err != nil {
		t.Fatal(err)
	}

	var setupGo, build, lintStep, upload, exit bool
	for _, s := range action.Runs.Steps {
		if s.Run != "" && s.Shell == "" {
			t.Errorf("run step %q has no shell (required in composite actions)", s.Run)
		}
		switch {
		case strings.HasPrefix(s.Uses, "actions/setup-go@"):
			setupGo = true
		case strings.Contains(s.Run, "go build") && strings.Contains(s.Run, "go install"):
			build = true
		case strings.Contains(s.Run, "scripts/ci-lint.sh"):
			lintStep = s.ID == "lint" && s.Env["MIGRATE_DEFER_EXIT"] == "true"
			for k := range s.Env {
				if !strings.Contains(string(script), k) {
					t.Errorf("the lint step sets %s, which scripts/ci-lint.sh does not read", k)
				}
			}
		case strings.HasPrefix(s.Uses, "github/codeql-action/upload-sarif@"):
			upload = s.ContinueOnError && strings.Contains(s.If, "inputs.upload-sarif") && s.With["sarif_file"] != ""
		case strings.Contains(s.Run, "exit") && strings.Contains(s.Env["CODE"], "steps.lint.outputs.exit-code"):
			exit = true
		}
	}
	if !setupGo || !build || !lintStep || !upload || !exit {
		t.Errorf("steps: setup-go %v, build/install %v, lint (id lint, deferred exit) %v, upload-sarif (conditional, continue-on-error) %v, exit with lint's code %v",
			setupGo, build, lintStep, upload, exit)
	}
	if action.Outputs["exit-code"].Value == "" {
		t.Error("output exit-code missing")
	}
}

type preCommitHook struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Entry    string `yaml:"entry"`
	Language string `yaml:"language"`
	Files    string `yaml:"files"`
}

func TestPreCommitHooksYAML(t *testing.T) {
	var hooks []preCommitHook
	readYAML(t, ".pre-commit-hooks.yaml", &hooks)
	i := slices.IndexFunc(hooks, func(h preCommitHook) bool { return h.ID == "migrate-lint" })
	if i < 0 {
		t.Fatalf("no migrate-lint hook in %+v", hooks)
	}
	h := hooks[i]
	if h.Name == "" || h.Language != "golang" || h.Entry != "migrate lint" {
		t.Errorf("hook %+v: want a name, language golang, entry \"migrate lint\"", h)
	}
	// pre-commit matches with Python's re.search; this pattern is in the
	// subset Go's regexp shares with it.
	re, err := regexp.Compile(h.Files)
	if err != nil {
		t.Fatalf("files: %v", err)
	}
	for path, want := range map[string]bool{
		"migrations/0001_init.sql":                      true,
		"db/migrations/20240101_add_index.up.sql":       true,
		"db/migration/V2__add_fk.sql":                   true,
		"migrations/2024-01-01-000000_add_users/up.sql": true,
		"migrations/0003_from_assistant.md":             true,
		"README.md":                                     false,
		"docs/queries.sql":                              false,
		"migrations/README":                             false,
		"cmd/migrations.go":                             false,
	} {
		if re.MatchString(path) != want {
			t.Errorf("files %q matches %s: %v, want %v", h.Files, path, !want, want)
		}
	}
}

// The hook's entry, run on staged files the way pre-commit does, fails on
// the unsafe migration.
func TestPreCommitHookEntryRuns(t *testing.T) {
	needBash(t)
	var hooks []preCommitHook
	readYAML(t, ".pre-commit-hooks.yaml", &hooks)
	if len(hooks) == 0 {
		t.Fatal("no hooks")
	}
	dir, _ := ciRepo(t)
	entry := strings.Fields(hooks[0].Entry)
	re := regexp.MustCompile(hooks[0].Files)
	var files []string
	for _, f := range strings.Split(runGit(t, dir, "ls-files"), "\n") {
		if re.MatchString(f) {
			files = append(files, f)
		}
	}
	cmd := exec.Command(migrateBinary(t), append(entry[1:], files...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFindings || !strings.Contains(string(out), "003_new.sql") {
		t.Errorf("%v on %v: %v\n%s", entry, files, err, out)
	}
}

// The GitLab job's script, run in a merge request's checkout with the
// variables GitLab sets, writes a Code Quality report on the new
// migration only and fails the job.
func TestGitLabCISnippet(t *testing.T) {
	needBash(t)
	var doc map[string]struct {
		Variables map[string]string `yaml:"variables"`
		Script    []string          `yaml:"script"`
		Artifacts struct {
			When    string `yaml:"when"`
			Reports struct {
				CodeQuality string `yaml:"codequality"`
			} `yaml:"reports"`
		} `yaml:"artifacts"`
	}
	readYAML(t, "ci/gitlab-ci.yml", &doc)
	job, ok := doc["migrate-lint"]
	if !ok {
		t.Fatal("no migrate-lint job")
	}
	report := job.Artifacts.Reports.CodeQuality
	if report == "" || job.Artifacts.When != "always" {
		t.Fatalf("artifacts: %+v; want reports: codequality, when: always", job.Artifacts)
	}
	if !strings.Contains(strings.Join(job.Script, "\n"), "--format gitlab") {
		t.Error("the script does not write --format gitlab")
	}

	dir, mainSHA := ciRepo(t)
	binDir := filepath.Dir(migrateBinary(t))
	cmd := exec.Command("bash", "-c", "set -e\n"+strings.Join(job.Script, "\n"))
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), gitTestEnv...),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CI_MERGE_REQUEST_DIFF_BASE_SHA="+mainSHA,
	)
	for k, v := range job.Variables {
		if k == "MIGRATE_PATHS" {
			v = "migrations"
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFindings {
		t.Errorf("job script: %v, want exit %d\n%s", err, exitFindings, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, report))
	if err != nil {
		t.Fatal(err)
	}
	var issues []struct {
		CheckName   string `json:"check_name"`
		Fingerprint string `json:"fingerprint"`
		Location    struct {
			Path string `json:"path"`
		} `json:"location"`
	}
	if err := json.Unmarshal(b, &issues); err != nil {
		t.Fatalf("%s is not a Code Quality report: %v\n%s", report, err, b)
	}
	if len(issues) == 0 {
		t.Fatalf("empty Code Quality report")
	}
	for _, is := range issues {
		if is.Location.Path != "migrations/003_new.sql" || is.Fingerprint == "" || is.CheckName == "" {
			t.Errorf("issue %+v: want the new migration, with a check name and fingerprint", is)
		}
	}
}
