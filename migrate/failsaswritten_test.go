package migrate

import (
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

// A statement that fails as written must not be turned into one that
// succeeds: naive ends with nothing changed, so must the plan (found by the
// differential test on examples/10 and on a partitioned table).
func TestRefuseWhatFailsAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name, path, sql, rule, reason string
	}{
		{name: "CONCURRENTLY in BEGIN", path: "m.sql", rule: RuleConcurrentlyInTx, reason: "BEGIN ... COMMIT",
			sql: "BEGIN;\nCREATE INDEX CONCURRENTLY users_age_idx ON app.\"Users\" (age);\nCOMMIT;\n"},
		{name: "CONCURRENTLY in goose's transaction", path: "20240101000000_idx.sql", rule: RuleConcurrentlyInTx, reason: "goose",
			sql: "-- +goose Up\nDROP INDEX CONCURRENTLY app.\"Users_Email_idx\";\n"},
		{name: "CONCURRENTLY on a partitioned table", path: "m.sql", rule: RulePartitionedIndex, reason: "partitioned table",
			sql: "CREATE INDEX CONCURRENTLY ev_id ON events (id);\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := lint.ReadSource(tc.path, []byte(tc.sql), lint.ReadOptions{})
			stmts, perr := lint.Parse(src, lint.Options{PGVersion: 15})
			if perr != nil {
				t.Fatal(perr)
			}
			p, err := Build(stmts, lint.NewSchema(), Options{Before: source(t, "fixture.sql", fixture)})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Refused) != 1 || p.Refused[0].Rule != tc.rule || !strings.Contains(p.Refused[0].Reason, tc.reason) || len(p.Steps) != 0 {
				t.Errorf("want one %s refusal naming %q and no steps; got %+v, %d steps", tc.rule, tc.reason, p.Refused, len(p.Steps))
			}
		})
	}
	// Outside a transaction the same statement is fine as written.
	p := planSQL(t, "CREATE INDEX CONCURRENTLY users_age_idx ON app.\"Users\" (age);\n", Options{})
	if len(p.Refused) != 0 || len(p.Steps) != 1 {
		t.Errorf("plain CONCURRENTLY: %+v", p)
	}
}
