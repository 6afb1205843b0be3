package lint

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A one-sided bound on the key limits the walk but not the row count: a
// warning; no usable bound: an error; a closed bound or a list: nothing.
func TestWholeTableDMLSeverity(t *testing.T) {
	setup := "CREATE TABLE orders (id bigint PRIMARY KEY, status text);\n"
	for _, tc := range []struct {
		sql  string
		want Severity // 0: no finding
	}{
		{"UPDATE orders SET status = 'x' WHERE id < 100;", SeverityWarning},
		{"UPDATE orders SET status = 'x' WHERE id >= 5000;", SeverityWarning},
		{"UPDATE orders SET status = 'x';", SeverityError},
		{"UPDATE orders SET status = 'x' WHERE status = 'y';", SeverityError},
		{"UPDATE orders SET status = 'x' WHERE id < now()::int + 1;", SeverityError},
		{"UPDATE orders SET status = 'x' WHERE id > 5 AND id < 100;", 0},
		{"UPDATE orders SET status = 'x' WHERE id BETWEEN SYMMETRIC 100 AND 5;", 0},
		{"DELETE FROM orders WHERE id IN (1, 2);", 0},
	} {
		res := Lint([]*Source{testSource("setup.sql", []byte(setup), false), testSource("m.sql", []byte(tc.sql), false)},
			Config{Only: []string{ruleWholeTableDML.Name}, Options: Options{PGVersion: DefaultPGVersion}})
		var got Severity
		for _, f := range res.Findings {
			if f.File == "m.sql" {
				got = f.Severity
			}
		}
		if got != tc.want {
			t.Errorf("%s: severity %v, want %v", tc.sql, got, tc.want)
		}
	}
}

func TestKeyBounds(t *testing.T) {
	for _, tc := range []struct {
		where string
		keys  []string
		reach Reach
		rng   string // lower..upper with [ ] for inclusive
		max   int64  // -1: unknown
	}{
		{"id < 100", []string{"id"}, ReachOneSided, "(..100)", -1},
		{"id <= 100 AND id > 3 AND id < 50", []string{"id"}, ReachBounded, "(3..50)", 46},
		{"100 >= id", []string{"id"}, ReachOneSided, "(..100]", -1},
		{"id BETWEEN 1 AND 99", []string{"id"}, ReachBounded, "[1..99]", 99},
		{"id IN (7, 3, 5)", []string{"id"}, ReachBounded, "[3..7]", 3},
		{"id = ANY (ARRAY[4, 2])", []string{"id"}, ReachBounded, "[2..4]", 2},
		{"id = 42 AND status = 'x'", []string{"id"}, ReachBounded, "[42..42]", 1},
		{"status = 'x'", []string{"id"}, ReachAll, "", -1},
		{"status = 'x'", nil, ReachBounded, "['x'..'x']", 1},
		{"created_at >= '2024-01-01' AND created_at < '2024-02-01'", []string{"created_at"}, ReachBounded, "['2024-01-01'..'2024-02-01')", -1},
		{"id < 100 OR id > 200", []string{"id"}, ReachAll, "", -1},
		{"id > 10 AND id < 5", []string{"id"}, ReachBounded, "(10..5)", 0},
	} {
		r, err := pg_query.Parse("SELECT 1 FROM t WHERE " + tc.where)
		if err != nil {
			t.Fatal(err)
		}
		where := r.Stmts[0].Stmt.GetSelectStmt().WhereClause
		b, reach := BoundByKey(where, tc.keys)
		if reach != tc.reach {
			t.Errorf("%s: reach %v, want %v", tc.where, reach, tc.reach)
			continue
		}
		rng := ""
		if lo, hi, li, ui, ok := b.Range(); ok {
			var sb strings.Builder
			sb.WriteString(map[bool]string{true: "[", false: "("}[li])
			if lo != nil {
				sb.WriteString(DeparseExpr(lo))
			}
			sb.WriteString("..")
			if hi != nil {
				sb.WriteString(DeparseExpr(hi))
			}
			sb.WriteString(map[bool]string{true: "]", false: ")"}[ui])
			rng = sb.String()
		}
		if rng != tc.rng {
			t.Errorf("%s: range %s, want %s", tc.where, rng, tc.rng)
		}
		n, ok := b.MaxKeys()
		if !ok {
			n = -1
		}
		if n != tc.max {
			t.Errorf("%s: max keys %d, want %d", tc.where, n, tc.max)
		}
	}
}
