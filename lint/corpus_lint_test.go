package lint

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCorpusLint lints the real migrations of ../shared/corpus the way the
// CLI does (a directory, in version order, one schema model across files):
// nothing may be unlintable, and no finding may land in down code, where
// about half of an undiscerning linter's findings go.
func TestCorpusLint(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		t.Skip("no corpus at", root)
	}
	for _, project := range []string{"lemmy", "supabase-postgres"} {
		dir := filepath.Join(root, project)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		t.Run(project, func(t *testing.T) {
			srcs, errs := ReadPaths([]string{dir}, nil, ReadOptions{})
			for _, e := range errs {
				t.Errorf("read: %s", e.Error())
			}
			res := Lint(srcs, Config{})
			for _, e := range res.Errors {
				t.Errorf("unlintable: %s", e.Error())
			}
			byPath := map[string]*Source{}
			for _, s := range srcs {
				byPath[s.Path] = s
			}
			down := 0
			for _, f := range res.Findings {
				src := byPath[f.File]
				if src == nil {
					t.Errorf("finding in unknown file %s", f.File)
					continue
				}
				if src.Down || inDownChunk(src, f.Line) {
					down++
					if down <= 5 {
						t.Errorf("%s:%d: %s finding in down code", f.File, f.Line, f.Rule)
					}
				}
			}
			if len(res.Findings) == 0 {
				t.Errorf("no findings at all on %s: the corpus has real hazards, so the rules did not run", project)
			}
			t.Logf("%s: %d files, %d findings, %d in down code", project, len(res.Files), len(res.Findings), down)
		})
	}
}

func inDownChunk(src *Source, line int) bool {
	for _, c := range src.Chunks {
		if !c.Down {
			continue
		}
		if start, end := src.Position(c.Start).Line, src.Position(c.End).Line; line >= start && line <= end {
			return true
		}
	}
	return false
}
