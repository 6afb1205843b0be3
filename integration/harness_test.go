package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

// binary is the migrate CLI built by TestMain: crash and signal tests need
// it as a subprocess (a test binary that started a cluster dies on SIGINT).
var binary string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	binary = filepath.Join(root, "tmp", "migrate")
	cmd := exec.Command("go", "build", "-o", binary, "./cmd/migrate")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the migrate binary:", err)
		os.Exit(2)
	}
	pgtest.Main(m)
}

// env is one cluster shared by the subtests of a top-level test, with a
// template database every scenario copies (CREATE DATABASE ... TEMPLATE
// is a file copy: much faster than loading the rows again).
type env struct {
	c    *pgtest.Cluster
	mu   sync.Mutex
	n    int
	tmpl string
}

func newEnv(t *testing.T, fixture string) *env {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{Settings: map[string]string{
		"max_connections": "200",
		"log_lock_waits":  "on",
	}})
	e := &env{c: c, tmpl: "tmpl"}
	ctx := context.Background()
	exec1(t, ctx, c.Primary.DSN(""), "CREATE DATABASE tmpl")
	exec1(t, ctx, c.Primary.DSN("tmpl"), fixture)
	exec1(t, ctx, c.Primary.DSN("tmpl"), "VACUUM ANALYZE")
	return e
}

