package trace_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/migrate-tool/migrate/integration/pgtest"
	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/trace"
)

func TestMain(m *testing.M) {
	lint.RegisterDatabaseRules()
	pgtest.Main(m)
}

// fixtureEnv is one cluster with a template database holding the §0
// fixture; each scenario that must commit setup SQL gets its own copy.
type fixtureEnv struct {
	c  *pgtest.Cluster
	mu sync.Mutex
	n  int
}

func newFixture(t *testing.T) *fixtureEnv {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	ctx := context.Background()
	fixture, err := os.ReadFile("testdata/fixture.sql")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, c.Primary.DSN(""), "CREATE DATABASE fixture")
	mustExec(t, ctx, c.Primary.DSN("fixture"), string(fixture))
	mustExec(t, ctx, c.Primary.DSN("fixture"), "VACUUM ANALYZE")
	return &fixtureEnv{c: c}
}

// copyDB makes a fresh copy of the fixture with setup committed on it.
func (e *fixtureEnv) copyDB(t *testing.T, setup string) string {
	t.Helper()
	e.mu.Lock()
	e.n++
	name := fmt.Sprintf("scratch_%d", e.n)
	e.mu.Unlock()
	ctx := context.Background()
	var err error
	for i := 0; i < 50; i++ {
		if err = execErr(ctx, e.c.Primary.DSN(""), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE fixture"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("copying the fixture: %v", err)
	}
	if setup != "" {
		mustExec(t, ctx, e.c.Primary.DSN(name), setup)
	}
	return name
}

func mustExec(t *testing.T, ctx context.Context, dsn, sql string) {
	t.Helper()
	if err := execErr(ctx, dsn, sql); err != nil {
		t.Fatalf("%s: %v", firstLine(sql), err)
	}
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

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// parse reads sql as one plain migration file.
func parse(t *testing.T, sql string) (*lint.Source, []*lint.Statement) {
	t.Helper()
	srcs, errs := lint.ReadPaths([]string{"-"}, strings.NewReader(sql), lint.ReadOptions{})
	if len(errs) > 0 || len(srcs) != 1 {
		t.Fatalf("reading %q: %v", sql, errs)
	}
	stmts, perr := lint.Parse(srcs[0], lint.Options{PGVersion: 15})
	if perr != nil {
		t.Fatalf("parsing %q: %v", sql, perr)
	}
	var top []*lint.Statement
	for _, st := range stmts {
		if st.Context == "" {
			top = append(top, st)
		}
	}
	return srcs[0], top
}

// traceSQL traces every statement of sql on database db.
func (e *fixtureEnv) traceSQL(t *testing.T, db, sql string) []*trace.Statement {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.c.Primary.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, stmts := parse(t, sql)
	rep, err := trace.Statements(ctx, conn, trace.Options{Disposable: true, ProbeWait: 1500 * time.Millisecond}, stmts)
	if err != nil {
		t.Fatalf("tracing %q: %v", sql, err)
	}
	return rep.Statements
}
