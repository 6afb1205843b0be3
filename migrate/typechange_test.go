package migrate

import (
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

// typeFixture has a column of each type whose change the planner must
// judge with lint's classifier.
const typeFixture = `
CREATE TABLE t (id bigint PRIMARY KEY, tz2 timetz(2), ts3 timestamp(3), b3 bit(3), ts timestamp, n bigint, s text, v varchar(200));
CREATE TABLE other (id int PRIMARY KEY);
`

func planTypes(t *testing.T, sql string, opts Options) *Plan {
	t.Helper()
	opts.Before = source(t, "fixture.sql", typeFixture)
	p, err := Build(source(t, "m.sql", sql), lint.NewSchema(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanTypeChangeUsesLintVerdict: the cases where the planner's own
// table of coercible changes disagreed with lint and with the server.
func TestPlanTypeChangeUsesLintVerdict(t *testing.T) {
	cases := []struct {
		sql, tz  string
		asIs     bool   // one step, the statement as written
		contains string // in some step's SQL or description
	}{
		{sql: "ALTER TABLE t ALTER COLUMN tz2 TYPE timetz(4);", asIs: true},
		{sql: "ALTER TABLE t ALTER COLUMN ts3 TYPE timestamp;", asIs: true},
		{sql: "ALTER TABLE t ALTER COLUMN b3 TYPE bit(5);", contains: "length(b3) <> 5"},
		{sql: "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;", contains: "TimeZone is unknown"},
		{sql: "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;", tz: "UTC", asIs: true},
		{sql: "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;", tz: "Etc/UTC", asIs: true},
		{sql: "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;", tz: "Europe/Paris", contains: "AT TIME ZONE 'Europe/Paris'"},
	}
	for _, c := range cases {
		p := planTypes(t, c.sql, Options{TimeZone: c.tz})
		if len(p.Refused) > 0 {
			t.Errorf("%s (tz %q): refused: %+v", c.sql, c.tz, p.Refused)
			continue
		}
		if c.asIs != (len(p.Steps) == 1 && strings.Contains(p.Steps[0].Description, "as written")) {
			t.Errorf("%s (tz %q): as written = %v, want %v; steps:\n%s", c.sql, c.tz, !c.asIs, c.asIs, stepsText(p))
		}
		if c.contains != "" && !strings.Contains(stepsText(p), c.contains) {
			t.Errorf("%s (tz %q): no step mentions %q:\n%s", c.sql, c.tz, c.contains, stepsText(p))
		}
	}
}

// TestPlanNarrowingChecksFirst (defect 6): a narrowing starts the whole
// plan with a read-only check of the existing rows, and copies values
// with the assignment cast (the plain column), never an explicit cast
// that would cut them to length.
func TestPlanNarrowingChecksFirst(t *testing.T) {
	for _, c := range []struct{ stmt, misfit string }{
		{"ALTER TABLE t ALTER COLUMN v TYPE varchar(20);", "char_length(rtrim(v::text, ' ')) > 20"},
		{"ALTER TABLE t ALTER COLUMN s TYPE varchar(20);", "char_length(rtrim(s::text, ' ')) > 20"},
		{"ALTER TABLE t ALTER COLUMN n TYPE int;", "n NOT BETWEEN -2147483648 AND 2147483647"},
	} {
		p := planTypes(t, "ALTER TABLE other ADD COLUMN x int;\n"+c.stmt, Options{})
		if len(p.Refused) > 0 || len(p.Steps) < 3 {
			t.Fatalf("%s: %+v", c.stmt, p)
		}
		first := p.Steps[0]
		if !lint.IsFitCheck(first.SQL) || !strings.Contains(first.SQL, c.misfit) || !strings.Contains(first.SQL, "id::text AS key") ||
			!strings.Contains(first.SQL, "RAISE EXCEPTION 'migrate: ") || first.Phase != Expand || !first.InTransaction {
			t.Errorf("%s: the first step is not the fit check:\n%s", c.stmt, stepsText(p))
		}
		col := strings.Fields(c.stmt)[5]
		body := "NEW._migrate_new_" + col + " := NEW." + col + ";"
		if !strings.Contains(stepsText(p), body) {
			t.Errorf("%s: the trigger does not assign the plain column (%s):\n%s", c.stmt, body, stepsText(p))
		}
		for _, s := range p.Steps {
			if s.Backfill != nil && s.Backfill.Set != "_migrate_new_"+col+" = "+col {
				t.Errorf("%s: backfill sets %q, want the plain column", c.stmt, s.Backfill.Set)
			}
		}
	}
	// Widening needs no check.
	p := planTypes(t, "ALTER TABLE t ALTER COLUMN n TYPE numeric;", Options{})
	if strings.Contains(stepsText(p), fitCheckDesc) {
		t.Errorf("widening bigint to numeric got a fit check:\n%s", stepsText(p))
	}
	// Another column added to the table first does not move the check.
	p = planTypes(t, "ALTER TABLE t ADD COLUMN y int;\nALTER TABLE t ALTER COLUMN n TYPE int;", Options{})
	if !lint.IsFitCheck(p.Steps[0].SQL) {
		t.Errorf("the check does not run first:\n%s", stepsText(p))
	}
	// An earlier change of the data waits for it.
	for _, before := range []string{"UPDATE t SET n = 0 WHERE n > 2147483647;", "UPDATE t SET n = 0;", "ALTER TABLE t ALTER COLUMN n SET DEFAULT 0;"} {
		p = planTypes(t, before+"\nALTER TABLE t ALTER COLUMN n TYPE int;", Options{})
		for i, s := range p.Steps {
			if strings.HasPrefix(s.Description, fitCheckDesc) && (i == 0 || s.Phase != Backfill) {
				t.Errorf("after %s the check runs before the earlier change:\n%s", before, stepsText(p))
			}
		}
	}
}

// TestPlanRefusesTypeChangeWithoutCast: text -> integer has no assignment
// cast, so the statement fails as written; the plan refuses it before any
// change rather than converting with a cast the author did not write.
func TestPlanRefusesTypeChangeWithoutCast(t *testing.T) {
	p := planTypes(t, "ALTER TABLE t ALTER COLUMN s TYPE int;", Options{})
	if len(p.Refused) != 1 || p.Refused[0].Rule != RuleTypeChange || len(p.Steps) != 0 {
		t.Fatalf("want one refusal under %s, got %+v", RuleTypeChange, p)
	}
	p = planTypes(t, "ALTER TABLE t ALTER COLUMN s TYPE int USING s::int;", Options{})
	if len(p.Refused) != 0 || !lint.IsFitCheck(p.Steps[0].SQL) || !strings.Contains(p.Steps[0].SQL, "PERFORM count(s::int) FROM t;") {
		t.Fatalf("with USING the change is planned, checked first by casting every value:\n%s", stepsText(p))
	}
}

// TestNotNullCheckNameShared: lint's fix and the plan name the check of
// SET NOT NULL alike, within PostgreSQL's 63 bytes.
func TestNotNullCheckNameShared(t *testing.T) {
	long := strings.Repeat("é", 40)
	p := planTypes(t, "ALTER TABLE t ALTER COLUMN s SET NOT NULL;", Options{})
	want := lint.NotNullCheckName("t", "s")
	if !strings.Contains(stepsText(p), "ADD CONSTRAINT "+want+" CHECK") {
		t.Errorf("plan does not name the check %s:\n%s", want, stepsText(p))
	}
	name := lint.NotNullCheckName(long, long+"x")
	if len(name) > 63 || !strings.HasPrefix(name, "_migrate_nn_") {
		t.Errorf("long name %q (%d bytes)", name, len(name))
	}
}

func stepsText(p *Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(string(s.Phase) + ": " + s.Description + "\n" + s.SQL + "\n")
		if s.Backfill != nil {
			b.WriteString("backfill SET " + s.Backfill.Set + " WHERE " + s.Backfill.Where + "\n")
		}
	}
	return b.String()
}
