package lint

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// TestNamedRelationsTypedPathsMatchWalk holds the typed shortcuts of
// namedRelations (CREATE INDEX, CREATE TABLE) to the reflective walk they
// replace, over every such statement in the rule testdata and, when
// present, the shared corpus.
func TestNamedRelationsTypedPathsMatchWalk(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sql")
	_ = filepath.WalkDir("../../shared/corpus", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".sql" {
			files = append(files, path)
		}
		return nil
	})
	checked := 0
	for _, path := range files {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := pg_query.Parse(string(text))
		if err != nil {
			continue // the testdata holds deliberately broken SQL too
		}
		for _, raw := range res.Stmts {
			n := raw.Stmt
			if n.GetIndexStmt() == nil && n.GetCreateStmt() == nil {
				continue
			}
			want := map[string]bool{}
			walkRangeVars(n, want)
			got := namedRelations(n)
			if !maps.Equal(got, want) {
				t.Errorf("%s: %s\n typed: %v\n  walk: %v", path, Deparse(n), slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("only %d CREATE INDEX / CREATE TABLE statements checked; the testdata went missing?", checked)
	}
	t.Logf("%d statements checked", checked)
}

// TestFKLocksOtherTableIsDeterministic: a locked table referenced by
// several named tables used to be explained through whichever one map
// iteration met first, so the same migration linted differently from run
// to run.
func TestFKLocksOtherTableIsDeterministic(t *testing.T) {
	earlier := []byte(`CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE kid_b (id int PRIMARY KEY, parent_id int REFERENCES parent);
CREATE TABLE kid_a (id int PRIMARY KEY, parent_id int REFERENCES parent);
`)
	later := []byte("DROP TABLE kid_b, kid_a;\n")
	var first string
	for i := 0; i < 40; i++ {
		res := Lint([]*Source{ReadSource("1.sql", earlier, ReadOptions{}), ReadSource("2.sql", later, ReadOptions{})},
			Config{Only: []string{ruleFKLocksOtherTable.Name}})
		var msgs []string
		for _, f := range res.Findings {
			msgs = append(msgs, f.Message)
		}
		got := strings.Join(msgs, "\n")
		if i == 0 {
			first = got
			if !strings.Contains(got, "referenced by a foreign key of kid_a") {
				t.Fatalf("want the finding to cite kid_a, the first named table in name order; got %q", got)
			}
			continue
		}
		if got != first {
			t.Fatalf("run %d differs:\n%s\nfirst run:\n%s", i, got, first)
		}
	}
}
