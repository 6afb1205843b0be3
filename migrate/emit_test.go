package migrate

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// emitSQL covers each kind of file: a strong-lock step, CONCURRENTLY
// builds, a NOT VALID + VALIDATE pair, backfills and a breaking drop.
const emitSQL = `ALTER TABLE accounts ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
CREATE INDEX accounts_created_idx ON accounts (created);
ALTER TABLE accounts ADD CONSTRAINT accounts_owner_fk FOREIGN KEY (owner_id) REFERENCES app."Users" (id);
UPDATE accounts SET code = upper(code);
ALTER TABLE accounts DROP COLUMN created;
`

func emitFiles(t *testing.T, f EmitFormat, opts EmitOptions) map[string]string {
	t.Helper()
	p := planSQLAt(t, "migrations/0042_accounts.sql", emitSQL, Options{})
	opts.Format, opts.Source = f, "migrations/0042_accounts.sql"
	em, err := p.Emit(opts)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, file := range em.Files {
		if _, dup := files[file.Name]; dup {
			t.Errorf("%s: file %s emitted twice", f, file.Name)
		}
		files[file.Name] = file.Content
	}
	return files
}

func names(files map[string]string) string {
	var out []string
	for n := range files {
		out = append(out, n)
	}
	return strings.Join(sorted(out), "\n")
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func find(t *testing.T, files map[string]string, re string) (string, string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for n, c := range files {
		if rx.MatchString(n) {
			return n, c
		}
	}
	t.Fatalf("no file matches %s in\n%s", re, names(files))
	return "", ""
}

func TestEmitGolangMigrate(t *testing.T) {
	files := emitFiles(t, GolangMigrate, EmitOptions{})
	for n := range files {
		if !regexp.MustCompile(`^\d{4}_[a-z0-9_]+\.(up|down)\.sql$`).MatchString(n) {
			t.Errorf("bad golang-migrate name %s", n)
		}
		if strings.HasSuffix(n, ".up.sql") {
			if _, ok := files[strings.TrimSuffix(n, ".up.sql")+".down.sql"]; !ok {
				t.Errorf("%s has no down file", n)
			}
		}
	}
	// Every CONCURRENTLY statement is alone in its file: golang-migrate
	// sends a file as one string, which would run it in a transaction.
	n, c := find(t, files, `_expand_build_index_accounts_created_idx.*\.up\.sql$`)
	if got := sqlStatements(c); len(got) != 1 || !strings.Contains(got[0], "CREATE INDEX CONCURRENTLY") {
		t.Errorf("%s: want exactly the CREATE INDEX CONCURRENTLY, got %q", n, got)
	}
	// A transactional file: timeouts first with SET LOCAL, no BEGIN.
	n, c = find(t, files, `_expand_add_column_token.*\.up\.sql$`)
	st := sqlStatements(c)
	if len(st) < 3 || st[0] != "SET LOCAL lock_timeout = '2s';" || st[1] != "SET LOCAL statement_timeout = '30s';" || strings.Contains(c, "BEGIN;") {
		t.Errorf("%s: want SET LOCAL timeouts first and no BEGIN:\n%s", n, c)
	}
	// The backfill: procedure, lone CALL, cleanup; the command in comments.
	_, prep := find(t, files, `_backfill_accounts_token_prepare\.up\.sql$`)
	_, call := find(t, files, `_backfill_accounts_token\.up\.sql$`)
	find(t, files, `_backfill_accounts_token_cleanup\.up\.sql$`)
	for _, want := range []string{"CREATE OR REPLACE PROCEDURE", "COMMIT;", "pg_stat_replication", "pg_sleep", "accounts.id%TYPE", "AND (token IS NULL)", "ORDER BY id"} {
		if !strings.Contains(prep, want) {
			t.Errorf("procedure lacks %q:\n%s", want, prep)
		}
	}
	if got := sqlStatements(call); len(got) != 1 || !strings.HasPrefix(got[0], "CALL _migrate_backfill_") {
		t.Errorf("call file: want one CALL, got %q", got)
	}
	if !strings.Contains(call, "-- BACKFILL") || !strings.Contains(call, "migrate backfill --dsn \"$DATABASE_URL\" --table accounts --set 'token = gen_random_uuid()' --where 'token IS NULL'") {
		t.Errorf("call file does not explain the migrate backfill command:\n%s", call)
	}
	// The breaking drop is named and headed as such.
	n, c = find(t, files, `_contract_drop_column_accounts_created.*\.up\.sql$`)
	if !strings.Contains(c, "CONTRACT (BREAKING): deploy this file only after every instance of the application") {
		t.Errorf("%s lacks the breaking warning:\n%s", n, c)
	}
	_, down := find(t, files, `_contract_drop_column_accounts_created.*\.down\.sql$`)
	if !strings.Contains(down, "RAISE EXCEPTION") {
		t.Errorf("the down of an irreversible drop must fail, not pass silently:\n%s", down)
	}
	_, down = find(t, files, `_expand_add_column_token.*\.down\.sql$`)
	if !strings.Contains(down, "DROP COLUMN IF EXISTS token") {
		t.Errorf("down lacks the undo:\n%s", down)
	}
}

func TestEmitFileGrouping(t *testing.T) {
	p := planSQLAt(t, "0042_x.sql", emitSQL, Options{})
	units, err := p.units(Goose)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if u.kind != unitTx {
			continue
		}
		for i, s := range u.steps {
			if strongLock(s) && i != len(u.steps)-1 {
				t.Errorf("strong-lock step %d is not last in its file (%d steps)", s.ID, len(u.steps))
			}
			if s.Phase != u.phase || !s.InTransaction {
				t.Errorf("step %d (%s, tx %v) grouped into a %s transaction", s.ID, s.Phase, s.InTransaction, u.phase)
			}
		}
	}
	// The validation after the NOT VALID foreign key shares no file with
	// it: the NOT VALID step takes the strong lock and so ends its file.
	var fk, validate int
	for i, u := range units {
		for _, s := range u.steps {
			if strings.Contains(s.SQL, "NOT VALID") && strings.Contains(s.SQL, "FOREIGN KEY") {
				fk = i
			}
			if strings.Contains(s.SQL, "VALIDATE CONSTRAINT accounts_owner_fk") {
				validate = i
			}
		}
	}
	if fk == validate {
		t.Errorf("NOT VALID and VALIDATE share a transaction")
	}
}

