package lint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lintBoth lints the sources once whole and once streamed in windows of
// window bytes, and fails when the results differ in any way.
func lintBoth(t *testing.T, name string, window int, cfg Config, read func() []*Source) {
	t.Helper()
	saveMin, saveWin := streamMinBytes, streamWindowBytes
	defer func() { streamMinBytes, streamWindowBytes = saveMin, saveWin }()

	streamMinBytes = 1 << 62
	cfgWhole := cfg
	if cfg.Schema != nil {
		cfgWhole.Schema = cfg.Schema.clone()
	}
	whole := Lint(read(), cfgWhole)
	streamMinBytes, streamWindowBytes = 0, window
	cfgStream := cfg
	if cfg.Schema != nil {
		cfgStream.Schema = cfg.Schema.clone()
	}
	streamed := Lint(read(), cfgStream)

	a, _ := json.Marshal(whole)
	b, _ := json.Marshal(streamed)
	if string(a) != string(b) {
		t.Errorf("%s (window %d): streamed result differs\nwhole:    %.2000s\nstreamed: %.2000s", name, window, a, b)
	}
	if cfg.Schema != nil {
		sa, _ := json.Marshal(cfgWhole.Schema.Tables)
		sb, _ := json.Marshal(cfgStream.Schema.Tables)
		ia, _ := json.Marshal(cfgWhole.Schema.Indexes)
		ib, _ := json.Marshal(cfgStream.Schema.Indexes)
		if string(sa) != string(sb) || string(ia) != string(ib) {
			t.Errorf("%s (window %d): the schema after streaming differs", name, window)
		}
	}
}

func TestStreamMatchesWhole(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sql")
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		all.WriteString("\n;\n")
		text := b
		for _, w := range []int{1, 300} {
			lintBoth(t, f, w, Config{}, func() []*Source { return []*Source{ReadSource(f, text, ReadOptions{})} })
		}
	}
	cases := map[string]string{
		"all-testdata.sql": all.String(),
		"bench.sql":        benchMigration(3000),
		"late-index.sql": `CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int, a_id int REFERENCES a (id));
ALTER TABLE b ADD CONSTRAINT b_a2 FOREIGN KEY (id) REFERENCES a (id);
SELECT 1; SELECT 2; SELECT 3; SELECT 4; SELECT 5; SELECT 6; SELECT 7;
CREATE INDEX ON b (a_id);
-- migrate:ignore-file foreign-key-without-index
`,
		"ignores.sql": `ALTER TABLE t ADD COLUMN c int NOT NULL; -- migrate:ignore adding-required-column
-- migrate:ignore require-concurrent-index
CREATE INDEX i ON t (c);
DO $$ BEGIN
  -- migrate:ignore require-concurrent-index
  CREATE INDEX j ON t (c);
END $$;
-- migrate:ignore truncate-table, nonexistent-rule
`,
		"syntax-error.sql": "CREATE TABLE x (id int);\nALTER TABLE x ADD COLUMN y int;\nSELECT 1;\nSELEC 2;\n",
		"tx.sql":           "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (c);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;\nCOMMIT;\nSET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN d int DEFAULT random();\n",
	}
	for name, text := range cases {
		for _, w := range []int{1, 64, 512} {
			text := text
			lintBoth(t, name, w, Config{}, func() []*Source { return []*Source{ReadSource(name, []byte(text), ReadOptions{})} })
			lintBoth(t, name+" assumed tx", w, Config{Options: Options{AssumeInTransaction: true}},
				func() []*Source {
					return []*Source{ReadSource(name, []byte(text), ReadOptions{AssumeInTransaction: true})}
				})
		}
	}
	// Runner formats: goose and dbmate wrap chunks, golang-migrate sends
	// one implicit transaction, down code is skipped (or, when it does
	// not parse, ignored).
	formats := map[string]string{
		"20240101_x.sql":      "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN CREATE INDEX k ON t (c); RETURN 1; END $$;\n-- +goose StatementEnd\n-- +goose Down\nDROP INDEX i;\nNOT SQL AT ALL;\n",
		"1_x.up.sql":          "CREATE INDEX CONCURRENTLY i ON t (c);\nALTER TABLE t ADD COLUMN d int;\n",
		"2_y.up.sql":          "ALTER TABLE t ADD COLUMN e int;\n",
		"20240102_dbmate.sql": "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i2 ON t (c);\n-- migrate:down\nDROP INDEX i2;\n",
	}
	for name, text := range formats {
		for _, w := range []int{1, 40} {
			name, text := name, text
			for _, down := range []bool{false, true} {
				lintBoth(t, name, w, Config{Options: Options{IncludeDown: down}},
					func() []*Source { return []*Source{ReadSource(name, []byte(text), ReadOptions{})} })
			}
		}
	}
	// Several sources sharing a schema, one of them failing to parse
	// after others were applied, on top of a given model.
	given := NewSchema()
	given.Tables["public.t"] = &Table{Name: "public.t", Kind: "table", Columns: []*Column{{Name: "c", Type: TypeName{Name: "int4"}}}}
	given.Indexes["public.t_c"] = &Index{Name: "public.t_c", Table: "public.t", Columns: []string{"c"}}
	lintBoth(t, "multi", 32, Config{Schema: given}, func() []*Source {
		return []*Source{
			ReadSource("1.sql", []byte("CREATE TABLE u (id int PRIMARY KEY, t_c int);\nALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES u (id);\n"), ReadOptions{}),
			ReadSource("2.sql", []byte("ALTER TABLE u ADD COLUMN z int;\nDROP TABLE t;\nSELEC;\n"), ReadOptions{}),
			ReadSource("3.sql", []byte("ALTER TABLE t ALTER COLUMN c TYPE bigint;\nALTER TABLE u RENAME TO v;\n"), ReadOptions{}),
		}
	})
	// The corpus, when present.
	for _, pattern := range []string{"../../shared/corpus/*/*/*.sql", "../../shared/corpus/*/*/*/*.sql"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			p := p
			lintBoth(t, p, 2048, Config{}, func() []*Source { return []*Source{ReadSource(p, b, ReadOptions{})} })
		}
	}
}
