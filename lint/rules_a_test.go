package lint

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func tn(name string, mods ...int32) TypeName { return TypeName{Name: name, Mods: mods} }

// TestClassifyTypeChange pins the allow-list of locks.md §1.10: every pair
// verified there as catalog-only must stay so, every verified rewrite must
// stay a rewrite, and anything unlisted defaults to a rewrite.
func TestClassifyTypeChange(t *testing.T) {
	s := NewSchema()
	s.Types["public.email"] = &Type{Name: "public.email", Kind: "domain", HasCheck: true, Base: tn("text")}
	s.Types["public.label"] = &Type{Name: "public.label", Kind: "domain", Base: tn("text")}
	s.Types["public.mood"] = &Type{Name: "public.mood", Kind: "enum"}
	const rw, ok, utc, nocast = TypeChangeRewrite, TypeChangeCatalogOnly, TypeChangeCatalogOnlyIfUTC, TypeChangeNoAutoCast
	cases := []struct {
		from, to TypeName
		pg       int
		want     TypeChangeKind
	}{
		// Verified no-rewrite.
		{tn("varchar", 10), tn("varchar", 20), 15, ok},
		{tn("varchar", 10), tn("varchar", 10), 15, ok},
		{tn("varchar", 10), tn("varchar"), 15, ok},
		{tn("varchar", 10), tn("text"), 15, ok},
		{tn("varchar"), tn("text"), 15, ok},
		{tn("text"), tn("varchar"), 15, ok},
		{tn("numeric", 10, 2), tn("numeric", 12, 2), 15, ok},
		{tn("numeric", 10, 2), tn("numeric"), 15, ok},
		{tn("numeric", 10), tn("numeric", 12), 15, ok},
		{tn("cidr"), tn("inet"), 15, ok},
		{tn("interval", intervalFullRange, 3), tn("interval", intervalFullRange, 5), 15, ok},
		{tn("interval", intervalFullRange, 3), tn("interval"), 15, ok},
		{tn("time", 2), tn("time", 4), 15, ok},
		{tn("timestamp", 3), tn("timestamp"), 15, ok},
		{tn("timestamptz", 3), tn("timestamptz", 6), 15, ok},
		{tn("varbit", 5), tn("varbit", 8), 15, ok},
		{tn("int4"), tn("int4"), 15, ok},
		{tn("serial"), tn("int4"), 15, ok},
		{tn("public.mood"), tn("mood"), 15, ok},
		{tn("label"), tn("text"), 15, ok},
		{tn("text"), tn("label"), 15, ok},
		// Depends on TimeZone, PostgreSQL 12+ only.
		{tn("timestamp"), tn("timestamptz"), 15, utc},
		{tn("timestamptz"), tn("timestamp"), 12, utc},
		{tn("timestamp"), tn("timestamptz"), 11, rw},
		{tn("timestamp", 6), tn("timestamptz", 3), 15, rw},
		// Verified rewrite.
		{tn("varchar", 10), tn("varchar", 5), 15, rw},
		{tn("varchar"), tn("varchar", 5), 15, rw},
		{tn("text"), tn("varchar", 255), 15, rw},
		{tn("numeric", 10, 2), tn("numeric", 12, 3), 15, rw},
		{tn("numeric"), tn("numeric", 12, 2), 15, rw},
		{tn("numeric", 12, 2), tn("numeric", 10, 2), 15, rw},
		{tn("timestamp"), tn("timestamp", 0), 15, rw},
		{tn("int4"), tn("int8"), 15, rw},
		{tn("int4"), tn("text"), 15, rw},
		{tn("mood"), tn("text"), 15, rw},
		{tn("text"), tn("mood"), 15, nocast},
		{tn("text"), tn("int4"), 15, nocast},
		{tn("int4"), tn("bool"), 15, nocast},
		{tn("text"), tn("email"), 15, rw},
		{tn("interval", intervalFullRange, 5), tn("interval", intervalFullRange, 3), 15, rw},
		{tn("interval"), tn("interval", intervalFullRange, 3), 15, rw},
		// Not on the list: a rewrite until proven otherwise.
		{tn("bpchar", 5), tn("bpchar", 10), 15, rw},
		{tn("bpchar", 5), tn("text"), 15, rw},
		{tn("citext"), tn("text"), 15, rw},
		{tn("timetz", 2), tn("timetz", 4), 15, ok},
		{TypeName{Name: "varchar", Mods: []int32{10}, Array: true}, TypeName{Name: "varchar", Mods: []int32{20}, Array: true}, 15, rw},
	}
	for _, c := range cases {
		if got := ClassifyTypeChange(s, "c", c.from, c.to, nil, c.pg).Kind; got != c.want {
			t.Errorf("%v -> %v on PG %d: got %v, want %v", c.from, c.to, c.pg, got, c.want)
		}
	}
}