func TestEmitGoose(t *testing.T) {
	files := emitFiles(t, Goose, EmitOptions{StartVersion: "20240101120000"})
	for n, c := range files {
		if !regexp.MustCompile(`^2024010112\d{4}_[a-z0-9_]+\.sql$`).MatchString(n) {
			t.Errorf("bad goose name %s", n)
		}
		if !strings.Contains(c, "\n-- +goose Up\n") || !strings.Contains(c, "\n-- +goose Down\n") {
			t.Errorf("%s lacks goose markers", n)
		}
	}
	n, c := find(t, files, `_expand_build_index_accounts_created_idx`)
	if !strings.Contains(c, "-- +goose NO TRANSACTION\n") || !strings.Contains(c, "SET lock_timeout = 0;\nSET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY") {
		t.Errorf("%s: want NO TRANSACTION and session timeouts off:\n%s", n, c)
	}
	n, c = find(t, files, `_backfill_accounts_token\.sql$`)
	if !strings.Contains(c, "-- +goose NO TRANSACTION\n") || !strings.Contains(c, "-- +goose StatementBegin\nCREATE OR REPLACE PROCEDURE") ||
		!strings.Contains(c, "-- +goose StatementEnd\nCALL ") {
		t.Errorf("%s: want one non-transactional file creating and calling the procedure:\n%s", n, c)
	}
	n, c = find(t, files, `_expand_add_column_token`)
	if strings.Contains(c, "NO TRANSACTION") || !strings.Contains(c, "-- +goose Up\nSET LOCAL lock_timeout = '2s';") {
		t.Errorf("%s: want a transactional file starting with SET LOCAL:\n%s", n, c)
	}
}

