package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/migrate-tool/migrate/integration/pgtest"
	"github.com/migrate-tool/migrate/lint"
)

// Tests of migrate lint --dsn and --trace on a real server, with the
// locks.md §0 fixture (trace/testdata/fixture.sql).

type dbFinding struct {
	Line     int         `json:"line"`
	Rule     string      `json:"rule"`
	Severity string      `json:"severity"`
	Message  string      `json:"message"`
	Locks    []lint.Lock `json:"locks"`
	Rewrite  bool        `json:"rewrite"`
	Scan     bool        `json:"scan"`
}

type dbReport struct {
	PGVersion int         `json:"pg_version"`
	Findings  []dbFinding `json:"findings"`
}

func (r dbReport) rules() []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func (r dbReport) find(rule string) *dbFinding {
	for i := range r.Findings {
		if r.Findings[i].Rule == rule {
			return &r.Findings[i]
		}
	}
	return nil
}

type dbEnv struct {
	c       *pgtest.Cluster
	fixture string
	n       int
}

func newDBEnv(t *testing.T) *dbEnv {
	t.Helper()
	fixture, err := os.ReadFile(filepath.Join("..", "..", "trace", "testdata", "fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	e := &dbEnv{c: c, fixture: string(fixture)}
	e.exec(t, "", "CREATE DATABASE fixture")
	e.exec(t, "fixture", e.fixture)
	e.exec(t, "fixture", "VACUUM ANALYZE")
	return e
}

func (e *dbEnv) exec(t *testing.T, db, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.c.Primary.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// db copies the fixture and commits setup on the copy.
func (e *dbEnv) db(t *testing.T, setup string) string {
	t.Helper()
	e.n++
	name := fmt.Sprintf("lintdb_%d", e.n)
	e.exec(t, "", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE fixture")
	if setup != "" {
		e.exec(t, name, setup+"; ANALYZE")
	}
	return name
}

func (e *dbEnv) lint(t *testing.T, sql string, args ...string) (int, dbReport, string) {
	t.Helper()
	code, out, errOut := lintCLI(t, sql, append(append([]string{"--format", "json"}, args...), "-")...)
	var rep dbReport
	if code == 0 || code == 1 {
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON (%v): %s\nstderr: %s", err, out, errOut)
		}
	}
	return code, rep, errOut
}

func TestLintDatabase(t *testing.T) {
	lint.RegisterDatabaseRules()
	e := newDBEnv(t)
	inTempDir(t, nil) // no .migrate.toml from the repository
	fixture := e.db(t, "")
	dsn := e.c.Primary.DSN(fixture)

	t.Run("server version replaces --pg-version", func(t *testing.T) {
		_, rep, errOut := e.lint(t, "SELECT 1;", "--dsn", dsn, "--pg-version", "11")
		if rep.PGVersion != 15 || !strings.Contains(errOut, "ignored") {
			t.Errorf("pg_version %d, stderr %q", rep.PGVersion, errOut)
		}
	})

	t.Run("binary-coercible change of an existing column is not flagged", func(t *testing.T) {
		const sql = "ALTER TABLE books ALTER COLUMN code TYPE varchar(50);"
		_, static, _ := e.lint(t, sql, "--rule", "changing-column-type")
		if static.find("changing-column-type") == nil {
			t.Fatalf("without --dsn the type is unknown and a rewrite is assumed; got %v", static.rules())
		}
		_, rep, _ := e.lint(t, sql, "--rule", "changing-column-type", "--dsn", dsn)
		if len(rep.Findings) != 0 {
			t.Errorf("varchar(20) → varchar(50) flagged with --dsn: %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "ALTER TABLE books ALTER COLUMN code TYPE varchar(5);", "--rule", "changing-column-type", "--dsn", dsn)
		if f := rep.find("changing-column-type"); f == nil || !f.Rewrite {
			t.Errorf("varchar(20) → varchar(5) must be a rewrite: %+v", rep.Findings)
		}
	})

	t.Run("existing validated check makes SET NOT NULL safe", func(t *testing.T) {
		const sql = "ALTER TABLE books ALTER COLUMN title SET NOT NULL;"
		db := e.db(t, "ALTER TABLE books ADD CONSTRAINT title_nn CHECK (title IS NOT NULL)")
		_, rep, _ := e.lint(t, sql, "--rule", "setting-not-null", "--dsn", e.c.Primary.DSN(db))
		if len(rep.Findings) != 0 {
			t.Errorf("validated CHECK (title IS NOT NULL) exists, yet: %+v", rep.Findings)
		}
		db = e.db(t, "ALTER TABLE books ADD CONSTRAINT title_nn CHECK (title IS NOT NULL) NOT VALID")
		_, rep, _ = e.lint(t, sql, "--rule", "setting-not-null", "--dsn", e.c.Primary.DSN(db))
		if rep.find("setting-not-null") == nil {
			t.Errorf("a NOT VALID check proves nothing; want setting-not-null, got %v", rep.rules())
		}
	})

	t.Run("existing index satisfies the FK-index warning", func(t *testing.T) {
		const sql = "ALTER TABLE books ADD CONSTRAINT books_author_fk2 FOREIGN KEY (author_id) REFERENCES authors (id) NOT VALID;"
		_, rep, _ := e.lint(t, sql, "--rule", "foreign-key-without-index", "--dsn", dsn)
		if rep.find("foreign-key-without-index") == nil {
			t.Fatalf("books.author_id has no index in the fixture; want the warning, got %v", rep.rules())
		}
		db := e.db(t, "CREATE INDEX books_author_idx ON books (author_id)")
		_, rep, _ = e.lint(t, sql, "--rule", "foreign-key-without-index", "--dsn", e.c.Primary.DSN(db))
		if len(rep.Findings) != 0 {
			t.Errorf("books_author_idx leads with author_id, yet: %+v", rep.Findings)
		}
	})

	t.Run("small table downgrades to warning", func(t *testing.T) {
		code, rep, _ := e.lint(t, "ALTER TABLE logs ALTER COLUMN msg SET NOT NULL;", "--rule", "setting-not-null", "--dsn", dsn)
		f := rep.find("setting-not-null")
		if f == nil || f.Severity != "warning" || code != 0 {
			t.Fatalf("logs has 5,000 rows: want a warning and exit 0, got exit %d %+v", code, rep.Findings)
		}
		for _, want := range []string{"~5,000 rows", "estimate", "downgraded to warning"} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("message lacks %q: %s", want, f.Message)
			}
		}
	})

	t.Run("big table stays error with its size", func(t *testing.T) {
		code, rep, _ := e.lint(t, "ALTER TABLE books ALTER COLUMN title SET NOT NULL;", "--rule", "setting-not-null", "--dsn", dsn, "--small-table", "1000")
		f := rep.find("setting-not-null")
		if f == nil || f.Severity != "error" || code != 1 {
			t.Fatalf("books has 20,000 rows: want an error, got exit %d %+v", code, rep.Findings)
		}
		for _, want := range []string{"books: ~20,000 rows", "MB", "full scan", "holds the lock for"} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("message lacks %q: %s", want, f.Message)
			}
		}
	})

	t.Run("fk graph: DROP TABLE locks the referenced parent", func(t *testing.T) {
		_, rep, _ := e.lint(t, "DROP TABLE books;", "--rule", "fk-locks-other-table", "--dsn", dsn)
		f := rep.find("fk-locks-other-table")
		if f == nil || len(f.Locks) != 1 || f.Locks[0].Relation != "authors" || f.Locks[0].Mode != lint.AccessExclusive {
			t.Errorf("want ACCESS EXCLUSIVE on authors, got %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "ALTER TABLE authors ADD COLUMN bio text;", "--rule", "fk-locks-other-table", "--dsn", dsn)
		if f := rep.find("fk-locks-other-table"); f == nil || f.Severity != "info" || !strings.Contains(f.Message, "books") {
			t.Errorf("an ALTER on the parent stops child writes: %+v", rep.Findings)
		}
	})

	t.Run("dependent views of a dropped or retyped column", func(t *testing.T) {
		_, rep, _ := e.lint(t, "ALTER TABLE books DROP COLUMN title CASCADE;", "--rule", "column-used-by-view", "--dsn", dsn)
		f := rep.find("column-used-by-view")
		if f == nil || !strings.Contains(f.Message, "view book_titles") || !strings.Contains(f.Message, "silently drops") {
			t.Errorf("want book_titles reported: %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "ALTER TABLE books ALTER COLUMN status TYPE varchar(10);", "--rule", "column-used-by-view", "--dsn", dsn)
		if f := rep.find("column-used-by-view"); f == nil || !strings.Contains(f.Message, "materialized view status_counts") {
			t.Errorf("want status_counts reported: %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "ALTER TABLE books DROP COLUMN isbn;", "--rule", "column-used-by-view", "--dsn", dsn)
		if len(rep.Findings) != 0 {
			t.Errorf("no view uses isbn: %+v", rep.Findings)
		}
	})

	t.Run("int4 key past half its range", func(t *testing.T) {
		db := e.db(t, "CREATE TABLE counters (id serial PRIMARY KEY, n int); SELECT setval('counters_id_seq', 1500000000)")
		_, rep, _ := e.lint(t, "ALTER TABLE counters ADD COLUMN note text;", "--rule", "int4-key-overflow", "--dsn", e.c.Primary.DSN(db))
		f := rep.find("int4-key-overflow")
		if f == nil || f.Severity != "info" || !strings.Contains(f.Message, "70%") {
			t.Fatalf("want an info finding at 70%%: %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "ALTER TABLE logs ADD COLUMN note text;", "--rule", "int4-key-overflow", "--dsn", e.c.Primary.DSN(db))
		if len(rep.Findings) != 0 {
			t.Errorf("the migration does not touch counters: %+v", rep.Findings)
		}
	})

	t.Run("live hazard: idle in transaction", func(t *testing.T) {
		ctx := context.Background()
		idle, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close(ctx)
		if _, err := idle.Exec(ctx, "BEGIN; SELECT count(*) FROM books"); err != nil {
			t.Fatal(err)
		}
		_, rep, _ := e.lint(t, "ALTER TABLE books ADD COLUMN note text;", "--rule", "live-hazard", "--dsn", dsn)
		f := rep.find("live-hazard")
		if f == nil || !strings.Contains(f.Message, "idle in transaction") {
			t.Errorf("want the idle session reported: %+v", rep.Findings)
		}
		_, rep, _ = e.lint(t, "SELECT 1;", "--rule", "live-hazard", "--dsn", dsn)
		if len(rep.Findings) != 0 {
			t.Errorf("a statement without strong locks is not at risk: %+v", rep.Findings)
		}
	})

	t.Run("catalog reads are read-only and take only ACCESS SHARE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := lint.ConnectCatalog(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var ro, st string
		if err := conn.QueryRow(ctx, "SELECT current_setting('default_transaction_read_only'), current_setting('statement_timeout')").Scan(&ro, &st); err != nil {
			t.Fatal(err)
		}
		if ro != "on" || st != "5s" {
			t.Errorf("default_transaction_read_only=%s statement_timeout=%s", ro, st)
		}
		queries := 0
		cat, err := lint.ReadCatalog(ctx, conn, lint.CatalogOptions{AfterQuery: func(ctx context.Context, tx lint.CatalogQuerier, query string) error {
			queries++
			rows, err := tx.Query(ctx, `SELECT l.mode, coalesce(n.nspname, '?'), coalesce(c.relname, l.relation::text)
				FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var mode, nsp, rel string
				if err := rows.Scan(&mode, &nsp, &rel); err != nil {
					return err
				}
				if mode != "AccessShareLock" {
					t.Errorf("after %s: %s on %s.%s", query, mode, nsp, rel)
				}
				// Sequences are read directly for their position
				// (ACCESS SHARE); pg_sequences would take ROW EXCLUSIVE.
				if nsp != "pg_catalog" && !strings.HasSuffix(rel, "_seq") {
					t.Errorf("after %s: lock on non-catalog relation %s.%s", query, nsp, rel)
				}
			}
			return rows.Err()
		}})
		if err != nil {
			t.Fatal(err)
		}
		if queries < 9 {
			t.Errorf("AfterQuery ran %d times", queries)
		}
		books := cat.Schema.Table("books")
		if books == nil || !books.HasStats || books.Rows != 20000 || cat.Sizes["public.events"].Rows != 1000 {
			t.Errorf("sizes: books %+v events %+v", books, cat.Sizes["public.events"])
		}
		if got := books.Column("amount").Type; got.Name != "numeric" || fmt.Sprint(got.Mods) != "[10 2]" {
			t.Errorf("amount type %+v", got)
		}
		if got := books.Column("code").Type; got.Name != "varchar" || fmt.Sprint(got.Mods) != "[20]" {
			t.Errorf("code type %+v", got)
		}
		if got := books.Column("m").Type; got.Name != "public.mood" {
			t.Errorf("m type %+v", got)
		}
		if d := cat.Schema.Types["public.posint2"]; d == nil || d.Kind != "domain" || !d.HasCheck || d.Base.Name != "int4" {
			t.Errorf("posint2 %+v", d)
		}
		if p := cat.Schema.Table("events_2024"); p == nil || p.PartitionOf != "public.events" {
			t.Errorf("events_2024 %+v", p)
		}
	})

	t.Run("trace: refuses without acknowledgement and on the --dsn database", func(t *testing.T) {
		code, _, errOut := e.lint(t, "SELECT 1;", "--trace", "--trace-dsn", dsn)
		if code != 2 || !strings.Contains(errOut, "--trace-disposable") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		code, _, errOut = e.lint(t, "SELECT 1;", "--dsn", dsn, "--trace", "--trace-dsn", dsn, "--trace-disposable")
		if code != 2 || !strings.Contains(errOut, "same database") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		// Same database, spelled differently: caught by the cluster identity.
		alt := strings.Replace(dsn, "host=", "connect_timeout=5 host=", 1)
		code, _, errOut = e.lint(t, "SELECT 1;", "--dsn", dsn, "--trace", "--trace-dsn", alt, "--trace-disposable")
		if code != 2 || !strings.Contains(errOut, "same") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("trace: facts on findings, static and traced verdicts agree", func(t *testing.T) {
		scratch := e.c.Primary.DSN(e.db(t, ""))
		migration := strings.Join([]string{
			"SET lock_timeout = '2s';",
			"ALTER TABLE books ADD COLUMN note text;",
			"ALTER TABLE books ADD COLUMN ts timestamptz DEFAULT clock_timestamp();",
			"ALTER TABLE books ALTER COLUMN price TYPE bigint;",
			"ALTER TABLE books ALTER COLUMN code TYPE varchar(50);",
			"ALTER TABLE books ADD CONSTRAINT price_pos CHECK (price >= 0) NOT VALID;",
			"ALTER TABLE books ALTER COLUMN title SET NOT NULL;",
			"CREATE INDEX books_price_idx ON books (price);",
			"ALTER TABLE books DROP CONSTRAINT books_author_fk;",
			"CREATE TABLE reviews (id bigint PRIMARY KEY, book_id int REFERENCES books (id));",
			"CREATE INDEX reviews_book_idx ON reviews (book_id);",
			"ALTER TABLE events ADD COLUMN k int DEFAULT 1;",
			"UPDATE logs SET msg = 'x' WHERE id < 10;",
			"GRANT SELECT ON books TO PUBLIC;",
		}, "\n")
		code, rep, errOut := e.lint(t, migration, "--dsn", dsn, "--trace", "--trace-dsn", scratch, "--trace-disposable")
		if code == 2 {
			t.Fatalf("exit 2: %s", errOut)
		}
		for _, f := range rep.Findings {
			if testing.Verbose() {
				t.Logf("%d %s %s: %s", f.Line, f.Severity, f.Rule, f.Message)
			}
			if f.Rule == "trace-contradicts-lint" || f.Rule == "trace-untraced" {
				t.Errorf("line %d: %s: %s", f.Line, f.Rule, f.Message)
			}
		}
		var rewrite *dbFinding
		for i, f := range rep.Findings {
			if f.Line == 3 && f.Rewrite {
				rewrite = &rep.Findings[i]
			}
		}
		if rewrite == nil || !strings.Contains(rewrite.Message, "traced: rewrote books and its 3 indexes") ||
			!strings.Contains(rewrite.Message, "ACCESS EXCLUSIVE") {
			t.Errorf("want traced facts on the clock_timestamp() finding: %+v", rewrite)
		}
		// Nothing was committed on the scratch database.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, scratch)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var cols int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'books'::regclass AND attname IN ('note', 'ts')").Scan(&cols); err != nil || cols != 0 {
			t.Errorf("the trace left columns behind: %d %v", cols, err)
		}
	})

	t.Run("trace: contradiction and untraceable statements are findings", func(t *testing.T) {
		scratch := e.c.Primary.DSN(e.db(t, ""))
		// Without --dsn lint does not know that logs (an unseen table)
		// is FK-free, but it does not know that books references
		// authors either: DROP TABLE books' lock on authors is only in the trace.
		migration := "DROP VIEW book_titles;\nDROP MATERIALIZED VIEW status_counts;\nDROP TABLE books;\n" +
			"CREATE TABLE t2 (id int);\nCREATE INDEX CONCURRENTLY t2_idx ON t2 (id);\n" +
			"CREATE INDEX CONCURRENTLY logs_msg_idx ON logs (msg);\n"
		code, rep, errOut := e.lint(t, migration, "--trace", "--trace-dsn", scratch, "--trace-disposable")
		if code == 2 {
			t.Fatalf("exit 2: %s", errOut)
		}
		var contra, untraced, probed bool
		for _, f := range rep.Findings {
			switch {
			case f.Rule == "trace-contradicts-lint" && f.Line == 3 && strings.Contains(f.Message, "ACCESS EXCLUSIVE on authors"):
				contra = true
			case f.Rule == "trace-untraced" && f.Line == 5:
				untraced = true
			case f.Line == 6 && f.Rule == "trace-untraced" && strings.Contains(f.Message, "probed") && strings.Contains(f.Message, "SHARE UPDATE EXCLUSIVE on logs"):
				probed = true
			}
		}
		if !contra || !untraced || !probed {
			t.Errorf("contradiction %v, untraced %v, probed %v: %+v", contra, untraced, probed, rep.Findings)
		}
	})
}
