package lint

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// viewSnapshot renders a view as sorted (table, key) and (parent, key)
// pairs so two views can be compared.
func viewSnapshot(v *schemaView) (idx, parts []string) {
	for table, list := range v.indexes {
		for _, e := range list {
			idx = append(idx, table+" "+e.key+" "+e.ix.Table)
		}
	}
	for parent, set := range v.children {
		for key := range set {
			parts = append(parts, parent+" "+key)
		}
	}
	for ref, list := range v.referrers {
		for _, key := range list {
			parts = append(parts, "fk "+ref+" "+key)
		}
	}
	slices.Sort(idx)
	slices.Sort(parts)
	return idx, parts
}

// TestSchemaViewMatchesRebuild applies every testdata migration (and a
// script of renames, drops and partition changes) statement by statement
// and checks after each that the incrementally kept view is the one a
// fresh scan of the maps builds.
func TestSchemaViewMatchesRebuild(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sql")
	texts := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = b
	}
	texts["churn.sql"] = []byte(`
CREATE TABLE p (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10);
CREATE TABLE p2 (id int, k int);
ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (10) TO (20);
CREATE INDEX p1_k ON p1 (k);
CREATE INDEX p1_k ON p1 (id);
CREATE INDEX p2_k ON p2 (k);
ALTER TABLE p2 RENAME TO p3;
ALTER INDEX p2_k RENAME TO p3_k;
ALTER TABLE p3 DROP COLUMN k;
ALTER TABLE p DETACH PARTITION p3;
ALTER TABLE p RENAME TO q;
CREATE TABLE p1 (id int);
CREATE TABLE p4 PARTITION OF q FOR VALUES FROM (20) TO (30);
ALTER TABLE p4 RENAME TO p1;
DROP TABLE p1;
CREATE MATERIALIZED VIEW q AS SELECT 1;
CREATE VIEW v AS SELECT 1;
CREATE INDEX ON v (x);
DROP INDEX p3_k;
DROP TABLE q, p3;
CREATE TABLE users (id int PRIMARY KEY);
CREATE TABLE a (id int, u int REFERENCES users, CONSTRAINT self FOREIGN KEY (id) REFERENCES a (id));
CREATE TABLE b (u int, CONSTRAINT b_u FOREIGN KEY (u) REFERENCES users (id));
ALTER TABLE b ADD CONSTRAINT b_a FOREIGN KEY (u) REFERENCES a (id) NOT VALID;
ALTER TABLE b DROP CONSTRAINT b_u;
ALTER TABLE a DROP COLUMN u;
ALTER TABLE b RENAME TO c;
ALTER TABLE users RENAME TO people;
CREATE TABLE c (x int);
DROP TABLE a;
`)
	texts["bench.sql"] = []byte(benchMigration(2000))
	for name, text := range texts {
		src := ReadSource(name, text, ReadOptions{})
		stmts, perr := Parse(src, Options{IncludeDown: true})
		if perr != nil {
			if name == "churn.sql" || name == "bench.sql" {
				t.Fatal(perr.Message)
			}
			continue
		}
		s := NewSchema()
		s.openView()
		for _, st := range stmts {
			s.Apply(st)
			got, gotParts := viewSnapshot(s.view)
			view := s.view
			s.closeView()
			s.openView()
			want, wantParts := viewSnapshot(s.view)
			if !slices.Equal(got, want) || !slices.Equal(gotParts, wantParts) {
				t.Fatalf("%s: after %q the view is\n%q %q\nbut a rebuild gives\n%q %q", name, st.Text(), got, gotParts, want, wantParts)
			}
			s.view = view
		}
	}
}
