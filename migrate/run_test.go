package migrate

import (
	"testing"
)

func TestParseConcurrent(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want concurrentTarget
	}{
		{`CREATE UNIQUE INDEX CONCURRENTLY t_code_key ON t USING btree (code);`, concurrentTarget{ccCreate, "public.t", "public.t_code_key"}},
		{`CREATE INDEX CONCURRENTLY ix ON app."Orders" (a);`, concurrentTarget{ccCreate, "app.Orders", "app.ix"}},
		{`DROP INDEX CONCURRENTLY IF EXISTS app.ix;`, concurrentTarget{ccDrop, "", "app.ix"}},
		{`REINDEX INDEX CONCURRENTLY t_v_idx;`, concurrentTarget{ccReindex, "", "public.t_v_idx"}},
		{`REINDEX TABLE CONCURRENTLY t;`, concurrentTarget{ccReindex, "public.t", ""}},
		{`VACUUM t;`, concurrentTarget{}},
		{`CREATE INDEX CONCURRENTLY ON t (a);`, concurrentTarget{}}, // unnamed: the planner always names its indexes
	} {
		if got := parseConcurrent(tc.sql); got != tc.want {
			t.Errorf("parseConcurrent(%q) = %+v, want %+v", tc.sql, got, tc.want)
		}
	}
}

func TestMigrationID(t *testing.T) {
	a := MigrationID([]File{{Path: "/x/0001_a.sql", Content: []byte("SELECT 1;")}})
	if b := MigrationID([]File{{Path: "elsewhere/0001_a.sql", Content: []byte("SELECT 1;")}}); a != b {
		t.Errorf("the directory changed the ID: %s vs %s", a, b)
	}
	if b := MigrationID([]File{{Path: "/x/0001_a.sql", Content: []byte("SELECT 2;")}}); a == b {
		t.Error("the content did not change the ID")
	}
	if b := MigrationID([]File{{Path: "/x/0001_b.sql", Content: []byte("SELECT 1;")}}); a == b {
		t.Error("the name did not change the ID")
	}
	// Length prefixes keep a name/content split from colliding.
	x := MigrationID([]File{{Path: "a", Content: []byte("bc")}})
	y := MigrationID([]File{{Path: "ab", Content: []byte("c")}})
	if x == y {
		t.Error("name/content boundary collision")
	}
}

func TestIdempotentAndValidation(t *testing.T) {
	if !idempotentSQL("ALTER TABLE t ADD COLUMN c int;") || idempotentSQL("UPDATE t SET a = 1 WHERE id = 2;") {
		t.Error("idempotentSQL")
	}
	if !validationOnly("ALTER TABLE t VALIDATE CONSTRAINT c;") || validationOnly("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;") {
		t.Error("validationOnly")
	}
}

func TestNeedsPreflight(t *testing.T) {
	p := planSQL(t, "CREATE INDEX accounts_owner ON accounts (owner_id); ALTER TABLE accounts ALTER COLUMN code SET NOT NULL;", Options{})
	for _, s := range p.Steps {
		st := &StepState{Step: s}
		want := !s.InTransaction || s.Locks[0].Mode == "ACCESS EXCLUSIVE"
		if got := needsPreflight(st); got != want {
			t.Errorf("step %d (%s): needsPreflight = %v, want %v", s.ID, s.Description, got, want)
		}
	}
}
