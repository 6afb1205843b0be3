package migrate

import (
	"strings"
	"testing"
)

func TestJudgeTriggers(t *testing.T) {
	o := rowTrigger{Table: "orders", Name: "set_updated_at", Enabled: "O", PerRow: true}
	r := rowTrigger{Table: "orders", Name: "replicated", Enabled: "R", PerRow: true}
	a := rowTrigger{Table: "orders", Name: "always_audit", Enabled: "A", PerRow: true}
	for _, c := range []struct {
		name       string
		trigs      []rowTrigger
		privileged bool
		suppress   bool
		firing     string
		asked      bool // the privilege is only asked for when replica would silence something
	}{
		{name: "origin, privileged", trigs: []rowTrigger{o}, privileged: true, suppress: true, asked: true},
		{name: "origin, no privilege", trigs: []rowTrigger{o}, firing: "set_updated_at", asked: true},
		{name: "replica only: quiet in origin mode", trigs: []rowTrigger{r}},
		{name: "always only: fires in every mode", trigs: []rowTrigger{a}, firing: "always_audit"},
		{name: "origin and replica: replica starts firing", trigs: []rowTrigger{o, r}, privileged: true, suppress: true, firing: "replicated", asked: true},
		{name: "origin and always, no privilege", trigs: []rowTrigger{o, a}, firing: "set_updated_at,always_audit", asked: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			asked := false
			v, err := judgeTriggers(c.trigs, func() (bool, error) { asked = true; return c.privileged, nil })
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range v.firing {
				names = append(names, f.Name)
			}
			if v.suppress != c.suppress || strings.Join(names, ",") != c.firing || asked != c.asked {
				t.Errorf("got suppress=%v firing=%v asked=%v, want %v %q %v", v.suppress, names, asked, c.suppress, c.firing, c.asked)
			}
		})
	}
}

func TestInternalBackfillsMarked(t *testing.T) {
	plan := planSQL(t, `ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
ALTER TABLE accounts ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
UPDATE accounts SET code = 'x';`, Options{})
	var internal, user int
	for _, s := range plan.Steps {
		if s.Backfill == nil {
			continue
		}
		if s.Backfill.Internal {
			internal++
		} else {
			user++
		}
	}
	if internal != 2 || user != 1 {
		t.Errorf("want the shadow copy and the fill internal, the UPDATE not: internal %d, user %d", internal, user)
	}
}
