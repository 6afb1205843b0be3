package migrate

import (
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

const keyFixture = `
CREATE TABLE orders (id int PRIMARY KEY, email text, tenant int, note text);
CREATE TABLE users (id bigint, email text NOT NULL, CONSTRAINT users_email_key UNIQUE (email));
CREATE TABLE items (id int PRIMARY KEY, order_id int REFERENCES orders (id));
`

func planKeys(t *testing.T, sql string) *Plan {
	t.Helper()
	p, err := Build(source(t, "m.sql", sql), lint.NewSchema(), Options{Before: source(t, "fixture.sql", keyFixture)})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, p)
	if len(p.Refused) > 0 {
		t.Fatalf("refused: %+v", p.Refused)
	}
	return p
}

// stepIndex is the position of the first step whose SQL contains s, or -1.
func stepIndex(p *Plan, s string) int {
	for i, st := range p.Steps {
		if strings.Contains(st.SQL, s) {
			return i
		}
	}
	return -1
}

// A key replaced by drop + add (issue 11, defect 4) is built first under a
// temporary name, then swapped in one transaction; the table never lacks
// its key, and the swap can be undone.
func TestKeySwapOrder(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		swap      []string // in the swap step's SQL, in order
		undo      string   // in the swap step's undo
		check     bool     // a read-only check precedes the build
	}{
		{name: "two statements", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);",
			swap: []string{"DROP CONSTRAINT orders_pkey", "ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX _migrate_swap_orders_orders_pkey"},
			undo: "contype = 'p'", check: true},
		{name: "one statement", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id);",
			swap: []string{"DROP CONSTRAINT orders_pkey", "PRIMARY KEY USING INDEX"}, undo: "contype = 'p'", check: true},
		{name: "add first in one statement", sql: "ALTER TABLE orders ADD PRIMARY KEY (id), DROP CONSTRAINT orders_pkey;",
			swap: []string{"DROP CONSTRAINT orders_pkey", "PRIMARY KEY USING INDEX"}, undo: "contype = 'p'", check: true},
		{name: "statements in between", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD COLUMN x int;\n" +
			"CREATE INDEX orders_email_idx ON orders (email);\nCREATE TABLE other (id int);\nALTER TABLE orders ADD PRIMARY KEY (id);",
			swap: []string{"DROP CONSTRAINT orders_pkey", "PRIMARY KEY USING INDEX"}, undo: "contype = 'p'", check: true},
		{name: "renamed", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD CONSTRAINT orders_id_pk PRIMARY KEY (id);",
			swap: []string{"DROP CONSTRAINT orders_pkey", "ADD CONSTRAINT orders_id_pk PRIMARY KEY USING INDEX"},
			undo: "RENAME CONSTRAINT orders_id_pk TO orders_pkey", check: true},
		{name: "other columns", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (tenant, id);",
			swap: []string{"SET NOT NULL", "DROP CONSTRAINT orders_pkey", "PRIMARY KEY USING INDEX", "DROP CONSTRAINT _migrate_nn_orders_tenant"},
			undo: "ADD CONSTRAINT orders_pkey PRIMARY KEY (id)", check: true},
		{name: "unique", sql: "ALTER TABLE users DROP CONSTRAINT users_email_key;\nALTER TABLE users ADD UNIQUE (email);",
			swap: []string{"DROP CONSTRAINT users_email_key", "ADD CONSTRAINT users_email_key UNIQUE USING INDEX"}, undo: "contype = 'u'", check: true},
		{name: "cascade", sql: "ALTER TABLE orders DROP CONSTRAINT orders_pkey CASCADE;\nALTER TABLE orders ADD PRIMARY KEY (id);",
			swap: []string{"DROP CONSTRAINT orders_pkey CASCADE", "PRIMARY KEY USING INDEX"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planKeys(t, tc.sql)
			build := stepIndex(p, "CREATE UNIQUE INDEX CONCURRENTLY _migrate_swap_")
			swap := stepIndex(p, "USING INDEX _migrate_swap_")
			if build < 0 || swap < 0 || build > swap {
				t.Fatalf("want the concurrent build before the swap; steps:\n%s", keySwapSteps(p))
			}
			// Nothing drops the old key before the swap step.
			for i, st := range p.Steps[:swap] {
				if strings.Contains(st.SQL, "DROP CONSTRAINT orders_pkey") || strings.Contains(st.SQL, "DROP CONSTRAINT users_email_key") {
					t.Errorf("step %d drops the old key before the new index exists: %s", i+1, st.SQL)
				}
			}
			s := p.Steps[swap]
			if !s.InTransaction {
				t.Errorf("the swap is not one transaction")
			}
			at := 0
			for _, want := range tc.swap {
				i := strings.Index(s.SQL[at:], want)
				if i < 0 {
					t.Fatalf("swap SQL lacks %q (in order):\n%s", want, s.SQL)
				}
				at += i + len(want)
			}
			if tc.undo == "" && s.Undo != "" || !strings.Contains(s.Undo, tc.undo) {
				t.Errorf("swap undo %q, want it to contain %q", s.Undo, tc.undo)
			}
			check := stepIndex(p, "DO "+checkTag)
			if tc.check != (check >= 0 && check < build) {
				t.Errorf("read-only check before the build: %v, want %v\n%s", check >= 0 && check < build, tc.check, keySwapSteps(p))
			}
			if check >= 0 && !readOnlyCheck(p.Steps[check].SQL) {
				t.Errorf("the check is not recognised as read-only")
			}
		})
	}
}

// Drops that are not replaced, or whose replacement is separated by a
// statement touching the table's keys, plan as before.
func TestKeySwapNotPaired(t *testing.T) {
	for _, sql := range []string{
		"ALTER TABLE orders DROP CONSTRAINT orders_pkey;",
		"ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ALTER COLUMN id TYPE bigint;\nALTER TABLE orders ADD PRIMARY KEY (id);",
		"ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nINSERT INTO orders VALUES (1);\nALTER TABLE orders ADD PRIMARY KEY (id);",
		"ALTER TABLE items DROP CONSTRAINT items_order_id_fkey;\nALTER TABLE items ADD UNIQUE (order_id);",
	} {
		p := planKeys(t, sql)
		if stepIndex(p, "_migrate_swap_") >= 0 {
			t.Errorf("%s: paired as a key swap:\n%s", sql, keySwapSteps(p))
		}
	}
}

func keySwapSteps(p *Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(string(s.Phase) + ": " + s.Description + "\n  " + strings.ReplaceAll(s.SQL, "\n", "\n  ") + "\n  undo: " + s.Undo + "\n")
	}
	return b.String()
}

// In a transaction of the source the swap stays undoable as a whole: the
// read-only check needs no undo.
func TestKeySwapInGroup(t *testing.T) {
	p := planKeys(t, "BEGIN;\nALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);\nCOMMIT;")
	if stepIndex(p, "USING INDEX _migrate_swap_") < 0 {
		t.Fatalf("not planned as a swap:\n%s", keySwapSteps(p))
	}
	for _, g := range p.Groups {
		if len(g.Irreversible) > 0 {
			t.Errorf("group %d: steps %v counted irreversible:\n%s", g.ID, g.Irreversible, keySwapSteps(p))
		}
	}
}
