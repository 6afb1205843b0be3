package lint

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// withRules makes rule-name validation accept exactly names, whatever the
// registry holds, for the duration of the test.
func withRules(t *testing.T, names ...string) {
	t.Helper()
	old := lookupRule
	lookupRule = func(name string) *Rule {
		for _, n := range names {
			if n == name {
				return &Rule{Name: n, Severity: SeverityError}
			}
		}
		return nil
	}
	t.Cleanup(func() { lookupRule = old })
}

func TestParseConfig(t *testing.T) {
	withRules(t, "rule-a", "rule-b")
	fc, err := parseConfig("x/.migrate.toml", []byte(`
# comments are fine
pg_version = "9.6"
disabled = ["rule-a"]
include_down = true
exclude = ["legacy/*.sql"]
assume_in_transaction = true
fail_on = "warning"

[severity]
rule-b = "info"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := FileConfig{
		Path:                "x/.migrate.toml",
		PGVersion:           9,
		Disabled:            []string{"rule-a"},
		Severity:            map[string]Severity{"rule-b": SeverityInfo},
		IncludeDown:         true,
		Exclude:             []string{"legacy/*.sql"},
		AssumeInTransaction: true,
		FailOn:              SeverityWarning,
	}
	if !reflect.DeepEqual(fc, want) {
		t.Errorf("got  %+v\nwant %+v", fc, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	withRules(t, "rule-a")
	for _, c := range []struct {
		name, text string
		want       []string // substrings of the error
		notWant    string
	}{
		{"unknown key", "pg_version = 15\nfail_onn = \"error\"\n", []string{`f.toml:2: unknown key "fail_onn"`, "known keys"}, ""},
		{"unknown table", "[rules]\na = 1\nb = 2\n", []string{`f.toml:1: unknown key "rules"`}, `"rules.a"`},
		{"unknown key in table", "[severity]\nrule-a = \"info\"\n\n[other]\nx.y = 1\n", []string{`f.toml:4: unknown key "other"`}, ""},
		{"unknown rule disabled", "disabled = [\"rule-a\", \"no-such\"]\n", []string{`f.toml:1: disabled: unknown rule "no-such"`}, ""},
		{"unknown rule severity", "[severity]\n\"no-such\" = \"info\"\n", []string{`f.toml:2: severity: unknown rule "no-such"`}, ""},
		{"bad severity", "[severity]\nrule-a = \"fatal\"\n", []string{`f.toml:2: severity.rule-a: unknown severity "fatal"`}, ""},
		{"bad fail_on", "fail_on = \"never\"\n", []string{`f.toml:1: fail_on: unknown severity "never"`}, ""},
		{"pg too new", "pg_version = 20\n", []string{`f.toml:1: pg_version:`, "20"}, ""},
		{"pg 9.5", "pg_version = 9.5\n", []string{"9.6"}, ""},
		{"pg wrong type", "pg_version = true\n", []string{"pg_version"}, ""},
		{"wrong type", "disabled = \"rule-a\"\n", []string{"f.toml", "disabled"}, ""},
		{"syntax", "pg_version = \n", []string{"f.toml:1:"}, ""},
		{"several", "a = 1\nb = 2\n", []string{`f.toml:1: unknown key "a"`, `f.toml:2: unknown key "b"`}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseConfig("f.toml", []byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c.notWant != "" && strings.Contains(err.Error(), c.notWant) {
				t.Errorf("error %q should not mention %q", err, c.notWant)
			}
		})
	}
}

func TestParsePGVersion(t *testing.T) {
	for in, want := range map[string]int{"15": 15, "15.4": 15, "11": 11, "11.0": 11, "9.6": 9, "10": 10, "19": 19, " 16 ": 16} {
		got, err := ParsePGVersion(in)
		if err != nil || got != want {
			t.Errorf("ParsePGVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "9", "9.5", "8.4", "20", "fifteen", "15.x", "-1", "1e2"} {
		if got, err := ParsePGVersion(in); err == nil {
			t.Errorf("ParsePGVersion(%q) = %d, want an error", in, got)
		}
	}
}

func TestFindConfig(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// Nothing in the tree: whatever is found must lie above it.
	got, err := FindConfig(deep)
	if err != nil {
		t.Fatal(err)
	}
	if got != "" && strings.HasPrefix(got, root) {
		t.Errorf("found %s inside an empty tree", got)
	}

	top := filepath.Join(root, "a", ConfigFileName)
	if err := os.WriteFile(top, []byte("pg_version = 14\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FindConfig(deep); err != nil || got != top {
		t.Errorf("FindConfig = %q, %v; want %q", got, err, top)
	}
	// The nearest one wins.
	near := filepath.Join(root, "a", "b", ConfigFileName)
	if err := os.WriteFile(near, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := FindConfig(deep); got != near {
		t.Errorf("FindConfig = %q, want %q", got, near)
	}
	// A directory of that name is not a config file.
	if err := os.Mkdir(filepath.Join(deep, ConfigFileName), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := FindConfig(deep); got != near {
		t.Errorf("FindConfig = %q, want %q", got, near)
	}

	fc, err := LoadConfigFile(top)
	if err != nil || fc.PGVersion != 14 || fc.Path != top {
		t.Errorf("LoadConfigFile = %+v, %v", fc, err)
	}
	if _, err := LoadConfigFile(filepath.Join(root, "missing.toml")); err == nil {
		t.Error("LoadConfigFile of a missing file: no error")
	}
}
