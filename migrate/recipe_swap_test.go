package migrate

import (
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

const swapSchema = `
CREATE TABLE tickets (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
CREATE TABLE parents (id int PRIMARY KEY, up int REFERENCES parents, amount int CHECK (amount > 0));
CREATE TABLE children (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES parents (id) ON DELETE CASCADE);
CREATE TABLE loose (id int PRIMARY KEY, parent_id int);
ALTER TABLE loose ADD CONSTRAINT loose_parent_fk FOREIGN KEY (parent_id) REFERENCES parents (id) NOT VALID;
`

func planSwap(t *testing.T, sql string, edit func(*lint.Schema)) *Plan {
	t.Helper()
	schema := lint.NewSchema()
	for _, st := range source(t, "schema.sql", swapSchema) {
		schema.Apply(st)
	}
	if edit != nil {
		edit(schema)
	}
	p, err := Build(source(t, "m.sql", sql), schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, p)
	return p
}

func swapStepOf(t *testing.T, p *Plan) Step {
	t.Helper()
	for _, s := range p.Steps {
		if strings.HasPrefix(s.Description, "swap in one short transaction") {
			return s
		}
	}
	t.Fatalf("no swap step: %+v", p.Steps)
	return Step{}
}

// The identity goes to the new column inside the swap, after its NOT NULL.
func TestSwapCarriesIdentity(t *testing.T) {
	p := planSwap(t, `ALTER TABLE tickets ALTER COLUMN id TYPE bigint;`, nil)
	swap := swapStepOf(t, p).SQL
	notNull := strings.Index(swap, "ALTER COLUMN id SET NOT NULL")
	restore := strings.LastIndex(swap, "EXECUTE current_setting('migrate.swap_restore')")
	capture := strings.Index(swap, "ADD GENERATED %s AS IDENTITY")
	drop := strings.Index(swap, "DROP COLUMN id;")
	if notNull < 0 || restore < notNull || capture < 0 || capture > drop {
		t.Errorf("identity not captured before the drop and restored after SET NOT NULL:\n%s", swap)
	}
	if strings.Contains(swap, "plan did not carry the identity") {
		t.Errorf("the guard rejects the identity the plan carries:\n%s", swap)
	}
}

func TestSwapRefusesIdentityToNonInteger(t *testing.T) {
	p := planSwap(t, `ALTER TABLE tickets ALTER COLUMN id TYPE numeric;`, nil)
	if len(p.Refused) != 1 || p.Refused[0].Rule != RuleTypeChange || len(p.Steps) != 0 {
		t.Fatalf("want one refusal and no steps: %+v", p)
	}
}

// Foreign keys on and pointing at the column, and its checks, are dropped
// and re-added NOT VALID in the swap; those valid before are validated.
func TestSwapCarriesConstraints(t *testing.T) {
	p := planSwap(t, `ALTER TABLE parents ALTER COLUMN id TYPE bigint;`, nil)
	swap := swapStepOf(t, p)
	for _, name := range []string{"children_parent_id_fkey", "parents_up_fkey", "loose_parent_fk"} {
		if !strings.Contains(swap.SQL, quoteLiteral(name)) {
			t.Errorf("swap does not carry %s:\n%s", name, swap.SQL)
		}
	}
	var validated []string
	for _, s := range p.Steps {
		if s.ID > swap.ID && strings.Contains(s.SQL, "VALIDATE CONSTRAINT") {
			validated = append(validated, s.SQL)
		}
	}
	got := strings.Join(validated, "\n")
	if !strings.Contains(got, "ALTER TABLE children VALIDATE CONSTRAINT children_parent_id_fkey;") ||
		!strings.Contains(got, "ALTER TABLE parents VALIDATE CONSTRAINT parents_up_fkey;") ||
		strings.Contains(got, "loose_parent_fk") {
		t.Errorf("validations after the swap:\n%s", got)
	}
	locked := map[string]bool{}
	for _, l := range swap.Locks {
		locked[l.Relation+" "+l.Mode] = true
	}
	if !locked["children "+lint.AccessExclusive] || !locked["loose "+lint.AccessExclusive] {
		t.Errorf("the swap's locks miss the referencing tables: %+v", swap.Locks)
	}
	if !strings.Contains(swap.Description, "children.parent_id, loose.parent_id, parents.up keep their type") {
		t.Errorf("the swap does not say the referencing columns keep their type: %s", swap.Description)
	}
	// The amount check is not on id: not carried.
	if strings.Contains(swap.SQL, "'parents_amount_check'") {
		t.Errorf("swap carries a constraint not on the column:\n%s", swap.SQL)
	}
}

// What the swap cannot carry is refused before any step, naming it.
func TestSwapRefusesDependents(t *testing.T) {
	p := planSwap(t, `ALTER TABLE parents ALTER COLUMN amount TYPE bigint;`, func(s *lint.Schema) {
		s.Table("parents").Column("amount").Dependents = []string{"view public.big_parents", "policy positive on table parents"}
	})
	if len(p.Steps) != 0 || len(p.Refused) != 1 {
		t.Fatalf("want a refusal and no steps: %+v", p)
	}
	r := p.Refused[0]
	if r.Rule != RuleTypeChange || !strings.Contains(r.Reason, "view public.big_parents; policy positive on table parents") {
		t.Errorf("refusal: %+v", r)
	}
	allowed, err := Build(source(t, "m.sql", `ALTER TABLE parents ALTER COLUMN amount TYPE bigint;`), func() *lint.Schema {
		s := lint.NewSchema()
		for _, st := range source(t, "schema.sql", swapSchema) {
			s.Apply(st)
		}
		s.Table("parents").Column("amount").Dependents = []string{"view public.big_parents"}
		return s
	}(), Options{AllowUnsafe: []string{RuleTypeChange}})
	if err != nil || len(allowed.Refused) != 0 || len(allowed.Steps) != 1 || allowed.Steps[0].Unsafe != RuleTypeChange {
		t.Errorf("--allow-unsafe %s should run the statement as written: %+v %v", RuleTypeChange, allowed, err)
	}
}

// A rename cannot re-create constraints from definitions that name the
// old column: refused.
func TestSwapRenameRefusesConstraints(t *testing.T) {
	p := planSwap(t, `ALTER TABLE parents RENAME COLUMN id TO parent_id;`, nil)
	if len(p.Steps) != 0 || len(p.Refused) != 1 || p.Refused[0].Rule != RuleRenamingColumn ||
		!strings.Contains(p.Refused[0].Reason, "children_parent_id_fkey on children") {
		t.Fatalf("want a refusal naming the incoming key: %+v", p)
	}
}

func TestIndexCopySQL(t *testing.T) {
	for _, c := range []struct{ def, want string }{
		{"CREATE INDEX ix ON public.t USING btree (v) INCLUDE (note)",
			"CREATE INDEX CONCURRENTLY dup ON public.t USING btree (nv) INCLUDE (note);"},
		{"CREATE UNIQUE INDEX ix ON public.t USING btree (id) WHERE (v > 10)",
			"CREATE UNIQUE INDEX CONCURRENTLY dup ON public.t USING btree (id) WHERE nv > 10;"},
		{"CREATE INDEX ix ON public.t USING btree (((v + 1))) WITH (fillfactor='70')",
			"CREATE INDEX CONCURRENTLY dup ON public.t USING btree ((nv + 1)) WITH (fillfactor='70');"},
		{"CREATE INDEX ix ON public.t USING btree (note, v DESC NULLS LAST)",
			"CREATE INDEX CONCURRENTLY dup ON public.t USING btree (note, nv DESC NULLS LAST);"},
	} {
		if got := indexCopySQL(c.def, "v", "nv", "dup"); got != c.want {
			t.Errorf("indexCopySQL(%q)\n got %s\nwant %s", c.def, got, c.want)
		}
		if !indexUses(c.def, "v") || indexUses(c.def, "other") {
			t.Errorf("indexUses(%q) wrong", c.def)
		}
	}
}

// PostgreSQL cannot add a NOT VALID foreign key on a partitioned table.
func TestSwapRefusesForeignKeyOfPartitionedTable(t *testing.T) {
	p := planSwap(t, `ALTER TABLE parents ALTER COLUMN id TYPE bigint;`, func(s *lint.Schema) {
		for _, st := range source(t, "more.sql", `CREATE TABLE visits (at int, parent_id int REFERENCES parents (id)) PARTITION BY RANGE (at);`) {
			s.Apply(st)
		}
	})
	if len(p.Steps) != 0 || len(p.Refused) != 1 || !strings.Contains(p.Refused[0].Reason, "visits_parent_id_fkey of partitioned table visits") {
		t.Fatalf("want a refusal naming the partitioned table's key: %+v", p)
	}
}

// A rename's contract step carries the identity to the new column too.
func TestSwapRenameCarriesIdentity(t *testing.T) {
	p := planSwap(t, `ALTER TABLE tickets RENAME COLUMN id TO ticket_id;`, nil)
	last := p.Steps[len(p.Steps)-1]
	if !last.Breaking || !strings.Contains(last.SQL, "ADD GENERATED %s AS IDENTITY") ||
		!strings.Contains(last.SQL, "'tickets'::regclass, 'ticket_id', CASE a.attidentity") {
		t.Errorf("the rename's last step does not carry the identity to ticket_id:\n%s", last.SQL)
	}
}
