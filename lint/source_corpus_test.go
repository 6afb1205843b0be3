package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpus reads and parses every migration of ../shared/corpus (real
// projects' migrations, present only on machines that have it).
func TestCorpus(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		t.Skip("no corpus at", root)
	}
	srcs, errs := ReadPaths([]string{root}, nil, ReadOptions{})
	for _, e := range errs {
		t.Errorf("read: %s", e.Error())
	}
	var files, top, body, dynamic, downFiles, downErrors int
	formats := map[string]int{}
	for _, src := range srcs {
		files++
		formats[src.Format]++
		stmts, err := Parse(src, Options{})
		if err != nil {
			t.Errorf("parse: %s", err.Error())
			continue
		}
		if _, err := Parse(src, Options{IncludeDown: true}); err != nil {
			downErrors++ // newer syntax in down code: only an error with --include-down
		}
		isDownFile := filepath.Base(src.Path) == "down.sql"
		if isDownFile {
			downFiles++
		}
		for _, st := range stmts {
			if st.Context == "" {
				top++
			} else {
				body++
			}
			if st.Dynamic {
				dynamic++
			}
			if st.Start < 0 || st.End > len(src.Text) || st.Start > st.End {
				t.Errorf("%s: statement span %d-%d out of bounds", src.Path, st.Start, st.End)
			}
			if isDownFile && !st.Down {
				t.Errorf("%s:%v: statement of a down file not marked Down", src.Path, st.Pos())
			}
			if src.Format == "dbmate" && !st.Down {
				for _, c := range src.Chunks {
					if c.Down && st.Start >= c.Start && st.Start < c.End {
						t.Errorf("%s:%v: statement in a dbmate down section not marked Down", src.Path, st.Pos())
					}
				}
			}
			if src.Format == "dbmate" && strings.Contains(src.Path, "supabase") && st.Context == "" && !st.Down && st.Tx == 0 && !isTxControlStmt(st) {
				t.Errorf("%s:%v: dbmate statement outside the wrapping transaction", src.Path, st.Pos())
			}
		}
	}
	t.Logf("corpus: %d files %v, %d down.sql, %d top-level statements, %d body statements, %d dynamic EXECUTEs; %d files fail to parse with IncludeDown",
		files, formats, downFiles, top, body, dynamic, downErrors)
}

func isTxControlStmt(st *Statement) bool {
	k, _ := txKind(st.Node)
	return k != ""
}
