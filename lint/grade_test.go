package lint

import (
	"strings"
	"testing"
)

func gradeCatalog() *Catalog {
	return &Catalog{Sizes: map[string]TableSize{
		"public.small":   {Rows: 500, Bytes: 64 << 10, Known: true},
		"public.big":     {Rows: 2_000_000, Bytes: 3 << 30, Known: true},
		"public.unknown": {},
	}, IndexTable: map[string]string{"public.big_pkey": "public.big"}}
}

func TestGrade(t *testing.T) {
	res := &Result{Findings: []Finding{
		{Rule: "a", Severity: SeverityError, Message: "m", Locks: []Lock{NewLock("public.small", AccessExclusive)}, Scan: true},
		{Rule: "b", Severity: SeverityError, Message: "m", Locks: []Lock{NewLock("public.big", AccessExclusive)}, Rewrite: true},
		{Rule: "c", Severity: SeverityError, Message: "m", Locks: []Lock{NewLock("public.small", AccessExclusive), NewLock("public.unknown", Share)}},
		{Rule: "d", Severity: SeverityError, Message: "m", Locks: []Lock{NewLock("public.not_in_db", AccessExclusive)}},
		{Rule: "e", Severity: SeverityError, Message: "m", Locks: []Lock{NewLock("public.big_pkey", AccessExclusive)}},
		{Rule: "f", Severity: SeverityWarning, Message: "m"},
	}}
	Grade(res, gradeCatalog(), GradeOptions{})
	f := res.Findings
	if f[0].Severity != SeverityWarning || !strings.Contains(f[0].Message, "small: ~500 rows, 64 kB") || !strings.Contains(f[0].Message, "downgraded") {
		t.Errorf("small: %v %s", f[0].Severity, f[0].Message)
	}
	if f[1].Severity != SeverityError || !strings.Contains(f[1].Message, "~2,000,000 rows, 3.0 GB") ||
		!strings.Contains(f[1].Message, "a rewrite of 3.0 GB holds the lock for ~31 s") {
		t.Errorf("big: %v %s", f[1].Severity, f[1].Message)
	}
	if f[2].Severity != SeverityError || !strings.Contains(f[2].Message, "unknown: size unknown") {
		t.Errorf("a table without statistics might be big: %v %s", f[2].Severity, f[2].Message)
	}
	if f[3].Severity != SeverityError || f[3].Message != "m" {
		t.Errorf("not in the database: %v %s", f[3].Severity, f[3].Message)
	}
	if !strings.Contains(f[4].Message, "big: ~2,000,000 rows") {
		t.Errorf("an index resolves to its table: %s", f[4].Message)
	}
	if f[5].Message != "m" {
		t.Errorf("not a lock finding: %s", f[5].Message)
	}
}

func TestParseSmallTable(t *testing.T) {
	for in, want := range map[string][2]int64{
		"10000,10MB": {10000, 10 << 20}, "1000": {1000, DefaultSmallBytes}, "50_000, 1.5GB": {50000, 3 << 29}, "0,0": {0, 0},
	} {
		r, b, err := ParseSmallTable(in)
		if err != nil || r != want[0] || b != want[1] {
			t.Errorf("%q: %d %d %v", in, r, b, err)
		}
	}
	for _, bad := range []string{"", "x", "10,ten", "-1"} {
		if _, _, err := ParseSmallTable(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCatalogTypeName(t *testing.T) {
	for _, c := range []struct {
		nsp, name string
		mod       int32
		array     bool
		want      string
	}{
		{"pg_catalog", "varchar", 24, false, "varchar(20)"},
		{"pg_catalog", "numeric", (10<<16 | 2) + 4, false, "numeric(10,2)"},
		{"pg_catalog", "timestamp", 0, false, "timestamp(0)"},
		{"pg_catalog", "int4", -1, true, "int4[]"},
		{"public", "mood", -1, false, "public.mood"},
	} {
		tn := CatalogTypeName(c.nsp, c.name, c.mod, c.array)
		got := tn.Name
		if len(tn.Mods) > 0 {
			parts := make([]string, len(tn.Mods))
			for i, m := range tn.Mods {
				parts[i] = itoa(int(m))
			}
			got += "(" + strings.Join(parts, ",") + ")"
		}
		if tn.Array {
			got += "[]"
		}
		if got != c.want {
			t.Errorf("%s.%s(%d): %s, want %s", c.nsp, c.name, c.mod, got, c.want)
		}
	}
	// The catalog's form must equal what a migration's SQL parses to.
	if !sameType(nil, CatalogTypeName("pg_catalog", "numeric", (10<<16|2)+4, false), TypeName{Name: "numeric", Mods: []int32{10, 2}}) {
		t.Error("numeric(10,2) from the catalog differs from the parsed one")
	}
}
