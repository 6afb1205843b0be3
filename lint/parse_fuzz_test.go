package lint

import (
	"testing"
)

// FuzzParse: reading, Markdown extraction, parsing and position mapping
// never panic and keep every position inside the source
// (go test -run=^$ -fuzz=FuzzParse -fuzztime=60s ./lint/).
func FuzzParse(f *testing.F) {
	seeds := []struct{ path, text string }{
		{"a.md", "Here you go:\n\n```sql\nALTER TABLE a ADD b int;\n```\n\nThen:\n```postgresql\nCREATE INDEX CONCURRENTLY i ON a (b);\n```\n"},
		{"<stdin>", "Sure, run\n```\nUPDATE a SET b = 1;\n```"},
		{"1_x.sql", "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f;\n"},
		{"2_x.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n"},
		{"3_x.sql", "-- migrate:up transaction:false\nDO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD c int', 't'); END $$;\n-- migrate:down\nSELECT 1;\n"},
		{"4.up.sql", "BEGIN;\nALTER TABLE a ADD b int; -- migrate:ignore rule-a\nCOMMIT;\r\nSELECT 'x--y';"},
		{"p.sql", "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END;"},
		{"q.sql", "SELECT 'é' frm x;"},
		{"r.sql", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'UPDATE t SET a = ''x''';"},
	}
	for _, s := range seeds {
		f.Add(s.path, []byte(s.text), false)
	}
	f.Fuzz(func(t *testing.T, path string, text []byte, assume bool) {
		src := ReadSource(path, text, ReadOptions{AssumeInTransaction: assume})
		for _, c := range src.Chunks {
			if c.Start < 0 || c.End > len(text) || c.Start > c.End {
				t.Fatalf("chunk %d-%d out of bounds (%d)", c.Start, c.End, len(text))
			}
		}
		stmts, err := Parse(src, Options{IncludeDown: true})
		if err != nil {
			if err.Line < 1 || err.Column < 1 || err.File != path {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		last := -1
		for _, st := range stmts {
			if st.Start < 0 || st.End > len(text) || st.Start > st.End {
				t.Fatalf("statement %d-%d out of bounds (%d)", st.Start, st.End, len(text))
			}
			if st.Context == "" {
				if st.Start < last {
					t.Fatalf("statements out of order")
				}
				last = st.Start
				if st.Node == nil {
					t.Fatalf("top-level statement without node")
				}
			}
			p, e := st.Pos(), st.EndPos()
			if p.Line < 1 || p.Column < 1 || e.Line < p.Line || e.Line == p.Line && e.Column < p.Column {
				t.Fatalf("positions %v-%v", p, e)
			}
			for _, ig := range st.Ignores {
				if ig.Offset < 0 || ig.Offset >= len(text) {
					t.Fatalf("ignore offset %d out of bounds", ig.Offset)
				}
			}
			_ = st.Text()
		}
	})
}
