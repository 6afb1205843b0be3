package migrate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

// planFile plans a file read as the CLI reads it (format detected from the
// name and markers), after the fixture.
func planFile(t *testing.T, path, sql string) *Plan {
	t.Helper()
	src := lint.ReadSource(path, []byte(sql), lint.ReadOptions{})
	stmts, err := lint.Parse(src, lint.Options{PGVersion: 15})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	p, berr := Build(stmts, lint.NewSchema(), Options{Before: source(t, "fixture.sql", fixture)})
	if berr != nil {
		t.Fatal(berr)
	}
	return p
}

const groupExample = `ALTER TABLE accounts ADD COLUMN nickname text;
CREATE INDEX accounts_nickname_idx ON accounts (nickname);
ALTER TABLE accounts ADD CONSTRAINT id_pos CHECK (id > 0);`

func TestGroupAssignment(t *testing.T) {
	for _, tc := range []struct {
		name, path, sql string
		groups          int    // groups in the plan
		grouped         []bool // per step: has a group
		from            int    // the line the (first) group opens at
		kind            string
	}{
		{name: "explicit", path: "m.sql", sql: "SELECT 1;\nBEGIN;\n" + groupExample + "\nCOMMIT;\nCREATE INDEX accounts_owner_idx ON accounts (owner_id);",
			groups: 1, grouped: []bool{false, true, true, true, true, false}, from: 2, kind: "BEGIN ... COMMIT"},
		{name: "autocommit plain file", path: "m.sql", sql: groupExample, grouped: []bool{false, false, false, false}},
		{name: "goose wraps the file", path: "20240101000000_x.sql", sql: "-- +goose Up\n" + groupExample,
			groups: 1, grouped: []bool{true, true, true, true}, from: 2, kind: "goose's transaction around the file"},
		{name: "goose NO TRANSACTION", path: "20240101000000_x.sql", sql: "-- +goose NO TRANSACTION\n-- +goose Up\n" + groupExample,
			grouped: []bool{false, false, false, false}},
		{name: "golang-migrate string", path: "1_x.up.sql", sql: groupExample,
			groups: 1, grouped: []bool{true, true, true, true}, from: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planFile(t, tc.path, tc.sql)
			if len(p.Groups) != tc.groups {
				t.Fatalf("%d groups, want %d: %+v", len(p.Groups), tc.groups, p.Groups)
			}
			if len(p.Steps) != len(tc.grouped) {
				t.Fatalf("%d steps, want %d", len(p.Steps), len(tc.grouped))
			}
			for i, s := range p.Steps {
				if (s.Group != 0) != tc.grouped[i] {
					t.Errorf("step %d (%s): group %d, want grouped %v", s.ID, s.Description, s.Group, tc.grouped[i])
				}
				if s.Order == 0 {
					t.Errorf("step %d has no statement order", s.ID)
				}
				if s.Group != 0 && s.Split == "" {
					t.Errorf("step %d of a split group says not why it is split out", s.ID)
				}
				if s.Group == 0 && s.Split != "" {
					t.Errorf("step %d outside any group has a split reason %q", s.ID, s.Split)
				}
			}
			if tc.groups == 0 {
				return
			}
			g := p.Groups[0]
			if g.Source.Line != tc.from || (tc.kind != "" && g.Kind != tc.kind) {
				t.Errorf("group opens at line %d (%s), want line %d (%s)", g.Source.Line, g.Kind, tc.from, tc.kind)
			}
			var want []int
			for i, in := range tc.grouped {
				if in {
					want = append(want, i+1)
				}
			}
			if idList(g.Steps) != idList(want) {
				t.Errorf("group steps %v, want %v", g.Steps, want)
			}
		})
	}
}

func TestGroupSplitReasons(t *testing.T) {
	p := planSQL(t, "BEGIN;\n"+groupExample+"\nCOMMIT;", Options{})
	want := []string{"one strong lock per step", "CONCURRENTLY cannot run inside a transaction block",
		"one strong lock per step", "VALIDATE in its own transaction"}
	if len(p.Steps) != len(want) {
		t.Fatalf("%d steps: %+v", len(p.Steps), p.Steps)
	}
	for i, s := range p.Steps {
		if !strings.Contains(s.Split, want[i]) {
			t.Errorf("step %d (%s): split %q, want it to say %q", s.ID, s.Description, s.Split, want[i])
		}
	}
	if len(p.Groups[0].Irreversible) != 0 {
		t.Errorf("every step of the example can be undone; irreversible: %v", p.Groups[0].Irreversible)
	}
}