// db creates a fresh copy of the template and returns its name.
func (e *env) db(t *testing.T, ctx context.Context, prefix string) string {
	t.Helper()
	e.mu.Lock()
	e.n++
	name := fmt.Sprintf("%s_%d", prefix, e.n)
	e.mu.Unlock()
	// Copying needs the template to be idle; a previous copy may still be
	// finishing its connections.
	var err error
	for i := 0; i < 50; i++ {
		err = execErr(ctx, e.c.Primary.DSN(""), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+e.tmpl)
		if err == nil {
			return name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("creating database %s: %v", name, err)
	return ""
}

func execErr(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func exec1(t *testing.T, ctx context.Context, dsn, sql string) {
	t.Helper()
	if err := execErr(ctx, dsn, sql); err != nil {
		t.Fatalf("%s: %v", firstLine(sql), err)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// migrateCmd runs the CLI on database db.
func (e *env) migrateCmd(ctx context.Context, db string, args ...string) result {
	return e.migrateDSN(ctx, e.c.Primary.DSN(db), args...)
}

// migrateDSN runs the CLI on a full connection string.
func (e *env) migrateDSN(ctx context.Context, dsn string, args ...string) result {
	cmd := exec.CommandContext(ctx, binary, append([]string{"--dsn", dsn}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code = -1
		r.stderr += "\n" + err.Error()
	}
	return r
}

// killAtStep starts the CLI and SIGKILLs it once it has started step k
// (after delay), as a crash would. It returns what the process printed,
// and whether it was killed (it may finish first).
func (e *env) killAtStep(t *testing.T, ctx context.Context, db string, k int, delay time.Duration, args ...string) (string, bool) {
	t.Helper()
	return e.signalAtStep(t, ctx, db, syscall.SIGKILL, k, delay, args...)
}

// signalAtStep is killAtStep with any signal.
func (e *env) signalAtStep(t *testing.T, ctx context.Context, db string, sig syscall.Signal, k int, delay time.Duration, args ...string) (string, bool) {
	t.Helper()
	full := append([]string{"--dsn", e.c.Primary.DSN(db)}, args...)
	cmd := exec.CommandContext(ctx, binary, full...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var log strings.Builder
	killed := false
	prefix := fmt.Sprintf("step %d/", k)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if !killed && strings.HasPrefix(line, prefix) && strings.HasSuffix(line, "...") {
			time.Sleep(delay)
			cmd.Process.Signal(sig)
			killed = true
		}
	}
	err = cmd.Wait()
	pr.Close()
	if ee, ok := err.(*exec.ExitError); ok {
		fmt.Fprintf(&log, "exit status %d\n", ee.ExitCode())
	}
	return log.String(), killed
}

// snapshot is the catalog and data of the tables a test compares.
type snapshot struct {
	Columns     []string
	Indexes     []string
	Constraints []string
	Triggers    []string
	Functions   []string
	RowsHash    map[string]string
	RowCount    map[string]int64
}

// takeSnapshot reads what the naive and the planned run must agree on.
// Columns are compared by name (a type change moves the column to the
// end); skipCols are left out of the row hash (the traffic's counter).
func takeSnapshot(t *testing.T, ctx context.Context, dsn string, tables []string, skipCols map[string]bool) snapshot {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	list := func(sql string, args ...any) []string {
		rows, err := conn.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", firstLine(sql), err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(out)
		return out
	}
	s := snapshot{RowsHash: map[string]string{}, RowCount: map[string]int64{}}
	for _, tb := range tables {
		s.Columns = append(s.Columns, list(`SELECT $1 || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
    CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, tb)...)
		s.Indexes = append(s.Indexes, list(`SELECT pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
FROM pg_index i WHERE i.indrelid = $1::regclass`, tb)...)
		s.Constraints = append(s.Constraints, list(`SELECT $1 || ' ' || conname || ' ' || pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END
FROM pg_constraint WHERE conrelid = $1::regclass`, tb)...)
		s.Triggers = append(s.Triggers, list(`SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, tb)...)
		cols := list(`SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, tb)
		var keep []string
		for _, c := range cols {
			if !skipCols[c] {
				keep = append(keep, c)
			}
		}
		var hash string
		var n int64
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), ''), count(*) FROM (SELECT %s FROM %s) r`,
			strings.Join(keep, ", "), tb)
		if err := conn.QueryRow(ctx, q).Scan(&hash, &n); err != nil {
			t.Fatalf("hashing %s: %v", tb, err)
		}
		s.RowsHash[tb], s.RowCount[tb] = hash, n
	}
	s.Functions = list(`SELECT proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`)
	return s
}

// diff lists the differences between two snapshots, ignoring extra
// indexes the planner adds on purpose (allowedExtra, by substring).
func (s snapshot) diff(o snapshot, allowedExtra []string) []string {
	var out []string
	cmp := func(what string, a, b []string) {
		ma := map[string]bool{}
		for _, x := range a {
			ma[x] = true
		}
		mb := map[string]bool{}
		for _, x := range b {
			mb[x] = true
		}
		for _, x := range a {
			if !mb[x] {
				out = append(out, fmt.Sprintf("%s only in naive: %s", what, x))
			}
		}
	next:
		for _, x := range b {
			if !ma[x] {
				for _, ok := range allowedExtra {
					if strings.Contains(x, ok) {
						continue next
					}
				}
				out = append(out, fmt.Sprintf("%s only in planned: %s", what, x))
			}
		}
	}
	cmp("column", s.Columns, o.Columns)
	cmp("index", s.Indexes, o.Indexes)
	cmp("constraint", s.Constraints, o.Constraints)
	cmp("trigger", s.Triggers, o.Triggers)
	cmp("function", s.Functions, o.Functions)
	for tb, h := range s.RowsHash {
		if o.RowsHash[tb] != h || o.RowCount[tb] != s.RowCount[tb] {
			out = append(out, fmt.Sprintf("rows of %s differ: naive %d rows (%s), planned %d rows (%s)", tb, s.RowCount[tb], h, o.RowCount[tb], o.RowsHash[tb]))
		}
	}
	return out
}

// traffic is pgbench at a fixed rate against one database, run in
// consecutive short slices until stopped, so that it covers a run of
// unknown length and still ends with pgbench's own accounting.
type traffic struct {
	e      *env
	db     string
	dir    string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	maxLat time.Duration
	txs    int
	errs   []string
}

func (e *env) startTraffic(t *testing.T, db, script string) *traffic {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "script.sql"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &traffic{e: e, db: db, dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go tr.loop()
	return tr
}

func (tr *traffic) loop() {
	defer close(tr.done)
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			return
		default:
		}
		tr.slice(i)
	}
}

func (tr *traffic) slice(i int) {
	n := tr.e.c.Primary
	prefix := filepath.Join(tr.dir, fmt.Sprintf("log%d", i))
	cmd := exec.Command("/usr/bin/pgbench", "-n", "-R", "100", "-T", "2", "-c", "4", "-j", "1",
		"-f", filepath.Join(tr.dir, "script.sql"), "-l", "--log-prefix", prefix,
		"-h", n.Host, "-p", strconv.Itoa(n.Port), "-U", "postgres", tr.db)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c application_name=pgbench")
	out, err := cmd.CombinedOutput()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil || strings.Contains(string(out), "aborted") || strings.Contains(string(out), "ERROR") {
		tr.errs = append(tr.errs, fmt.Sprintf("pgbench slice %d: %v\n%s", i, err, out))
	}
	files, _ := filepath.Glob(prefix + ".*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fs := strings.Fields(line)
			if len(fs) < 3 {
				continue
			}
			if fs[2] == "failed" || fs[2] == "skipped" {
				tr.errs = append(tr.errs, "pgbench: "+line)
				continue
			}
			us, err := strconv.ParseInt(fs[2], 10, 64)
			if err != nil {
				continue
			}
			tr.txs++
			if d := time.Duration(us) * time.Microsecond; d > tr.maxLat {
				tr.maxLat = d
			}
		}
	}
}

// finish stops the traffic after the slice in flight and returns the
// worst latency, the number of transactions and the errors.
func (tr *traffic) finish() (time.Duration, int, []string) {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.maxLat, tr.txs, tr.errs
}
