package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chunkTexts renders a source's chunks as "text|down|tx|group" for comparison.
func chunkTexts(src *Source) []string {
	var out []string
	for _, c := range src.Chunks {
		out = append(out, strings.TrimSpace(string(src.Text[c.Start:c.End]))+"|"+boolStr(c.Down, "down", "up")+"|"+c.Tx.String()+"|"+string(rune('0'+c.Group)))
	}
	return out
}

func boolStr(b bool, t, f string) string {
	if b {
		return t
	}
	return f
}

func TestReadSourceFormats(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		text   string
		opts   ReadOptions
		format string
		down   bool
		chunks []string
	}{
		{
			name: "plain", path: "m.sql", text: "create table a(i int);\n",
			format: "sql", chunks: []string{"create table a(i int);|up|autocommit|1"},
		},
		{
			name: "plain assume tx", path: "m.sql", text: "create table a(i int);\n", opts: ReadOptions{AssumeInTransaction: true},
			format: "sql", chunks: []string{"create table a(i int);|up|wrapped|1"},
		},
		{
			name: "golang-migrate up", path: "db/0001_init.up.sql", text: "create table a(i int);",
			format: "golang-migrate", chunks: []string{"create table a(i int);|up|implicit|1"},
		},
		{
			name: "golang-migrate down", path: "db/0001_init.down.sql", text: "drop table a;",
			format: "golang-migrate", down: true, chunks: []string{"drop table a;|down|implicit|1"},
		},
		{
			name: "golang-migrate without name", path: "0161.up.sql", text: "select 1;",
			format: "golang-migrate", chunks: []string{"select 1;|up|implicit|1"},
		},
		{
			name: "golang-migrate _down quirk", path: "0029_idx_down.sql", text: "select 1;",
			format: "golang-migrate", down: true, chunks: []string{"select 1;|down|implicit|1"},
		},
		{
			name: "goose", path: "20250519145912_v1.sql",
			text:   "-- header\n-- +goose Up\ncreate table a(i int);\n-- +goose StatementBegin\ncreate function f() returns int language sql as $$ select 1 $$\n-- +goose StatementEnd\n-- +goose Down\ndrop table a;\n",
			format: "goose",
			chunks: []string{
				"create table a(i int);|up|wrapped|1",
				"create function f() returns int language sql as $$ select 1 $$|up|wrapped|1",
				"drop table a;|down|wrapped|2",
			},
		},
		{
			name: "goose lower-case no transaction", path: "1_x.sql",
			text:   "-- +goose up\n-- +goose no transaction\ncreate index concurrently i on a(i);\n-- +goose down\ndrop index i;\n",
			format: "goose",
			chunks: []string{"create index concurrently i on a(i);|up|autocommit|1", "drop index i;|down|autocommit|2"},
		},
		{
			name: "dbmate", path: "20220404205710_x.sql",
			text:   "-- migrate:up\ncreate table a(i int);\n\n-- migrate:down\n",
			format: "dbmate", chunks: []string{"create table a(i int);|up|wrapped|1"},
		},
		{
			name: "dbmate transaction false", path: "2_x.sql",
			text:   "-- migrate:up transaction:false\ncreate index concurrently i on a(i);\n-- migrate:down\ndrop index i;\n",
			format: "dbmate", chunks: []string{"create index concurrently i on a(i);|up|autocommit|1", "drop index i;|down|wrapped|2"},
		},
		{
			name: "flyway versioned", path: "sql/V1_2__add.sql", text: "alter table a add b int;",
			format: "flyway", chunks: []string{"alter table a add b int;|up|wrapped|1"},
		},
		{
			name: "flyway undo", path: "sql/U1_2__add.sql", text: "alter table a drop b;",
			format: "flyway", down: true, chunks: []string{"alter table a drop b;|down|wrapped|1"},
		},
		{
			name: "flyway repeatable", path: "sql/R__views.sql", text: "create or replace view v as select 1;",
			format: "flyway", chunks: []string{"create or replace view v as select 1;|up|wrapped|1"},
		},
		{
			name: "flyway concurrently runs outside a transaction", path: "V3__idx.sql", text: "create index concurrently i on a(b);",
			format: "flyway", chunks: []string{"create index concurrently i on a(b);|up|autocommit|1"},
		},
		{
			name: "diesel up", path: "migrations/2019-05-02-051656_x/up.sql", text: "create table a(i int);",
			format: "diesel", chunks: []string{"create table a(i int);|up|wrapped|1"},
		},
		{
			name: "diesel down", path: "migrations/2019-05-02-051656_x/down.sql", text: "drop table a;",
			format: "diesel", down: true, chunks: []string{"drop table a;|down|wrapped|1"},
		},
		{
			name: "sqitch deploy", path: "proj/deploy/users.sql", text: "BEGIN;\ncreate table users(i int);\nCOMMIT;",
			format: "sqitch", chunks: []string{"BEGIN;\ncreate table users(i int);\nCOMMIT;|up|autocommit|1"},
		},
		{
			name: "sqitch revert", path: "proj/revert/users.sql", text: "drop table users;",
			format: "sqitch", down: true, chunks: []string{"drop table users;|down|autocommit|1"},
		},
		{
			name: "sqitch verify", path: "proj/verify/users.sql", text: "select 1/count(*) from users;",
			format: "sqitch",
		},
		{
			name: "stdin sql", path: StdinPath, text: "\n  ALTER TABLE a ADD b int;",
			format: "sql", chunks: []string{"ALTER TABLE a ADD b int;|up|autocommit|1"},
		},
		{
			name: "stdin prose is markdown", path: StdinPath, text: "Sure! Here is the migration:\n\n```sql\nALTER TABLE a ADD b int;\n```\n",
			format: "markdown", chunks: []string{"ALTER TABLE a ADD b int;|up|autocommit|1"},
		},
		{
			name: "stdin prose starting with a keyword", path: StdinPath, text: "Create an index like this:\n```sql\nCREATE INDEX i ON a(b);\n```",
			format: "markdown", chunks: []string{"CREATE INDEX i ON a(b);|up|autocommit|1"},
		},
		{
			name: "stdin answer with a fence after a keyword-like first line", path: StdinPath, text: "Update: use this instead\n```\nALTER TABLE a ADD b int;\n```",
			format: "markdown", chunks: []string{"ALTER TABLE a ADD b int;|up|autocommit|1"},
		},
		{
			name: "stdin goose", path: StdinPath, text: "-- +goose Up\nselect 1;\n",
			format: "goose", chunks: []string{"select 1;|up|wrapped|1"},
		},
		{
			name: "bom", path: "x.sql", text: "\xef\xbb\xbfselect 1;",
			format: "sql", chunks: []string{"select 1;|up|autocommit|1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ReadSource(tt.path, []byte(tt.text), tt.opts)
			if src.Format != tt.format {
				t.Errorf("format = %q, want %q", src.Format, tt.format)
			}
			if src.Down != tt.down {
				t.Errorf("Down = %v, want %v", src.Down, tt.down)
			}
			got := chunkTexts(src)
			if strings.Join(got, "\n---\n") != strings.Join(tt.chunks, "\n---\n") {
				t.Errorf("chunks:\n%q\nwant:\n%q", got, tt.chunks)
			}
		})
	}
}

