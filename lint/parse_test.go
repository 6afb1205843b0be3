package lint

import (
	"fmt"
	"strings"
	"testing"
)

func mustParse(t *testing.T, path, text string, opts ReadOptions) []*Statement {
	t.Helper()
	src := ReadSource(path, []byte(text), opts)
	stmts, err := Parse(src, Options{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	return stmts
}

func TestParsePositions(t *testing.T) {
	text := "-- leading comment\n" +
		"/* block */ CREATE TABLE a (\n" +
		"  id int -- trailing; not the end\n" +
		");\r\n" +
		"\r\n" +
		"ALTER TABLE a ADD b text DEFAULT 'x;--y' ; SELECT $$;$$\r\n" +
		"/* last, no semicolon */"
	stmts := mustParse(t, "p.sql", text, ReadOptions{})
	want := []struct {
		text     string
		from, to string
	}{
		{"CREATE TABLE a (\n  id int -- trailing; not the end\n)", "2:13", "4:1"},
		{"ALTER TABLE a ADD b text DEFAULT 'x;--y'", "6:1", "6:40"},
		{"SELECT $$;$$", "6:44", "6:55"},
	}
	if len(stmts) != len(want) {
		t.Fatalf("got %d statements: %q", len(stmts), stmtTexts(stmts))
	}
	for i, w := range want {
		st := stmts[i]
		if st.Text() != w.text || st.Pos().String() != w.from || st.EndPos().String() != w.to {
			t.Errorf("stmt %d: %q %v-%v, want %q %s-%s", i, st.Text(), st.Pos(), st.EndPos(), w.text, w.from, w.to)
		}
		if st.Node == nil {
			t.Errorf("stmt %d: no node", i)
		}
	}
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		path, text string
		want       string
	}{
		{"e.sql", "SELECT 1;\nALTER TABLE é ADD COLUMN x int;\nSELEC 2;\n", "e.sql:3:1: syntax error at or near \"SELEC\""},
		{"e.sql", "SELECT 1;\nSELECT 'é' frm x;\n", "e.sql:2:17: syntax error at or near \"x\""},
		{"e.sql", "select $$ abc", "e.sql:1:8: unterminated dollar-quoted string at or near \"$$ abc\""},
		{"e.md", "Try:\n\n```sql\nSELECT 1;\nCREATE TABLE (;\n```\n", "e.md:5:14: syntax error at or near \"(\""},
		{"1_x.sql", "-- +goose Up\nselect 1;\n-- +goose Down\nselect (;\n", "1_x.sql:4:9: syntax error at or near \";\""},
	}
	for _, tt := range tests {
		src := ReadSource(tt.path, []byte(tt.text), ReadOptions{})
		_, err := Parse(src, Options{IncludeDown: true})
		if err == nil {
			t.Errorf("%q: no error", tt.text)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.text, err, tt.want)
		}
	}
}

// Down code is not linted by default, so SQL the parser does not know there
// (lemmy's down.sql files use PostgreSQL 18's named NOT NULL constraints)
// does not make the file unlintable; the up part is still returned.
func TestParseSyntaxErrorInDownCode(t *testing.T) {
	text := "-- +goose Up\nselect 1;\n-- +goose Down\nALTER TABLE t ADD CONSTRAINT c NOT NULL a;\n"
	src := ReadSource("1_x.sql", []byte(text), ReadOptions{})
	stmts, err := Parse(src, Options{})
	if err != nil || len(stmts) != 1 || stmts[0].Text() != "select 1" {
		t.Fatalf("got %q, %v", stmtTexts(stmts), err)
	}
	if _, err := Parse(src, Options{IncludeDown: true}); err == nil || err.Line != 4 {
		t.Fatalf("with IncludeDown: %v, want an error on line 4", err)
	}
	down := ReadSource("m/down.sql", []byte("select (;"), ReadOptions{})
	if stmts, err := Parse(down, Options{}); err != nil || len(stmts) != 0 {
		t.Fatalf("down.sql: %v %v", stmts, err)
	}
}

func TestParseSyntaxErrorInLargeFile(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "CREATE TABLE t%d (id bigint PRIMARY KEY, name text NOT NULL);\n", i)
	}
	b.WriteString("CREATE TABLE broken (id int,);\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "CREATE INDEX i%d ON t%d (name);\n", i, i)
	}
	src := ReadSource("big.sql", []byte(b.String()), ReadOptions{})
	_, err := Parse(src, Options{})
	if err == nil || err.Line != 3001 || err.Column != 29 {
		t.Fatalf("got %v, want big.sql:3001:29", err)
	}
}

