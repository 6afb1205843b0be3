package integration

// `migrate plan --emit` (issue 7): the files written for golang-migrate,
// goose and dbmate, applied in order the way each runner executes them, reach
// the same end state as `migrate apply` of the same migration.

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

const emitSeed = `
CREATE TABLE users (id int PRIMARY KEY, email text, score int);
INSERT INTO users SELECT g, 'u' || g || '@example.com', g FROM generate_series(1, 5000) g;
CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric);
INSERT INTO orders SELECT g, 1 + g % 5000, g FROM generate_series(1, 3000) g;`

const emitMigration = `ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
CREATE INDEX users_email_idx ON users (email);
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
UPDATE users SET score = 0;
`

func TestEmitMatchesApply(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	e := &env{c: c, tmpl: "tmpl"}
	ctx := context.Background()
	exec1(t, ctx, c.Primary.DSN(""), "CREATE DATABASE tmpl")
	exec1(t, ctx, c.Primary.DSN("tmpl"), emitSeed)
	file := writeMigration(t, "0042_several_recipes", emitMigration)
	tables := []string{"users", "orders"}
	// The token values are random on both sides: compared by the catalog
	// (NOT NULL) and checked for distinctness below, not by value.
	skip := map[string]bool{"token": true}

	applied := e.db(t, ctx, "applied")
	if res := e.migrateCmd(ctx, applied, applyArgs(file)...); res.code != 0 {
		t.Fatalf("apply: %s", res)
	}
	want := takeSnapshot(t, ctx, c.Primary.DSN(applied), tables, skip)
	all := strings.Join(append(append(want.Columns, want.Indexes...), want.Constraints...), "\n")
	for _, s := range []string{"users.email text NOT NULL", "users.token uuid NOT NULL DEFAULT gen_random_uuid()", "CREATE INDEX users_email_idx", "orders_user_fk FOREIGN KEY"} {
		if !strings.Contains(all, s) {
			t.Fatalf("apply's end state lacks %q: the comparison would prove nothing\n%s", s, all)
		}
	}
	seeded := e.db(t, ctx, "seeded")
	orig := takeSnapshot(t, ctx, c.Primary.DSN(seeded), tables, skip)

	for _, rn := range []struct {
		format string
		run    func(t *testing.T, ctx context.Context, conn *pgx.Conn, dir string, up bool)
	}{
		{"golang-migrate", runGolangMigrate},
		{"goose", runGoose},
		{"dbmate", runDbmate},
	} {
		t.Run(rn.format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "migrations")
			res := e.migrateCmd(ctx, "", "plan", "--emit", rn.format, "--out", dir, "--batch", "700", file)
			if res.code != 0 {
				t.Fatalf("plan --emit: %s", res)
			}
			db := e.db(t, ctx, strings.ReplaceAll(rn.format, "-", "_"))
			conn, err := pgx.Connect(ctx, c.Primary.DSN(db))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			rn.run(t, ctx, conn, dir, true)
			got := takeSnapshot(t, ctx, c.Primary.DSN(db), tables, skip)
			if d := want.diff(got, nil); len(d) > 0 {
				t.Errorf("emitted %s files end elsewhere than migrate apply:\n  %s", rn.format, strings.Join(d, "\n  "))
			}
			var n, distinct int
			if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT token) FROM users`).Scan(&n, &distinct); err != nil || n != distinct || n != 5000 {
				t.Errorf("token: %d rows, %d distinct (%v)", n, distinct, err)
			}
			// Down, newest first, restores the original catalog (the data
			// change of the whole-table UPDATE is not undone).
			if rn.format == "dbmate" {
				return
			}
			rn.run(t, ctx, conn, dir, false)
			back := takeSnapshot(t, ctx, c.Primary.DSN(db), tables, map[string]bool{"token": true, "score": true})
			o := orig
			o.RowsHash, o.RowCount = back.RowsHash, back.RowCount
			if d := o.diff(back, nil); len(d) > 0 {
				t.Errorf("%s down files leave:\n  %s", rn.format, strings.Join(d, "\n  "))
			}
		})
	}
}

// files lists dir's files with suffix, oldest version first (or newest
// first for down), as the runners order them.
func files(t *testing.T, dir, suffix string, reverse bool) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil || len(all) == 0 {
		t.Fatalf("no %s files in %s (%v)", suffix, dir, err)
	}
	sort.Strings(all)
	if reverse {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	return all
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// simple sends text as one simple-protocol query string, as lib/pq does
// for an Exec without arguments: several statements run as one implicit
// transaction.
func simple(t *testing.T, ctx context.Context, conn *pgx.Conn, name, text string) {
	t.Helper()
	if _, err := conn.PgConn().Exec(ctx, text).ReadAll(); err != nil {
		t.Fatalf("%s: %v", filepath.Base(name), err)
	}
}

// runGolangMigrate: each file is sent whole, on one connection.
func runGolangMigrate(t *testing.T, ctx context.Context, conn *pgx.Conn, dir string, up bool) {
	suffix := ".up.sql"
	if !up {
		suffix = ".down.sql"
	}
	for _, f := range files(t, dir, suffix, !up) {
		simple(t, ctx, conn, f, read(t, f))
	}
}

// runDbmate: the up block is sent whole, in a transaction unless
// transaction:false.
func runDbmate(t *testing.T, ctx context.Context, conn *pgx.Conn, dir string, up bool) {
	for _, f := range files(t, dir, ".sql", false) {
		text := read(t, f)
		block := text[:strings.Index(text, "-- migrate:down")]
		first := block[:strings.IndexByte(block, '\n')]
		if !strings.HasPrefix(first, "-- migrate:up") {
			t.Fatalf("%s: no up block first", f)
		}
		if strings.Contains(first, "transaction:false") {
			simple(t, ctx, conn, f, block)
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, block); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// runGoose splits each file the way goose's parser does (statements end at
// a line ending with a semicolon, except between StatementBegin and
// StatementEnd) and runs them in one transaction unless NO TRANSACTION.
func runGoose(t *testing.T, ctx context.Context, conn *pgx.Conn, dir string, up bool) {
	for _, f := range files(t, dir, ".sql", !up) {
		text := read(t, f)
		noTx := strings.Contains(text, "\n-- +goose NO TRANSACTION\n")
		var stmts []string
		var buf strings.Builder
		section, fenced := "", false
		for _, line := range strings.Split(text, "\n") {
			trimmed := strings.TrimSpace(line)
			switch trimmed {
			case "-- +goose Up":
				section = "up"
				continue
			case "-- +goose Down":
				section = "down"
				continue
			case "-- +goose StatementBegin":
				fenced = true
				continue
			case "-- +goose StatementEnd":
				fenced = false
				stmts = append(stmts, buf.String())
				buf.Reset()
				continue
			}
			if (section == "up") != up || section == "" {
				continue
			}
			if !fenced && strings.HasPrefix(trimmed, "--") {
				continue
			}
			buf.WriteString(line + "\n")
			if !fenced && strings.HasSuffix(trimmed, ";") {
				stmts = append(stmts, buf.String())
				buf.Reset()
			}
		}
		if strings.TrimSpace(buf.String()) != "" {
			t.Fatalf("%s: unterminated statement %q", f, buf.String())
		}
		if noTx {
			for _, s := range stmts {
				if _, err := conn.Exec(ctx, s); err != nil {
					t.Fatalf("%s: %s: %v", filepath.Base(f), firstLine(s), err)
				}
			}
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %s: %v", filepath.Base(f), firstLine(s), err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