func TestVolatileCall(t *testing.T) {
	cases := map[string]string{
		"now()":                                 "",
		"pg_catalog.now()":                      "",
		"CURRENT_TIMESTAMP":                     "",
		"'draft'::text":                         "",
		"now() + interval '1 day'":              "",
		"date_trunc('day', now())":              "",
		"lower('X') || 'y'":                     "",
		"coalesce(current_setting('a.b'), 'x')": "",
		"jsonb_build_object('a', 1)":            "",
		"random()":                              "random()",
		"clock_timestamp()":                     "clock_timestamp()",
		"gen_random_uuid()":                     "gen_random_uuid()",
		"nextval('s')":                          "nextval()",
		"uuid_generate_v4()":                    "uuid_generate_v4()",
		"floor(random() * 10)":                  "random()",
		"public.now()":                          "public.now()",
		"make_code()":                           "make_code()",
		"(SELECT 1)":                            "a subquery",
		"CASE WHEN true THEN random() END":      "random()",
	}
	for expr, want := range cases {
		tree, err := pg_query.Parse("SELECT " + expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		val := tree.Stmts[0].Stmt.GetSelectStmt().TargetList[0].GetResTarget().Val
		if got := volatileCall(val); got != want {
			t.Errorf("volatileCall(%s) = %q, want %q", expr, got, want)
		}
	}
}

// rulesA are the column and constraint rules whose fixes
// TestRulesAFixesParse holds to valid SQL.
var rulesA = []string{
	"adding-volatile-default", "adding-constant-default-before-pg11", "adding-auto-increment-column",
	"adding-stored-generated-column", "adding-domain-column-with-check", "adding-column-with-constraint",
	"adding-required-column", "prefer-jsonb", "changing-column-type", "setting-not-null",
	"adding-check-constraint", "adding-foreign-key", "validate-in-same-transaction",
	"adding-unique-constraint", "adding-primary-key", "adding-exclusion-constraint",
	"create-table-with-foreign-key", "dropping-column", "renaming-column",
}

// placeholder matches the <...> slots a fix leaves for what the SQL cannot
// know (a backfill value, a domain's condition).
var placeholder = regexp.MustCompile(`<[^<>\n]+>`)

// TestRulesAFixesParse lints each rule's testdata and parses every fix, so
// that what a user pastes is SQL PostgreSQL accepts: a deparse failure or a
// quoting slip shows up here rather than in someone's migration.
func TestRulesAFixesParse(t *testing.T) {
	for _, name := range rulesA {
		path := filepath.Join("testdata", name+".sql")
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Only: []string{name}}
		cfg.PGVersion = DefaultPGVersion
		if m := optionsRe.FindSubmatch(text); m != nil && strings.Contains(string(m[1]), "pg-version=10") {
			cfg.PGVersion = 10
		}
		var sources []*Source
		main := text
		if i := bytes.Index(text, []byte(splitMarker)); i >= 0 {
			sources = append(sources, testSource(path+" (setup)", blank(text, i, len(text)), false))
			main = blank(text, 0, i+len(splitMarker))
		}
		sources = append(sources, testSource(path, main, false))
		res := Lint(sources, cfg)
		if len(res.Findings) == 0 {
			t.Errorf("%s: no findings", name)
		}
		for _, f := range res.Findings {
			if f.Rule != name {
				continue
			}
			if f.Fix == "" {
				t.Errorf("%s:%d: empty fix", path, f.Line)
				continue
			}
			sql := placeholder.ReplaceAllString(f.Fix, "text")
			if _, err := pg_query.Parse(sql); err != nil {
				t.Errorf("%s:%d: fix does not parse (%v):\n%s", path, f.Line, err, f.Fix)
			}
			if strings.Contains(f.Fix, "ALTER TABLE  ") || strings.Contains(f.Fix, "\n;") {
				t.Errorf("%s:%d: fix has an empty piece:\n%s", path, f.Line, f.Fix)
			}
			if len(f.Locks) == 0 && name != "prefer-jsonb" {
				t.Errorf("%s:%d: %s finding names no lock", path, f.Line, name)
			}
		}
	}
}