func TestEmitDbmate(t *testing.T) {
	files := emitFiles(t, Dbmate, EmitOptions{})
	for n, c := range files {
		if !strings.HasPrefix(c, "-- migrate:up") {
			t.Errorf("%s must start with its up marker", n)
		}
	}
	_, c := find(t, files, `_expand_build_index_accounts_created_idx`)
	if !strings.HasPrefix(c, "-- migrate:up transaction:false\n") || !strings.Contains(c, "-- migrate:down transaction:false\n") {
		t.Errorf("want transaction:false both ways:\n%s", c)
	}
	up := c[:strings.Index(c, "-- migrate:down")]
	if got := sqlStatements(up); len(got) != 1 {
		t.Errorf("dbmate runs a block as one string: want one statement, got %q", got)
	}
	_, c = find(t, files, `_backfill_accounts_token\.sql$`)
	if !strings.HasPrefix(c, "-- migrate:up transaction:false\n") {
		t.Errorf("CALL file must not be transactional:\n%s", c)
	}
}

func TestEmitFlyway(t *testing.T) {
	files := emitFiles(t, Flyway, EmitOptions{})
	for n := range files {
		if !regexp.MustCompile(`^V0042\.\d+__[a-z0-9_]+\.sql(\.conf)?$`).MatchString(n) {
			t.Errorf("bad flyway name %s", n)
		}
	}
	n, _ := find(t, files, `_expand_build_index_accounts_created_idx.*\.sql$`)
	if files[n+".conf"] != "executeInTransaction=false\n" {
		t.Errorf("%s: want a .conf with executeInTransaction=false, got %q", n, files[n+".conf"])
	}
	n, _ = find(t, files, `_expand_add_column_token.*\.sql$`)
	if _, ok := files[n+".conf"]; ok {
		t.Errorf("%s is transactional but has a .conf", n)
	}
	n, c := find(t, files, `_backfill_accounts_token\.sql$`)
	if _, ok := files[n+".conf"]; !ok || !strings.Contains(c, "CALL ") {
		t.Errorf("%s: the backfill must call the procedure outside a transaction", n)
	}
}

func TestEmitVersions(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 59, 0, time.UTC)
	for _, tc := range []struct {
		opts EmitOptions
		want []string
		note bool
	}{
		{EmitOptions{Format: Goose, Source: "m/0042_x.sql"}, []string{"0042", "0043", "0044"}, true},
		{EmitOptions{Format: Flyway, Source: "m/V7__x.sql"}, []string{"20250304050659", "20250304050700", "20250304050701"}, false},
		{EmitOptions{Format: Flyway, Source: "m/0042_x.sql"}, []string{"0042.1", "0042.2", "0042.3"}, false},
		{EmitOptions{Format: Dbmate, Source: "m/20240101235959_x.sql"}, []string{"20240101235959", "20240102000000", "20240102000001"}, false},
		{EmitOptions{Format: GolangMigrate, Source: "-"}, []string{"20250304050659", "20250304050700", "20250304050701"}, false},
		{EmitOptions{Format: GolangMigrate, StartVersion: "0099", Source: "m/0042_x.sql"}, []string{"0099", "0100", "0101"}, false},
		{EmitOptions{Format: Goose, VersionPrefix: "2024050112"}, []string{"202405011201", "202405011202", "202405011203"}, false},
	} {
		tc.opts.Now = now
		got, note, err := emitVersions(tc.opts, 3)
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") || (note != "") != tc.note {
			t.Errorf("%+v: got %v, note %q, err %v; want %v", tc.opts, got, note, err, tc.want)
		}
	}
	for _, o := range []EmitOptions{{VersionPrefix: "v1"}, {StartVersion: "1a"}} {
		if _, _, err := emitVersions(o, 2); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

func TestEmitRefused(t *testing.T) {
	p := planSQL(t, "VACUUM FULL accounts;", Options{})
	if _, err := p.Emit(EmitOptions{Format: Goose}); err == nil {
		t.Fatal("a plan with refusals must not be emitted")
	}
}

// sqlStatements are the statements of a file, comments left out.
func sqlStatements(content string) []string {
	var lines []string
	for _, l := range strings.Split(content, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	out, _ := splitSQL(strings.Join(lines, "\n"))
	return out
}
