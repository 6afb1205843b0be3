package lint

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestFindingLogRoundTrip reads back, across sealed and open blocks and in
// any order, exactly the findings that went in: nil and empty slices,
// zero values, long and non-ASCII text included.
func TestFindingLogRoundTrip(t *testing.T) {
	l := newFindingLog()
	var want []Finding
	var refs []findingRef
	for i := 0; i < 3000; i++ {
		f := Finding{
			File: fmt.Sprintf("dir/%d.sql", i%3), Line: i + 1, Column: i%7 + 1, EndLine: i + 2, EndColumn: 300,
			Rule: []string{"a-rule", "b-rule", "unused-ignore"}[i%3], Severity: Severity(i%3 + 1),
			Message:   fmt.Sprintf("ALTER TABLE t%d takes ACCESS EXCLUSIVE on \"Ünïcode\" %s", i, strings.Repeat("x", i%500)),
			Statement: fmt.Sprintf("ALTER TABLE t%d ADD COLUMN c text", i),
			Rewrite:   i%2 == 0, Scan: i%3 == 0,
			Fix: strings.Repeat("CREATE INDEX CONCURRENTLY i ON t (c);\n", i%4), Doc: "docs/rules/a-rule.md",
		}
		switch i % 4 {
		case 0:
			f.Locks = nil
		case 1:
			f.Locks = []Lock{}
		case 2:
			f.Locks = []Lock{{Relation: "public.t", Mode: AccessExclusive, Blocks: []string{"reads", "writes"}}}
		case 3:
			f.Locks = []Lock{{Relation: "t", Mode: Share}, {Relation: "u", Mode: RowExclusive, Blocks: []string{}}}
		}
		if i == 7 {
			f = Finding{} // every field at its zero value
		}
		want = append(want, f)
		refs = append(refs, l.add(&f))
	}
	if len(l.blocks) < 2 {
		t.Fatalf("test wants several sealed blocks, got %d", len(l.blocks))
	}
	check := func(order []int) {
		t.Helper()
		var got Finding
		for _, i := range order {
			l.read(refs[i], &got)
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("finding %d:\n got %+v\nwant %+v", i, got, want[i])
			}
		}
	}
	forward := make([]int, len(want))
	backward := make([]int, len(want))
	for i := range want {
		forward[i], backward[i] = i, len(want)-1-i
	}
	check(forward)
	check(backward)
	raw := 0
	for i := range want {
		raw += len(want[i].Message) + len(want[i].Fix) + len(want[i].Statement)
	}
	t.Logf("%d findings, %d bytes of text, log holds %d bytes", len(want), raw, l.size())
}

// TestCompactResultMatches lints the same migration compact and not: the
// findings, their order and every report format must be the same.
func TestCompactResultMatches(t *testing.T) {
	text := []byte(benchMigration(3000))
	plain := Lint([]*Source{ReadSource("m.sql", text, ReadOptions{})}, Config{})
	compact := Lint([]*Source{ReadSource("m.sql", text, ReadOptions{})}, Config{Compact: true})
	if compact.Findings != nil {
		t.Fatal("a compact Result has Findings")
	}
	if len(plain.Findings) < 1000 || compact.NumFindings() != len(plain.Findings) {
		t.Fatalf("findings: plain %d, compact %d", len(plain.Findings), compact.NumFindings())
	}
	i := 0
	for f := range compact.AllFindings() {
		if !reflect.DeepEqual(*f, plain.Findings[i]) {
			t.Fatalf("finding %d differs:\n got %+v\nwant %+v", i, *f, plain.Findings[i])
		}
		i++
	}
	pe, pw, pi := plain.SeverityCounts()
	ce, cw, ci := compact.SeverityCounts()
	if pe != ce || pw != cw || pi != ci {
		t.Fatalf("severity counts: plain %d/%d/%d, compact %d/%d/%d", pe, pw, pi, ce, cw, ci)
	}
	for _, format := range Formats {
		var a, b strings.Builder
		if err := WriteReport(&a, plain, format, ReportOptions{ToolVersion: "t"}); err != nil {
			t.Fatal(err)
		}
		again := Lint([]*Source{ReadSource("m.sql", text, ReadOptions{})}, Config{Compact: true})
		if err := WriteReport(&b, again, format, ReportOptions{ToolVersion: "t"}); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("%s report differs between a compact and a plain Result", format)
		}
	}
}