func TestParseLargeFileMatchesSerial(t *testing.T) {
	text := benchSQL(3000)
	src := ReadSource("big.sql", []byte(text), ReadOptions{})
	stmts, err := Parse(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, st := range stmts {
		if st.Context == "" {
			top++
		}
	}
	if top != 3000 {
		t.Fatalf("got %d top-level statements, want 3000", top)
	}
	// The batch cut must not shift anything: compare with a small, serially
	// parsed file holding one statement of each kind at the same offsets.
	for i, st := range stmts {
		if i > 0 && st.Start < stmts[i-1].Start {
			t.Fatalf("statement %d out of order", i)
		}
		if st.Context == "" && !strings.HasPrefix(strings.ToUpper(st.Text()), "CREATE") && !strings.HasPrefix(st.Text(), "ALTER") && !strings.HasPrefix(st.Text(), "UPDATE") {
			t.Fatalf("statement %d starts oddly: %q", i, st.Text())
		}
	}
}

type txCase struct {
	text string // statements, one per line unless a goose file
	want string // per statement "tx:inblock:explicit"
}

func txString(stmts []*Statement) string {
	var parts []string
	for _, st := range stmts {
		if st.Context != "" {
			continue
		}
		s := fmt.Sprint(st.Tx)
		if st.InTxBlock {
			s += "b"
		}
		if st.Explicit {
			s += "e"
		}
		if st.Down {
			s += "d"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestTransactionModel(t *testing.T) {
	tests := []struct {
		name, path, text string
		opts             ReadOptions
		want             string
	}{
		{"autocommit", "a.sql", "select 1; select 2;", ReadOptions{}, "0 0"},
		{"explicit", "a.sql", "select 1; BEGIN; select 2; COMMIT; select 3; START TRANSACTION; select 4; SAVEPOINT s; ROLLBACK TO SAVEPOINT s; END; select 5;", ReadOptions{},
			"0 1be 1be 1be 0 2be 2be 2be 2be 2be 0"},
		{"commit and chain", "a.sql", "BEGIN; select 1; COMMIT AND CHAIN; select 2; ROLLBACK;", ReadOptions{}, "1be 1be 1be 2be 2be"},
		{"assume in transaction", "a.sql", "select 1; select 2;", ReadOptions{AssumeInTransaction: true}, "1b 1b"},
		{"wrapped with commit inside", "a.sql", "select 1; COMMIT; select 2;", ReadOptions{AssumeInTransaction: true}, "1b 1b 0"},
		{"wrapped with nested begin", "a.sql", "select 1; BEGIN; select 2; COMMIT;", ReadOptions{AssumeInTransaction: true}, "1b 1be 1be 1be"},
		{"golang-migrate single", "1_x.up.sql", "create index concurrently i on t(a);", ReadOptions{}, "0"},
		{"golang-migrate multi", "1_x.up.sql", "select 1; select 2;", ReadOptions{}, "1b 1b"},
		{"golang-migrate begin converts implicit", "1_x.up.sql", "select 1; BEGIN; select 2; COMMIT; select 3;", ReadOptions{}, "1b 1be 1be 1be 2b"},
		{"golang-migrate down", "1_x.down.sql", "select 1; select 2;", ReadOptions{}, "1bd 1bd"},
		{"goose", "1_x.sql", "-- +goose Up\nselect 1;\n-- +goose StatementBegin\nselect 2;\n-- +goose StatementEnd\n-- +goose Down\nselect 3;\n", ReadOptions{}, "1b 1b 2bd"},
		{"goose no transaction", "1_x.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nselect 1;\nBEGIN;\nselect 2;\n-- +goose StatementBegin\nselect 3;\n-- +goose StatementEnd\nCOMMIT;\nselect 4;\n", ReadOptions{}, "0 1be 1be 1be 1be 0"},
		{"dbmate", "1_x.sql", "-- migrate:up\nselect 1; select 2;\n-- migrate:down\nselect 3;\n", ReadOptions{}, "1b 1b 2bd"},
		{"dbmate transaction false", "1_x.sql", "-- migrate:up transaction:false\nselect 1; select 2;\n", ReadOptions{}, "0 0"},
		{"markdown", "a.md", "x\n```sql\nselect 1;\n```\n```sql\nBEGIN;\nselect 2;\n```\n```sql\nCOMMIT;\n```\n", ReadOptions{}, "0 1be 1be 1be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := txString(mustParse(t, tt.path, tt.text, tt.opts))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func ignoreString(st *Statement) string {
	var parts []string
	for _, ig := range st.Ignores {
		s := ig.Rule
		if s == "" {
			s = "<bare>"
		}
		if ig.File {
			s += "(file)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func TestIgnoreComments(t *testing.T) {
	text := `-- migrate:ignore-file require-lock-timeout
SELECT '-- migrate:ignore not-a-comment';
-- migrate:ignore rule-a, rule-b because the table is tiny
ALTER TABLE a ADD b int;
CREATE INDEX i ON a(b); -- migrate:ignore require-concurrent-index
DO $$ BEGIN -- migrate:ignore inside-dollar-quote
END $$;
-- migrate:ignore
-- a bare ignore is recorded with no rule
DROP TABLE c;
SELECT E'\' -- migrate:ignore in-escape-string';
/* migrate:ignore rule-c */ UPDATE a SET b = 1;
UPDATE a
  SET b = 2 -- migrate:ignore rule-d
  WHERE b = 3;
-- migrate:ignores is not a directive
SELECT 4;
-- migrate:ignore orphan-at-end
`
	stmts := mustParse(t, "i.sql", text, ReadOptions{})
	var got []string
	for _, st := range stmts {
		if st.Context == "" {
			got = append(got, ignoreString(st))
		}
	}
	want := []string{
		"require-lock-timeout(file)",
		"require-lock-timeout(file),rule-a,rule-b",
		"require-lock-timeout(file),require-concurrent-index",
		"require-lock-timeout(file)",
		"require-lock-timeout(file),<bare>",
		"require-lock-timeout(file)",
		"require-lock-timeout(file),rule-c",
		"require-lock-timeout(file),rule-d",
		"require-lock-timeout(file),orphan-at-end",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ignores:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, st := range stmts {
		for _, ig := range st.Ignores {
			if !strings.Contains(text[ig.Offset:], "migrate:ignore") || !strings.HasPrefix(text[ig.Offset:], "--") && !strings.HasPrefix(text[ig.Offset:], "/*") {
				t.Errorf("ignore %q offset %d does not point at its comment", ig.Rule, ig.Offset)
			}
		}
	}
}

func TestIgnoreCommentInsideBody(t *testing.T) {
	text := "-- migrate:ignore outer-rule\nDO $$\nBEGIN\n  -- migrate:ignore inner-rule\n  ALTER TABLE a ADD c int;\n  ALTER TABLE a ADD d int;\nEND $$;\n"
	stmts := mustParse(t, "b.sql", text, ReadOptions{})
	if len(stmts) != 3 {
		t.Fatalf("got %q", stmtTexts(stmts))
	}
	if got := ignoreString(stmts[1]); got != "outer-rule,inner-rule" {
		t.Errorf("first body statement ignores %q", got)
	}
	if got := ignoreString(stmts[2]); got != "outer-rule" {
		t.Errorf("second body statement ignores %q", got)
	}
}

func TestParseNeverEmptyNode(t *testing.T) {
	for _, text := range []string{"", "   ", "-- only a comment", ";;;", "/* unterminated"} {
		src := ReadSource("x.sql", []byte(text), ReadOptions{})
		stmts, err := Parse(src, Options{})
		if err != nil && text != "/* unterminated" {
			t.Errorf("%q: %v", text, err)
		}
		if len(stmts) != 0 {
			t.Errorf("%q: %d statements", text, len(stmts))
		}
	}
}

// TestParallelParseKeepsStderr: pg_query points fd 2 at a pipe during each
// call; with parallel workers the restore can interleave, so Parse puts
// the original back. A broken fd 2 would lose (or SIGPIPE) later error output.
func TestParallelParseKeepsStderr(t *testing.T) {
	before, ok := stderrIdentity()
	if !ok {
		t.Skip("no fstat on this platform")
	}
	text := benchSQL(1500)
	for i := 0; i < 3; i++ {
		src := ReadSource("big.sql", []byte(text), ReadOptions{})
		if _, err := Parse(src, Options{}); err != nil {
			t.Fatal(err)
		}
		if after, _ := stderrIdentity(); after != before {
			t.Fatalf("fd 2 changed from %v to %v", before, after)
		}
	}
}
