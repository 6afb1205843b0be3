package lint

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// ConfigFileName is the configuration file FindConfig looks for.
const ConfigFileName = ".migrate.toml"

// Supported --pg-version range. 9.6 is the only 9.x release accepted and is
// stored as 9, so that "before PostgreSQL 11" stays a plain PGVersion < 11.
const (
	MinPGVersion = 9
	MaxPGVersion = 19
)

// FileConfig is a parsed and validated .migrate.toml. Zero values mean "not
// set", so that the CLI can tell a default from an explicit choice when it
// lays flags over the file.
type FileConfig struct {
	Path                string // the file it came from
	PGVersion           int
	Disabled            []string
	Severity            map[string]Severity
	IncludeDown         bool
	Exclude             []string
	AssumeInTransaction bool
	FailOn              Severity
}

// rawConfig is the TOML shape. Every key the file may hold is here: the
// ones left undecoded are unknown, and unknown keys are errors (squawk
// ignores them, so a typo silently turns a setting off).
type rawConfig struct {
	PGVersion           any               `toml:"pg_version"`
	Disabled            []string          `toml:"disabled"`
	Severity            map[string]string `toml:"severity"`
	IncludeDown         bool              `toml:"include_down"`
	Exclude             []string          `toml:"exclude"`
	AssumeInTransaction bool              `toml:"assume_in_transaction"`
	FailOn              string            `toml:"fail_on"`
}

var configKeys = "pg_version, disabled, [severity], include_down, exclude, assume_in_transaction, fail_on"

var decodeErrRe = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// lookupRule is Lookup, replaceable in tests so that rule-name validation
// can be tested without depending on which rules exist.
var lookupRule = Lookup

// FindConfig returns the path of the nearest .migrate.toml in startDir or
// one of its parents, or "" when there is none.
func FindConfig(startDir string) (string, error) {
	dir, err := filepath.Abs(startDir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ConfigFileName)
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return p, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission):
			// An unreadable ancestor (a locked-down home in a CI
			// container) is not a reason to refuse to lint.
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// LoadConfigFile reads and validates a configuration file. Errors name the
// file and, where known, the line.
func LoadConfigFile(path string) (FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return FileConfig{}, err
	}
	return parseConfig(path, data)
}

func parseConfig(path string, data []byte) (FileConfig, error) {
	fc := FileConfig{Path: path}
	var raw rawConfig
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fc, fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		// Type mismatches come as plain errors that carry the line in
		// their text; reshape them into the file:line form of the rest.
		if m := decodeErrRe.FindStringSubmatch(err.Error()); m != nil {
			return fc, fmt.Errorf("%s:%s: %s: %s", path, m[1], m[2], m[3])
		}
		return fc, fmt.Errorf("%s: %v", path, err)
	}
	lines := tomlKeyLines(data)
	at := func(key ...string) string {
		if n := lines[strings.Join(key, ".")]; n > 0 {
			return fmt.Sprintf("%s:%d", path, n)
		}
		return path
	}

	var errs []error
	reported := map[string]bool{}
	for _, k := range md.Undecoded() {
		// A whole unknown table is one mistake, not one per key in it.
		if len(k) > 1 && reported[strings.Join(k[:len(k)-1], ".")] {
			reported[strings.Join(k, ".")] = true
			continue
		}
		reported[strings.Join(k, ".")] = true
		errs = append(errs, fmt.Errorf("%s: unknown key %q (known keys: %s)", at(k...), k.String(), configKeys))
	}

	if md.IsDefined("pg_version") {
		v, err := pgVersionValue(raw.PGVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: pg_version: %v", at("pg_version"), err))
		}
		fc.PGVersion = v
	}
	for _, name := range raw.Disabled {
		if lookupRule(name) == nil {
			errs = append(errs, fmt.Errorf("%s: disabled: unknown rule %q (see 'migrate lint --list-rules')", at("disabled"), name))
		}
	}
	fc.Disabled = raw.Disabled
	if len(raw.Severity) > 0 {
		fc.Severity = make(map[string]Severity, len(raw.Severity))
		for _, name := range slices.Sorted(maps.Keys(raw.Severity)) {
			if lookupRule(name) == nil {
				errs = append(errs, fmt.Errorf("%s: severity: unknown rule %q (see 'migrate lint --list-rules')", at("severity", name), name))
				continue
			}
			sev, err := ParseSeverity(raw.Severity[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: severity.%s: %v", at("severity", name), name, err))
				continue
			}
			fc.Severity[name] = sev
		}
	}
	if raw.FailOn != "" {
		sev, err := ParseSeverity(raw.FailOn)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: fail_on: %v", at("fail_on"), err))
		}
		fc.FailOn = sev
	}
	fc.Exclude = raw.Exclude
	fc.IncludeDown = raw.IncludeDown
	fc.AssumeInTransaction = raw.AssumeInTransaction
	return fc, errors.Join(errs...)
}

// ParsePGVersion reads a PostgreSQL major version as users write it: "15",
// "15.4" (the minor is irrelevant to locking), "9.6". Unlike squawk, "11"
// and "11.0" mean the same thing.
func ParsePGVersion(s string) (int, error) {
	s = strings.TrimSpace(s)
	major, minor, hasMinor := strings.Cut(s, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a PostgreSQL version (want 9.6, 10 … %d)", s, MaxPGVersion)
	}
	if hasMinor {
		if _, err := strconv.Atoi(minor); err != nil {
			return 0, fmt.Errorf("%q is not a PostgreSQL version (want 9.6, 10 … %d)", s, MaxPGVersion)
		}
	}
	if n == 9 {
		if minor != "6" {
			return 0, fmt.Errorf("PostgreSQL %s is not supported (the oldest is 9.6)", s)
		}
		return 9, nil
	}
	if n < 10 || n > MaxPGVersion {
		return 0, fmt.Errorf("PostgreSQL %s is not supported (want 9.6, 10 … %d)", s, MaxPGVersion)
	}
	return n, nil
}

// pgVersionValue accepts pg_version as an integer (15), a float (9.6) or a
// string ("9.6"), since all three are natural to write in TOML.
func pgVersionValue(v any) (int, error) {
	switch v := v.(type) {
	case int64:
		return ParsePGVersion(strconv.FormatInt(v, 10))
	case float64:
		return ParsePGVersion(strconv.FormatFloat(v, 'f', -1, 64))
	case string:
		return ParsePGVersion(v)
	}
	return 0, fmt.Errorf("want a version such as 15 or \"9.6\", not %v", v)
}

// tomlKeyLines maps each dotted key path to the 1-based line where it is
// first written. The TOML decoder knows key positions but does not export
// them; this line-level reading is enough for the key = value and [table]
// forms a config file uses, and a miss only costs the line number.
func tomlKeyLines(data []byte) map[string]int {
	out := map[string]int{}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				continue
			}
			table = joinKeyParts(strings.Trim(line[:end], "[ \t"))
			if _, ok := out[table]; !ok {
				out[table] = i + 1
			}
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			continue
		}
		key := joinKeyParts(line[:eq])
		if table != "" {
			key = table + "." + key
		}
		if _, ok := out[key]; !ok {
			out[key] = i + 1
		}
	}
	return out
}

// joinKeyParts normalises a possibly quoted, dotted TOML key to its parts
// joined by dots.
func joinKeyParts(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = p[1 : len(p)-1]
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}
