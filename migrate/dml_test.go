package migrate

import (
	"strings"
	"testing"
)

// The planner batches exactly the data changes lint's whole-table-dml
// flags: no WHERE, or a WHERE that does not bound the rows by key.
func TestDataChangeBatching(t *testing.T) {
	for _, tc := range []struct {
		sql          string
		batched      bool
		delete       bool
		where, inCmd string
	}{
		{sql: `UPDATE users SET email = lower(email) WHERE email <> lower(email);`, batched: true, where: "email <> lower(email)", inCmd: "--where"},
		{sql: `UPDATE users SET email = lower(email);`, batched: true},
		{sql: `UPDATE users SET email = lower(email) WHERE id = 42;`},
		{sql: `UPDATE users SET email = lower(email) WHERE id BETWEEN 1 AND 1000;`},
		{sql: `DELETE FROM users WHERE id % 3 = 0;`, batched: true, delete: true, where: "(id % 3) = 0", inCmd: "--where"},
		{sql: `DELETE FROM users;`, batched: true, delete: true, inCmd: "--all-rows"},
		{sql: `DELETE FROM users WHERE id IN (1, 2, 3);`},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p := planSQL(t, tc.sql, Options{})
			var spec *BackfillSpec
			for _, st := range p.Steps {
				if st.Backfill != nil {
					spec = st.Backfill
				}
			}
			if (spec != nil) != tc.batched {
				t.Fatalf("batched = %v, want %v; steps: %+v", spec != nil, tc.batched, p.Steps)
			}
			if spec == nil {
				return
			}
			if spec.Delete != tc.delete || spec.Where != tc.where {
				t.Errorf("spec = %+v, want delete=%v where=%q", spec, tc.delete, tc.where)
			}
			if tc.inCmd != "" && !strings.Contains(spec.Command(), tc.inCmd) {
				t.Errorf("command %q lacks %s", spec.Command(), tc.inCmd)
			}
		})
	}
}
