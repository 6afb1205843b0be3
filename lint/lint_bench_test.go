package lint

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// benchMigration returns the migration scripts/bench.sh generates (its
// gen_sql, ported statement for statement so that the benchmark and `make
// bench` measure the same file): n statements, mostly ALTER TABLE on
// existing tables, index builds, new tables with foreign keys, DML, some
// plpgsql, comments and explicit transactions.
func benchMigration(n int) string {
	seed := int64(20240611)
	rnd := func(m int) int {
		seed = seed * 48271 % 2147483647
		return int(seed % int64(m))
	}
	pick := func(cond bool, a, b string) string {
		if cond {
			return a
		}
		return b
	}
	types := []string{"integer", "bigint", "text", "varchar(255)", "numeric(12,2)", "timestamptz", "boolean", "jsonb", "uuid"}
	var b strings.Builder
	emitted, intx, txleft := 0, false, 0
	for emitted < n {
		if rnd(10) < 3 {
			fmt.Fprintf(&b, "-- step %d: %s\n", emitted, pick(rnd(2) != 0, "add what the release needs", "clean up after the old code path"))
		}
		if !intx && rnd(60) == 0 && n-emitted > 8 {
			b.WriteString("BEGIN;\n")
			emitted++
			intx, txleft = true, 2+rnd(5)
			continue
		}
		if intx && txleft == 0 {
			b.WriteString("COMMIT;\n")
			emitted++
			intx = false
			continue
		}
		if intx {
			txleft--
		}
		k := rnd(100)
		t := fmt.Sprintf("t%d", rnd(300))
		c := fmt.Sprintf("c%d", rnd(40))
		ty := types[rnd(9)]
		switch {
		case k < 12:
			fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMN %s_%d %s;\n", t, c, emitted, ty)
		case k < 18:
			fmt.Fprintf(&b, "ALTER TABLE public.%s ADD COLUMN %s_%d integer NOT NULL DEFAULT %d;\n", t, c, emitted, rnd(10))
		case k < 22:
			fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMN %s_%d %s;\n", t, c, emitted, pick(rnd(2) != 0, "uuid NOT NULL DEFAULT gen_random_uuid()", "timestamptz DEFAULT clock_timestamp()"))
		case k < 28:
			fmt.Fprintf(&b, "ALTER TABLE %s ALTER COLUMN %s TYPE %s%s;\n", t, c, ty, pick(rnd(3) == 0, " USING "+c+"::"+ty, ""))
		case k < 33:
			fmt.Fprintf(&b, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n", t, c)
		case k < 38:
			fmt.Fprintf(&b, "ALTER TABLE %s ADD CONSTRAINT %s_%s_chk_%d CHECK (%s > 0)%s;\n", t, t, c, emitted, c, pick(rnd(2) != 0, " NOT VALID", ""))
		case k < 43:
			fmt.Fprintf(&b, "ALTER TABLE %s\n  ADD CONSTRAINT %s_user_fk_%d FOREIGN KEY (user_id)\n  REFERENCES users (id) ON DELETE CASCADE%s;\n", t, t, emitted, pick(rnd(2) != 0, " NOT VALID", ""))
		case k < 46:
			fmt.Fprintf(&b, "ALTER TABLE %s VALIDATE CONSTRAINT %s_user_fk_%d;\n", t, t, rnd(emitted+1))
		case k < 49:
			fmt.Fprintf(&b, "ALTER TABLE %s ADD CONSTRAINT %s_%s_key_%d UNIQUE (%s);\n", t, t, c, emitted, c)
		case k < 59:
			cc := ""
			if !intx {
				cc = pick(rnd(2) != 0, "CONCURRENTLY ", "")
			}
			unique := pick(rnd(4) == 0, "UNIQUE ", "")
			more := pick(rnd(3) == 0, ", created_at DESC", "")
			where := pick(rnd(5) == 0, " WHERE deleted_at IS NULL", "")
			fmt.Fprintf(&b, "CREATE %sINDEX %s%s_%s_idx_%d ON %s (%s%s)%s;\n", unique, cc, t, c, emitted, t, c, more, where)
		case k < 62:
			cc := ""
			if !intx {
				cc = pick(rnd(2) != 0, "CONCURRENTLY ", "")
			}
			fmt.Fprintf(&b, "DROP INDEX %s%s_%s_idx_%d;\n", cc, t, c, rnd(emitted+1))
		case k < 70:
			fmt.Fprintf(&b, "CREATE TABLE new_%d (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  user_id bigint NOT NULL REFERENCES users (id),\n  %s_id bigint REFERENCES %s (id),\n  name text NOT NULL,\n  payload jsonb,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n", emitted, t, t)
		case k < 76:
			set := pick(rnd(2) != 0, "0", "DEFAULT")
			fmt.Fprintf(&b, "UPDATE %s SET %s = %s%s;\n", t, c, set, pick(rnd(2) != 0, " WHERE "+c+" IS NULL", ""))
		case k < 79:
			fmt.Fprintf(&b, "DELETE FROM %s WHERE created_at < now() - interval '%d days';\n", t, 30+rnd(300))
		case k < 83:
			fmt.Fprintf(&b, "ALTER TABLE %s DROP COLUMN %s;\n", t, c)
		case k < 85:
			fmt.Fprintf(&b, "ALTER TABLE %s RENAME COLUMN %s TO %s_old;\n", t, c, c)
		case k < 88:
			name := pick(rnd(2) != 0, "lock_timeout", "statement_timeout")
			fmt.Fprintf(&b, "SET %s = '%ds';\n", name, 1+rnd(30))
		case k < 91:
			fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION touch_%d() RETURNS trigger\nLANGUAGE plpgsql AS $fn$\nBEGIN\n  NEW.updated_at := now();\n  IF NEW.%s IS NULL THEN\n    NEW.%s := 0;\n  END IF;\n  RETURN NEW;\nEND;\n$fn$;\n", emitted, c, c)
		case k < 93:
			fmt.Fprintf(&b, "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = '%s_%s_idx') THEN\n    CREATE INDEX %s_%s_idx ON %s (%s);\n  END IF;\nEND\n$$;\n", t, c, t, c, t, c)
		case k < 95:
			fmt.Fprintf(&b, "ALTER TABLE %s\n  ADD COLUMN %s_a_%d text,\n  ADD COLUMN %s_b_%d bigint DEFAULT 0,\n  ALTER COLUMN %s DROP NOT NULL;\n", t, c, emitted, c, emitted, c)
		case k < 97:
			fmt.Fprintf(&b, "CREATE INDEX %s_payload_gin_%d ON %s USING gin (payload jsonb_path_ops);\n", t, emitted, t)
		default:
			fmt.Fprintf(&b, "COMMENT ON COLUMN %s.%s IS '%s: kept for the old API, it''s read by reports';\n", t, c, c)
		}
		emitted++
	}
	if intx {
		b.WriteString("COMMIT;\n")
	}
	return b.String()
}

// BenchmarkLintBig is `migrate lint` on the file `make bench` uses, minus
// the report: read, parse, model and rules (go test -run=^$
// -bench=BenchmarkLintBig -benchmem ./lint/).
func BenchmarkLintBig(b *testing.B) {
	const n = 20000
	text := []byte(benchMigration(n))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var findings int
	for b.Loop() {
		src := ReadSource("big.sql", text, ReadOptions{})
		res := Lint([]*Source{src}, Config{})
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0].Message)
		}
		findings = len(res.Findings)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/stmt")
	b.ReportMetric(float64(findings), "findings")
}

// BenchmarkParseOnly is the floor under BenchmarkLintBig: pg_query_go
// parsing the same file, cut into the same windows and spread over the
// same workers, with nothing else done. Almost all of it is pg_query's
// protobuf round trip (C packing, Go unpacking), not the parse itself; a
// lint run cannot be faster than this (go test -run=^$
// -bench=BenchmarkParseOnly ./lint/).
func BenchmarkParseOnly(b *testing.B) {
	text := benchMigration(20000)
	windows := cutWindows(text, 0, len(text), streamWindowBytes)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		var failed atomic.Bool
		runParallel(len(windows), func(i int) {
			if _, err := pg_query.Parse(text[windows[i][0]:windows[i][1]]); err != nil {
				failed.Store(true)
			}
		})
		if failed.Load() {
			b.Fatal("the benchmark migration does not parse")
		}
	}
}
