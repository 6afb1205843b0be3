package lint

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
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