func TestGroupIrreversibleSteps(t *testing.T) {
	// The UPDATE becomes a batched backfill of existing rows, which no
	// undo restores; the column fill of a new column is dropped with it.
	p := planSQL(t, `BEGIN;
ALTER TABLE accounts ADD COLUMN flag int;
UPDATE accounts SET flag = 1;
UPDATE accounts SET code = 'x';
ALTER TABLE accounts ADD CONSTRAINT id_pos CHECK (id > 0);
COMMIT;`, Options{})
	g := p.Groups[0]
	var stuck []string
	for _, id := range g.Irreversible {
		stuck = append(stuck, p.Steps[id-1].Description)
	}
	if len(stuck) != 1 || !strings.Contains(p.Steps[g.Irreversible[0]-1].Backfill.Set, "code") {
		t.Fatalf("irreversible steps: %q, want only the backfill of code", stuck)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "WARNING: step(s) ") || !strings.Contains(b.String(), "cannot roll the group back") {
		t.Errorf("the text plan does not warn about the step that cannot be undone:\n%s", b.String())
	}
}

func TestGroupRolledBackInSource(t *testing.T) {
	p := planSQL(t, "BEGIN;\nALTER TABLE accounts ADD COLUMN gone int;\nROLLBACK;\nALTER TABLE accounts ADD COLUMN kept int;", Options{})
	if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].SQL, "kept") {
		t.Fatalf("a transaction that ends in ROLLBACK changes nothing; steps: %+v", p.Steps)
	}
	if len(p.Groups) != 1 || !p.Groups[0].RolledBack {
		t.Errorf("groups: %+v", p.Groups)
	}
}

func TestGroupOutputs(t *testing.T) {
	p := planSQL(t, "BEGIN;\n"+groupExample+"\nCOMMIT;", Options{})
	var text, sql, js bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteSQL(&sql); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "sql": sql.String()} {
		for _, want := range []string{"transaction 1 (BEGIN ... COMMIT, from m.sql:1:1): steps 1, 2, 3, 4, all or nothing",
			"transaction 1: split out: CONCURRENTLY cannot run inside a transaction block"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q:\n%s", name, want, out)
			}
		}
	}
	var v struct {
		Steps []struct {
			ID    int    `json:"id"`
			Group int    `json:"group"`
			Split string `json:"split"`
		} `json:"steps"`
		Groups []struct {
			ID     int    `json:"id"`
			Kind   string `json:"kind"`
			Source struct {
				Line int `json:"line"`
			} `json:"source"`
			Steps        []int `json:"steps"`
			Irreversible []int `json:"irreversible"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(js.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Groups) != 1 || v.Groups[0].Source.Line != 1 || len(v.Groups[0].Steps) != 4 || v.Groups[0].Irreversible == nil {
		t.Errorf("json groups: %+v", v.Groups)
	}
	for _, s := range v.Steps {
		if s.Group != 1 || s.Split == "" {
			t.Errorf("json step %d: group %d, split %q", s.ID, s.Group, s.Split)
		}
	}
	// A plan without transactions keeps the version 1 objects unchanged.
	var plain bytes.Buffer
	if err := planSQL(t, groupExample, Options{}).WriteJSON(&plain); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), `"group`) || strings.Contains(plain.String(), `"split"`) {
		t.Errorf("json of a plan without transactions has group fields:\n%s", plain.String())
	}
}

func TestDefinitiveErrors(t *testing.T) {
	// Pure: the classes that make a group roll back are the data's fault.
	for code, want := range map[string]bool{"23514": true, "23505": true, "22P02": true, "42703": true,
		"55P03": false, "40P01": false, "57014": false, "08006": false, "53100": false, "": false} {
		if got := definitiveCode(code); got != want {
			t.Errorf("SQLSTATE %q: definitive %v, want %v", code, got, want)
		}
	}
}

func TestGroupScope(t *testing.T) {
	// Statement 1 runs on its own; statements 2-3 are transaction 1;
	// statement 4 comes after it. The phases ran statement 4's expand step
	// (id 3) before the group's contract step (id 4), which failed.
	m := &Migration{ID: "m"}
	for i, s := range []struct {
		order, group int
		status, undo string
	}{
		{1, 0, StepDone, "DROP INDEX IF EXISTS a;"},
		{2, 1, StepDone, "ALTER TABLE t DROP COLUMN IF EXISTS c;"},
		{4, 0, StepDone, "DROP INDEX IF EXISTS b;"},
		{3, 1, StepFailed, ""},
		{4, 0, StepPending, ""},
	} {
		m.Steps = append(m.Steps, &StepState{Step: Step{ID: i + 1, Order: s.order, Group: s.group, Undo: s.undo, SQL: "SELECT 1;", InTransaction: true}, Status: s.status})
	}
	failed := m.Steps[3]
	var r Runner
	var ids []int
	for _, s := range r.groupScope(m, failed) {
		ids = append(ids, s.ID)
	}
	if idList(ids) != "2, 3" {
		t.Errorf("scope %v, want the group's done step and the later statement's (2, 3)", ids)
	}
	if reason := irreversibleIn(m, r.groupScope(m, failed), failed); reason != "" {
		t.Errorf("every step in scope has an undo: %s", reason)
	}
	m.Steps[2].Undo = ""
	if reason := irreversibleIn(m, r.groupScope(m, failed), failed); !strings.Contains(reason, "step 3") {
		t.Errorf("a done step without undo must block the rollback: %q", reason)
	}
}