func TestReadSourceDieselMetadata(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "2024-01-01-000000_idx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.toml"), []byte("run_in_transaction = false\n"), 0o644)
	src := ReadSource(filepath.Join(dir, "up.sql"), []byte("create index concurrently i on a(b);"), ReadOptions{})
	if src.Format != "diesel" || src.Chunks[0].Tx != TxAutocommit {
		t.Fatalf("format %s tx %v, want diesel autocommit", src.Format, src.Chunks[0].Tx)
	}
}

func TestMarkdownChunks(t *testing.T) {
	answer := "Here's how to add the column safely.\n" +
		"\n" +
		"1. Add the column:\n" +
		"\n" +
		"```sql\n" +
		"ALTER TABLE users ADD COLUMN email text;\n" +
		"```\n" +
		"\n" +
		"Don't forget: it's quick.\n" +
		"\n" +
		"```bash\n" +
		"psql -f migrate.sql\n" +
		"```\n" +
		"\n" +
		"2. Then index it:\n" +
		"   ```SQL\n" +
		"   CREATE INDEX CONCURRENTLY users_email ON users (email);\n" +
		"   ```\n" +
		"\n" +
		"```\n" +
		"{\"not\": \"sql\"}\n" +
		"```\n" +
		"```\n" +
		"UPDATE users SET email = '' WHERE email IS NULL;\n" +
		"```\n"
	src := ReadSource("answer.md", []byte(answer), ReadOptions{})
	if src.Format != "markdown" {
		t.Fatalf("format %q", src.Format)
	}
	stmts, err := Parse(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text             string
		line, col, eline int
		ecol             int
	}{
		{"ALTER TABLE users ADD COLUMN email text", 6, 1, 6, 39},
		{"CREATE INDEX CONCURRENTLY users_email ON users (email)", 17, 4, 17, 57},
		{"UPDATE users SET email = '' WHERE email IS NULL", 24, 1, 24, 47},
	}
	if len(stmts) != len(want) {
		t.Fatalf("got %d statements, want %d: %v", len(stmts), len(want), stmtTexts(stmts))
	}
	for i, w := range want {
		st := stmts[i]
		if st.Text() != w.text {
			t.Errorf("stmt %d text %q, want %q", i, st.Text(), w.text)
		}
		if p, e := st.Pos(), st.EndPos(); p.Line != w.line || p.Column != w.col || e.Line != w.eline || e.Column != w.ecol {
			t.Errorf("stmt %d at %v-%v, want %d:%d-%d:%d", i, p, e, w.line, w.col, w.eline, w.ecol)
		}
		if st.Tx != 0 || st.InTxBlock {
			t.Errorf("stmt %d: markdown runs autocommit, got tx %d", i, st.Tx)
		}
	}
}

