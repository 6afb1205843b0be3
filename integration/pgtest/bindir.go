package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// envBinDir overrides the search, for machines with several installations.
const envBinDir = "MIGRATE_TEST_PG_BINDIR"

// serverTools must all live in one directory: a PATH entry holding only
// some of them (a wrapper or a partial symlink farm such as /usr/local/bin)
// would mix versions or miss pg_basebackup.
var serverTools = []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"}

var binDir struct {
	once sync.Once
	dir  string
	err  error
}

// BinDir returns the directory holding initdb, pg_ctl, pg_basebackup and
// postgres. It looks, in order, at $MIGRATE_TEST_PG_BINDIR, the directories
// on PATH that have initdb (following symlinks to where the tools really
// live), `pg_config --bindir`, and the highest /usr/lib/postgresql/*/bin,
// /usr/pgsql-*/bin or /usr/local/pgsql/bin. scripts/ensure-postgres.sh
// searches the same way.
func BinDir() (string, error) {
	binDir.once.Do(func() { binDir.dir, binDir.err = findBinDir() })
	return binDir.dir, binDir.err
}

func findBinDir() (string, error) {
	if d := os.Getenv(envBinDir); d != "" {
		if hasServerTools(d) {
			return d, nil
		}
		return "", fmt.Errorf("%s=%s lacks one of %s", envBinDir, d, strings.Join(serverTools, ", "))
	}
	var tried []string
	try := func(d string) bool {
		if d == "" {
			return false
		}
		tried = append(tried, d)
		return hasServerTools(d)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		initdb := filepath.Join(d, "initdb")
		if !isExecutable(initdb) {
			continue
		}
		if real, err := filepath.EvalSymlinks(initdb); err == nil && try(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if try(d) {
			return d, nil
		}
	}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			if d := strings.TrimSpace(string(out)); try(d) {
				return d, nil
			}
		}
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"} {
		dirs, _ := filepath.Glob(pattern)
		sort.Slice(dirs, func(i, j int) bool { return dirVersion(dirs[i]) > dirVersion(dirs[j]) })
		for _, d := range dirs {
			if try(d) {
				return d, nil
			}
		}
	}
	if len(tried) == 0 {
		return "", errors.New("no PostgreSQL server installation found (no initdb on PATH, no pg_config, nothing in /usr/lib/postgresql)")
	}
	return "", fmt.Errorf("no directory has all of %s (looked in %s)", strings.Join(serverTools, ", "), strings.Join(tried, ", "))
}

func hasServerTools(dir string) bool {
	for _, tool := range serverTools {
		if !isExecutable(filepath.Join(dir, tool)) {
			return false
		}
	}
	return true
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

var versionRE = regexp.MustCompile(`(\d+)(?:\.(\d+))?`)

// dirVersion orders /usr/lib/postgresql/9.6 below /usr/lib/postgresql/15.
func dirVersion(dir string) float64 {
	m := versionRE.FindStringSubmatch(dir)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1]+"."+m[2], 64)
	return v
}

// serverMajorVersion runs `postgres --version` ("postgres (PostgreSQL) 15.18 (Debian ...)").
func serverMajorVersion(bin string) (int, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("postgres --version: %w", err)
	}
	_, after, ok := strings.Cut(string(out), ")")
	m := versionRE.FindStringSubmatch(after)
	if !ok || m == nil {
		return 0, fmt.Errorf("cannot read a version from %q", strings.TrimSpace(string(out)))
	}
	return strconv.Atoi(m[1])
}
