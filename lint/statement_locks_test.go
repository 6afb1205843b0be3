package lint

import (
	"strings"
	"testing"
)

// The fixture of locks.md §6: books (3 indexes, FK to authors), authors,
// range-partitioned events with partition events_2024, a domain used by
// books, and a materialized view. It is an earlier migration, so every
// relation in it counts as existing.
const locksFixture = `
CREATE TABLE authors (id bigint PRIMARY KEY, name text);
CREATE DOMAIN posint AS integer;
CREATE TABLE books (id bigint PRIMARY KEY, title text, code varchar(20), price int, pages posint,
  author_id bigint CONSTRAINT books_author_fk REFERENCES authors (id));
CREATE INDEX books_title_idx ON books (title);
CREATE INDEX books_code_idx ON books (code);
CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_at_idx ON events (at);
CREATE MATERIALIZED VIEW mv AS SELECT author_id, count(*) FROM books GROUP BY author_id;
`

func TestLocksOf(t *testing.T) {
	cases := []struct {
		sql  string
		want string // "relation MODE; ..." in the order taken, "" for none
	}{
		// §1A–1D through ALTER TABLE.
		{"ALTER TABLE books ADD COLUMN note text", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ADD COLUMN a2 bigint REFERENCES authors (id)", "books ACCESS EXCLUSIVE; authors SHARE ROW EXCLUSIVE"},
		{"ALTER TABLE books ALTER COLUMN price TYPE bigint", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ALTER COLUMN author_id TYPE int", "books ACCESS EXCLUSIVE; authors ACCESS EXCLUSIVE"},
		{"ALTER TABLE authors ALTER COLUMN id TYPE int", "authors ACCESS EXCLUSIVE; books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ALTER COLUMN title SET NOT NULL", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ADD CONSTRAINT c CHECK (price > 0) NOT VALID", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books VALIDATE CONSTRAINT c", "books SHARE UPDATE EXCLUSIVE"},
		{"ALTER TABLE books ADD CONSTRAINT fk2 FOREIGN KEY (author_id) REFERENCES authors (id)", "books SHARE ROW EXCLUSIVE; authors SHARE ROW EXCLUSIVE"},
		{"ALTER TABLE books VALIDATE CONSTRAINT books_author_fk", "books SHARE UPDATE EXCLUSIVE; authors ROW SHARE"},
		{"ALTER TABLE books DROP CONSTRAINT books_author_fk", "books ACCESS EXCLUSIVE; authors ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ADD UNIQUE (code)", "books ACCESS EXCLUSIVE"},
		// A multi-subcommand ALTER reports the strongest mode per table.
		{"ALTER TABLE books SET (fillfactor = 70), ADD COLUMN x int", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books SET (fillfactor = 70), ALTER COLUMN title SET STATISTICS 500", "books SHARE UPDATE EXCLUSIVE"},
		// §1F.
		{"ALTER TABLE books RENAME TO volumes", "books ACCESS EXCLUSIVE"},
		{"DROP TABLE books", "books ACCESS EXCLUSIVE; authors ACCESS EXCLUSIVE"},
		{"DROP TABLE authors CASCADE", "authors ACCESS EXCLUSIVE; books ACCESS EXCLUSIVE"},
		{"TRUNCATE books", "books ACCESS EXCLUSIVE"},
		{"VACUUM FULL books", "books ACCESS EXCLUSIVE"},
		{"VACUUM books", "books SHARE UPDATE EXCLUSIVE"},
		{"CLUSTER books USING books_title_idx", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books SET UNLOGGED", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books SET TABLESPACE fast", "books ACCESS EXCLUSIVE"},
		{"CREATE TRIGGER t BEFORE INSERT ON books FOR EACH ROW EXECUTE FUNCTION f()", "books SHARE ROW EXCLUSIVE"},
		{"ALTER TABLE books DISABLE TRIGGER t", "books SHARE ROW EXCLUSIVE"},
		{"DROP TRIGGER t ON books", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books ENABLE ROW LEVEL SECURITY", "books ACCESS EXCLUSIVE"},
		{"CREATE POLICY p ON books USING (true)", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books OWNER TO app", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books REPLICA IDENTITY FULL", "books ACCESS EXCLUSIVE"},
		{"ALTER TABLE books SET SCHEMA archive", "books ACCESS EXCLUSIVE"},
		{"REFRESH MATERIALIZED VIEW mv", "mv ACCESS EXCLUSIVE"},
		{"REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "mv EXCLUSIVE"},
		{"CREATE OR REPLACE VIEW v AS SELECT 1", "v ACCESS EXCLUSIVE"},
		{"LOCK TABLE books", "books ACCESS EXCLUSIVE"},
		{"LOCK TABLE books IN SHARE MODE", "books SHARE"},
		{"LOCK TABLE events IN ROW EXCLUSIVE MODE", "events ROW EXCLUSIVE; events_2024 ROW EXCLUSIVE"},
		{"COMMENT ON TABLE books IS 'x'", "books SHARE UPDATE EXCLUSIVE"},
		{"ALTER INDEX books_title_idx RENAME TO books_t_idx", "books_title_idx SHARE UPDATE EXCLUSIVE"},
		{"GRANT SELECT ON books TO PUBLIC", ""},
		// §1E.
		{"CREATE INDEX ON books (price)", "books SHARE"},
		{"CREATE INDEX CONCURRENTLY ON books (price)", "books SHARE UPDATE EXCLUSIVE"},
		{"DROP INDEX books_title_idx", "books ACCESS EXCLUSIVE"},
		{"DROP INDEX CONCURRENTLY books_title_idx", "books SHARE UPDATE EXCLUSIVE"},
		{"DROP INDEX unknown_idx", "unknown_idx ACCESS EXCLUSIVE"},
		{"REINDEX INDEX books_title_idx", "books SHARE; books_title_idx ACCESS EXCLUSIVE"},
		{"REINDEX TABLE books", "books SHARE; books_code_idx ACCESS EXCLUSIVE; books_title_idx ACCESS EXCLUSIVE"},
		{"REINDEX INDEX CONCURRENTLY books_title_idx", "books SHARE UPDATE EXCLUSIVE"},
		// §1G: partitions.
		{"CREATE INDEX ON events (id)", "events SHARE; events_2024 SHARE"},
		{"CREATE INDEX ON ONLY events (id)", "events SHARE"},
		{"ALTER TABLE events ADD COLUMN k int DEFAULT 1", "events ACCESS EXCLUSIVE; events_2024 ACCESS EXCLUSIVE"},
		{"ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')", "events SHARE UPDATE EXCLUSIVE; events_2025 ACCESS EXCLUSIVE"},
		{"ALTER TABLE events DETACH PARTITION events_2024", "events ACCESS EXCLUSIVE; events_2024 ACCESS EXCLUSIVE"},
		{"ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY", "events SHARE UPDATE EXCLUSIVE; events_2024 ACCESS EXCLUSIVE"},
		{"CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')", "events ACCESS EXCLUSIVE"},
		{"ALTER INDEX events_at_idx ATTACH PARTITION events_2024_at_idx", "events_at_idx SHARE UPDATE EXCLUSIVE; events_2024_at_idx ACCESS EXCLUSIVE"},
		// §1D D9: a new table's FK locks the existing parent.
		{"CREATE TABLE reviews (id bigint, book_id bigint REFERENCES books (id))", "books SHARE ROW EXCLUSIVE"},
		{"CREATE TABLE plain (id bigint)", ""},
		// §1H.
		{"ALTER TYPE mood ADD VALUE 'x'", ""},
		{"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0)", "books SHARE"},
		{"ALTER DOMAIN posint ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID", ""},
		{"ALTER SEQUENCE s AS bigint", "s SHARE ROW EXCLUSIVE"},
		// §1I: DML.
		{"UPDATE books SET title = 'x'", "books ROW EXCLUSIVE"},
		{"DELETE FROM authors WHERE id = 1", "authors ROW EXCLUSIVE"},
		{"INSERT INTO books (id) VALUES (1)", "books ROW EXCLUSIVE"},
		// Quoted and schema-qualified names keep their spelling.
		{`ALTER TABLE billing."Invoices" ADD COLUMN x int`, "billing.Invoices ACCESS EXCLUSIVE"},
	}

	base := lockFixtureSchema(t)
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			st := parseOne(t, c.sql, &Source{Path: "now.sql"})
			got := renderLocks(LocksOf(st, base))
			if got != c.want {
				t.Errorf("LocksOf(%s)\n got: %s\nwant: %s", c.sql, got, c.want)
			}
		})
	}
}

// Relations created by the migration being linted take no part: nobody
// else can be waiting on them.
func TestLocksOfSkipsNewRelations(t *testing.T) {
	s := lockFixtureSchema(t)
	src := &Source{Path: "now.sql"}
	for _, sql := range []string{
		"CREATE TABLE drafts (id bigint PRIMARY KEY, book_id bigint)",
		"CREATE INDEX drafts_book_idx ON drafts (book_id)",
	} {
		s.Apply(parseOne(t, sql, src))
	}
	for sql, want := range map[string]string{
		"ALTER TABLE drafts ADD COLUMN x int": "",
		"DROP INDEX drafts_book_idx":          "",
		"ALTER TABLE drafts ADD CONSTRAINT fk FOREIGN KEY (book_id) REFERENCES books (id)": "books SHARE ROW EXCLUSIVE",
		"TRUNCATE drafts, books": "books ACCESS EXCLUSIVE",
	} {
		if got := renderLocks(LocksOf(parseOne(t, sql, src), s)); got != want {
			t.Errorf("LocksOf(%s) = %q, want %q", sql, got, want)
		}
	}
}

func lockFixtureSchema(t *testing.T) *Schema {
	t.Helper()
	s := NewSchema()
	earlier := &Source{Path: "earlier.sql"}
	for _, sql := range strings.Split(strings.TrimSpace(locksFixture), ";\n") {
		s.Apply(parseOne(t, sql, earlier))
	}
	return s
}

func parseOne(t *testing.T, sql string, src *Source) *Statement {
	t.Helper()
	src.Text = []byte(sql)
	stmts, err := Parse(&Source{Path: src.Path, Format: "sql", Text: []byte(sql),
		Chunks: []Chunk{{Start: 0, End: len(sql), Tx: TxAutocommit}}}, Options{PGVersion: DefaultPGVersion})
	if err != nil || len(stmts) != 1 {
		t.Fatalf("parse %q: %v (%d statements)", sql, err, len(stmts))
	}
	st := stmts[0]
	st.Source = src
	return st
}

func renderLocks(locks []Lock) string {
	parts := make([]string, len(locks))
	for i, l := range locks {
		parts[i] = l.Relation + " " + l.Mode
	}
	return strings.Join(parts, "; ")
}