func TestMarkdownPsqlMetaAndUnterminated(t *testing.T) {
	md := "Run this:\n```psql\n\\c mydb\nALTER TABLE a ADD b int;\n\\d a\n```\nand\n```postgresql\nSELECT 1;\n"
	src := ReadSource("x.md", []byte(md), ReadOptions{})
	stmts, err := Parse(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stmtTexts(stmts); strings.Join(got, "|") != "ALTER TABLE a ADD b int|SELECT 1" {
		t.Fatalf("got %q", got)
	}
}

func stmtTexts(stmts []*Statement) []string {
	var out []string
	for _, st := range stmts {
		out = append(out, st.Text())
	}
	return out
}

func TestDirectoryOrder(t *testing.T) {
	root := t.TempDir()
	files := []string{
		"migrations/10_ten.up.sql",
		"migrations/10_ten.down.sql",
		"migrations/2_two.up.sql",
		"migrations/2_two.down.sql",
		"migrations/README.md",
		"migrations/.hidden/1_x.up.sql",
		"flyway/V1_10__c.sql",
		"flyway/V1_2__b.sql",
		"flyway/V1__a.sql",
		"flyway/R__views.sql",
		"flyway/U1_2__b.sql",
		"diesel/2020-01-02-000000_b/up.sql",
		"diesel/2020-01-02-000000_b/down.sql",
		"diesel/00000000000000_diesel_initial_setup/up.sql",
		"diesel/2019-12-31-235959_a/up.sql",
		"goose/20250519145912_v1_0_21.sql",
		"goose/20240101000000_v1_0_0.sql",
		"goose/old/20200101000000_excluded.sql",
		"sqitch/sqitch.plan",
		"sqitch/deploy/users.sql",
		"sqitch/deploy/appschema.sql",
		"sqitch/revert/users.sql",
		"sqitch/verify/users.sql",
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		content := "select 1;\n"
		if strings.HasSuffix(f, "sqitch.plan") {
			content = "%syntax-version=1.0.0\n%project=x\n\nappschema 2020-01-01T00:00:00Z A <a@b> # schema\nusers [appschema] 2020-01-02T00:00:00Z A <a@b>\n"
		}
		os.WriteFile(p, []byte(content), 0o644)
	}
	rel := func(srcs []*Source) []string {
		var out []string
		for _, s := range srcs {
			r, _ := filepath.Rel(root, s.Path)
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	tests := []struct {
		dir     string
		exclude []string
		want    []string
	}{
		{"migrations", nil, []string{"migrations/2_two.up.sql", "migrations/2_two.down.sql", "migrations/10_ten.up.sql", "migrations/10_ten.down.sql"}},
		{"flyway", nil, []string{"flyway/V1__a.sql", "flyway/V1_2__b.sql", "flyway/U1_2__b.sql", "flyway/V1_10__c.sql", "flyway/R__views.sql"}},
		{"diesel", nil, []string{"diesel/00000000000000_diesel_initial_setup/up.sql", "diesel/2019-12-31-235959_a/up.sql", "diesel/2020-01-02-000000_b/up.sql", "diesel/2020-01-02-000000_b/down.sql"}},
		{"goose", []string{"**/old/**"}, []string{"goose/20240101000000_v1_0_0.sql", "goose/20250519145912_v1_0_21.sql"}},
		{"migrations", []string{"*.down.sql"}, []string{"migrations/2_two.up.sql", "migrations/10_ten.up.sql"}},
		{"sqitch", nil, []string{"sqitch/deploy/appschema.sql", "sqitch/deploy/users.sql", "sqitch/revert/users.sql"}},
	}
	for _, tt := range tests {
		srcs, errs := ReadPaths([]string{filepath.Join(root, tt.dir)}, nil, ReadOptions{Exclude: tt.exclude})
		if len(errs) > 0 {
			t.Errorf("%s: errors %v", tt.dir, errs)
		}
		if got := rel(srcs); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s (exclude %v):\n got %v\nwant %v", tt.dir, tt.exclude, got, tt.want)
		}
	}
}

func TestReadPathsStdinAndErrors(t *testing.T) {
	srcs, errs := ReadPaths([]string{"-", filepath.Join(t.TempDir(), "missing.sql")}, strings.NewReader("select 1;"), ReadOptions{})
	if len(srcs) != 1 || srcs[0].Path != StdinPath || srcs[0].Format != "sql" {
		t.Fatalf("stdin source: %+v", srcs)
	}
	if len(errs) != 1 || errs[0].Line != 1 || errs[0].Column != 1 || !strings.Contains(errs[0].Message, "no such file") {
		t.Fatalf("errors: %+v", errs)
	}
}