// TestTypeChangeMessages: lint says what the server does with a narrowing
// (a rewrite that fails on the first misfit, with the query to find one),
// with a change that has no assignment cast, and with the verdicts lint
// and the planner used to disagree on.
func TestTypeChangeMessages(t *testing.T) {
	const setup = "CREATE TABLE c (id bigint PRIMARY KEY, big bigint, label text, v varchar(200), flags bit(3), tz timetz(2));\n"
	for _, c := range []struct {
		stmt string
		want []string // substrings of the one finding; nil: no finding
	}{
		{"ALTER TABLE c ALTER COLUMN big TYPE int;", []string{"narrows bigint to int:", "fails on the first one that does not fit",
			"SELECT big FROM c WHERE big NOT BETWEEN -2147483648 AND 2147483647 LIMIT 1", "DO $migrate_fit$"}},
		{"ALTER TABLE c ALTER COLUMN v TYPE varchar(20);", []string{"narrows", "char_length(rtrim(v::text, ' ')) > 20", "_migrate_new_v := NEW.v;"}},
		{"ALTER TABLE c ALTER COLUMN label TYPE varchar(20);", []string{"narrows text to varchar(20)"}},
		{"ALTER TABLE c ALTER COLUMN flags TYPE bit(5);", []string{"rewrites", "length(flags) <> 5"}},
		{"ALTER TABLE c ALTER COLUMN label TYPE int;", []string{"fails as written", "no automatic cast from text to int"}},
		{"ALTER TABLE c ALTER COLUMN tz TYPE timetz(4);", nil},
		{"ALTER TABLE c ALTER COLUMN big TYPE numeric;", []string{"is not binary-coercible"}},
	} {
		res := Lint([]*Source{testSource("setup.sql", []byte(setup), false), testSource("m.sql", []byte(c.stmt), false)}, Config{Only: []string{"changing-column-type"}, Options: Options{PGVersion: DefaultPGVersion}})
		if c.want == nil {
			if len(res.Findings) != 0 {
				t.Errorf("%s: want no finding, got %q", c.stmt, res.Findings[0].Message)
			}
			continue
		}
		if len(res.Findings) != 1 {
			t.Errorf("%s: want one finding, got %d", c.stmt, len(res.Findings))
			continue
		}
		text := res.Findings[0].Message + "\n" + res.Findings[0].Fix
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: finding lacks %q:\n%s", c.stmt, w, text)
			}
		}
		if strings.Contains(c.stmt, "big TYPE int") && strings.Contains(res.Findings[0].Fix, "::int") {
			t.Errorf("%s: the fix copies with an explicit cast:\n%s", c.stmt, res.Findings[0].Fix)
		}
	}
}
