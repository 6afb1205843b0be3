package migrate

import (
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
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

// A WHERE that bounds the key bounds the walk (issue 11, defect 7): the
// backfill gets the key range; a change of at most one batch of keys of a
// unique column runs as written; a bound on a column that is no key is no
// bound when the model knows the table's keys.
func TestBoundedDataChange(t *testing.T) {
	for _, tc := range []struct {
		sql       string
		batch     int
		asWritten bool
		ranges    string // the backfill's ranges as conditions
	}{
		{sql: `UPDATE accounts SET code = 'x' WHERE id < 100;`, ranges: "id < 100"},
		{sql: `UPDATE accounts SET code = 'x' WHERE 100 > id;`, ranges: "id < 100"},
		{sql: `UPDATE accounts SET code = 'x' WHERE id <= 100 AND code IS NULL;`, ranges: "id <= 100"},
		{sql: `DELETE FROM accounts WHERE id >= 1000;`, ranges: "id >= 1000"},
		{sql: `UPDATE accounts SET code = 'x' WHERE id BETWEEN 1 AND 5000;`, ranges: "id >= 1 AND id <= 5000"},
		{sql: `UPDATE accounts SET code = 'x' WHERE id > 10 AND id < 5000 AND id < 20000;`, ranges: "id > 10 AND id < 5000"},
		{sql: `UPDATE accounts SET code = 'x' WHERE id BETWEEN 1 AND 500;`, asWritten: true},
		{sql: `UPDATE accounts SET code = 'x' WHERE id >= 1 AND id < 1001;`, asWritten: true},
		{sql: `UPDATE accounts SET code = 'x' WHERE id = ANY (ARRAY[1, 2, 3]);`, asWritten: true},
		{sql: `DELETE FROM accounts WHERE id IN (4, 5);`, asWritten: true},
		{sql: `UPDATE accounts SET owner_id = 1 WHERE code = 'abc';`, asWritten: true}, // code is a unique key
		{sql: `UPDATE accounts SET code = 'x' WHERE id BETWEEN 1 AND 50;`, batch: 10, ranges: "id >= 1 AND id <= 50"},
		// owner_id is no key of accounts: the walk is the whole table.
		{sql: `UPDATE accounts SET code = 'x' WHERE owner_id = 5;`, ranges: ""},
		{sql: `UPDATE accounts SET code = 'x' WHERE created < '2024-01-01';`, ranges: ""},
		{sql: `UPDATE app."Users" SET name = 'x' WHERE id > 100 AND "Email" IS NULL;`, ranges: "id > 100"},
		// Bounded on both sides but not batchable: as written, as before.
		{sql: `UPDATE accounts a SET code = o.code FROM accounts o WHERE a.id BETWEEN 1 AND 5000 AND o.id = a.id;`, asWritten: true},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p := planSQL(t, tc.sql, Options{Batch: tc.batch})
			checkInvariants(t, p)
			if len(p.Refused) > 0 || len(p.Steps) != 1 {
				t.Fatalf("want one step, got %+v (refused %+v)", p.Steps, p.Refused)
			}
			s := p.Steps[0]
			if (s.Backfill == nil) != tc.asWritten {
				t.Fatalf("as written = %v, want %v: %+v", s.Backfill == nil, tc.asWritten, s)
			}
			if s.Backfill == nil {
				if s.SQL != strings.TrimSpace(tc.sql) {
					t.Errorf("SQL %q, want the statement as written", s.SQL)
				}
				return
			}
			var got []string
			for _, kr := range s.Backfill.Ranges {
				got = append(got, rangeText(kr))
			}
			if strings.Join(got, "; ") != tc.ranges {
				t.Errorf("ranges %q, want %q", strings.Join(got, "; "), tc.ranges)
			}
			if (tc.ranges != "") != strings.Contains(s.Description, "key range") {
				t.Errorf("description %q does not say whether the walk is bounded", s.Description)
			}
		})
	}
}

// A table with no key is walked by ctid ranges, and a row an UPDATE moves
// can be met again: only an idempotent SET may be batched there. Seen in
// the differential test: SET product_id = product_id + 1 on a key-less
// audit table was applied thousands of times over 200 rows.
func TestKeylessUpdateMustBeIdempotent(t *testing.T) {
	const before = `CREATE TABLE audit (product_id int, note text, at timestamptz);
CREATE TABLE keyed (id int NOT NULL, n int);
CREATE UNIQUE INDEX keyed_id ON keyed (id);
`
	for _, tc := range []struct {
		sql     string
		refused bool
	}{
		{sql: `UPDATE audit SET product_id = product_id + 1;`, refused: true},
		{sql: `UPDATE audit SET note = note || '!';`, refused: true},
		{sql: `UPDATE audit SET at = clock_timestamp();`, refused: true},
		{sql: `UPDATE audit SET note = 'x';`},
		{sql: `UPDATE audit SET note = product_id::text;`},
		{sql: `UPDATE keyed SET n = n + 1;`}, // walked by its unique NOT NULL index
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p, err := Build(source(t, "m.sql", tc.sql), lint.NewSchema(), Options{Before: source(t, "before.sql", before)})
			if err != nil {
				t.Fatal(err)
			}
			if refused := len(p.Refused) == 1 && p.Refused[0].Rule == RuleDataChange; refused != tc.refused {
				t.Errorf("refused = %v, want %v: %+v %+v", refused, tc.refused, p.Refused, p.Steps)
			}
		})
	}
}
