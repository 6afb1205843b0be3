package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// slowDeparse is Deparse without the Go fast path.
func slowDeparse(stmt *pg_query.Node) string {
	out, err := pg_query.Deparse(&pg_query.ParseResult{Version: parserVersion(), Stmts: []*pg_query.RawStmt{{Stmt: stmt}}})
	if err != nil {
		return ""
	}
	return out
}

// slowDeparseExpr is DeparseExpr without the Go fast path.
func slowDeparseExpr(expr *pg_query.Node) string {
	sel := &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: expr}}}},
	}}}
	return strings.TrimPrefix(slowDeparse(sel), "SELECT ")
}

// eachNode calls fn on every Node in the tree below m.
func eachNode(m protoreflect.Message, fn func(*pg_query.Node)) {
	if n, ok := m.Interface().(*pg_query.Node); ok {
		fn(n)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				eachNode(v.List().Get(i).Message(), fn)
			}
		} else if !fd.IsMap() {
			eachNode(v.Message(), fn)
		}
		return true
	})
}

// TestFastDeparseMatchesPgQuery checks the Go renderer against pg_query's
// deparser on every expression node of the rule examples, the benchmark
// migration, the corpus when present, and cases chosen to trip it.
func TestFastDeparseMatchesPgQuery(t *testing.T) {
	var texts []string
	files, _ := filepath.Glob("testdata/*.sql")
	corpus, _ := filepath.Glob("../../shared/corpus/*/*/*.sql")
	more, _ := filepath.Glob("../../shared/corpus/*/*/*/*.sql")
	for _, f := range append(append(files, corpus...), more...) {
		if b, err := os.ReadFile(f); err == nil {
			texts = append(texts, string(b))
		}
	}
	texts = append(texts, benchMigration(3000), `
SELECT "User", "user", "order", "Order", a.b, "a""b", x::integer, x::int4, x::"Int",
  'it''s'::text, 'back\slash', E'tab\t', 1::bigint, -1::bigint, 1.5::numeric, '1.5'::numeric(10,2),
  x::varchar(20)[], x::int[3], x::timestamptz, x::timestamptz(3), x::timetz, x::interval,
  x::interval hour, 'x'::interval, x::bpchar, 'a'::bpchar, 'a'::char(3), true::boolean, 't'::bool,
  'f'::boolean, 'yes'::bool, NULL::text, x::public.mytype, x::"Public"."T", x::double precision,
  x::real, x::float, x::float4, x::smallint, x::time, x::timestamp, x::timestamp(6), x::bit(3),
  x::json, x::jsonb, x::uuid, now(), public.f(), "F"(), pg_catalog.now(), current_timestamp,
  count(*), f(1), user_id IS NULL, x IS NOT NULL, (x > 0) IS NULL, a > 0, a >= -1, a = 'x',
  a OPERATOR(pg_catalog.+) 1, a + b * c, a || 'x', a::int + 1, 1e10, -5, 0, 2147483647,
  x::"char", b'101', x'ff', true, false, NULL, DEFAULT_x, "select"."from", col::select_type,
  x::int4[], x::varchar[][], x::numeric(12, 2), x::character varying(3), x::dec(3), x::text COLLATE "C"
FROM t`, `CREATE INDEX ON t (a); CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "I" ON ONLY s.t USING hash ("User" DESC, b ASC);
CREATE INDEX i ON "T" (a NULLS FIRST); CREATE INDEX i ON t (a) WHERE a > 0 AND b IS NULL; CREATE INDEX i ON t (a) WHERE f();
CREATE INDEX i ON t (a) WHERE deleted_at IS NULL; CREATE INDEX i ON t USING gin (a jsonb_path_ops); CREATE INDEX "select" ON "from" (a) INCLUDE (b);
CREATE INDEX i ON t ((lower(a))); CREATE INDEX i ON t (a COLLATE "C"); CREATE INDEX i ON t (a) WITH (fillfactor = 70) TABLESPACE x;`, `UPDATE t SET a = DEFAULT, b = 0, c = 'x'::text`)
	checked, fast, checkedIx, fastIx := 0, 0, 0, 0
	for _, text := range texts {
		res, err := pg_query.Parse(text)
		if err != nil {
			continue
		}
		for _, rs := range res.Stmts {
			if ix := rs.Stmt.GetIndexStmt(); ix != nil {
				checkedIx++
				if got, ok := fastDeparseIndexStmt(ix); ok {
					fastIx++
					if want := slowDeparse(rs.Stmt); got != want {
						t.Errorf("fast deparse %q, pg_query %q", got, want)
					}
				}
				// The same statement made CONCURRENTLY, ONLY, unnamed, as the fixes build it.
				variant := proto.Clone(ix).(*pg_query.IndexStmt)
				variant.Concurrent, variant.Idxname = !ix.Concurrent, ""
				if variant.Relation != nil {
					variant.Relation.Inh = !variant.Relation.Inh
				}
				n := &pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: variant}}
				if got, ok := fastDeparseIndexStmt(variant); ok {
					if want := slowDeparse(n); got != want {
						t.Errorf("fast deparse %q, pg_query %q", got, want)
					}
				}
			}
			eachNode(rs.ProtoReflect(), func(n *pg_query.Node) {
				got, ok := fastDeparseExpr(n)
				checked++
				if !ok {
					return
				}
				fast++
				if want := slowDeparseExpr(n); got != want {
					t.Errorf("fast deparse %q, pg_query %q", got, want)
				}
			})
		}
	}
	if fast < 1000 {
		t.Errorf("fast path took %d of %d nodes; the test no longer exercises it", fast, checked)
	}
	if fastIx < 100 {
		t.Errorf("fast path took %d of %d CREATE INDEX statements", fastIx, checkedIx)
	}
	t.Logf("%d nodes, %d rendered in Go; %d CREATE INDEX, %d rendered in Go", checked, fast, checkedIx, fastIx)
}
