package lint

import (
	"fmt"
	"strings"
	"testing"
)

// benchSQL generates n statements in the mix of the lint benchmark: tables,
// ALTERs, indexes, UPDATEs and PL/pgSQL functions, ~130 bytes each.
func benchSQL(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "CREATE TABLE app.table_%d (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());\n", i)
		case 1:
			fmt.Fprintf(&b, "ALTER TABLE app.table_%d ADD COLUMN counter_%d integer NOT NULL DEFAULT 0, ALTER COLUMN name TYPE varchar(200);\n", i-1, i)
		case 2:
			fmt.Fprintf(&b, "-- index for lookups by name\nCREATE INDEX idx_table_%d_name ON app.table_%d (name, created_at) WHERE name <> '';\n", i, i-2)
		case 3:
			fmt.Fprintf(&b, "UPDATE app.table_%d SET name = lower(name), created_at = now() WHERE id > %d AND name IS NOT NULL;\n", i-3, i)
		case 4:
			fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION app.touch_%d(a integer) RETURNS integer LANGUAGE plpgsql AS $$\nBEGIN\n  UPDATE app.table_%d SET name = 'x' WHERE id = a;\n  RETURN a + 1;\nEND\n$$;\n", i, i-4)
		}
	}
	return b.String()
}

// BenchmarkParse parses a 20,000-statement file (go test -run=^$
// -bench=BenchmarkParse -benchmem ./lint/).
func BenchmarkParse(b *testing.B) {
	text := []byte(benchSQL(20000))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		src := ReadSource("bench.sql", text, ReadOptions{})
		stmts, err := Parse(src, Options{})
		if err != nil {
			b.Fatal(err)
		}
		n = len(stmts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/stmt")
	b.ReportMetric(float64(n), "stmts")
}
