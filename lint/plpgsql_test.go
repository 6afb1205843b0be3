package lint

import (
	"fmt"
	"strings"
	"testing"
)

func TestBodies(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // "context|dynamic|node type|text"
	}{
		{
			name: "DO block",
			text: "DO $do$\nBEGIN\n  ALTER TABLE users ADD COLUMN email text;\n  PERFORM pg_sleep(1);\nEND\n$do$;",
			want: []string{
				"|false|DoStmt|DO $do$\nBEGIN\n  ALTER TABLE users ADD COLUMN email text;\n  PERFORM pg_sleep(1);\nEND\n$do$",
				"DO block|false|AlterTableStmt|ALTER TABLE users ADD COLUMN email text",
			},
		},
		{
			name: "plpgsql function with index and dynamic SQL",
			text: `CREATE OR REPLACE FUNCTION public.mk(t text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  n int;
BEGIN
  IF t = 'x' THEN
    CREATE INDEX CONCURRENTLY items_name ON items (name);
  END IF;
  SELECT count(*) INTO n FROM items;
  EXECUTE format('ALTER TABLE %I ADD COLUMN d int', t);
  EXECUTE 'DROP TABLE old_items';
END
$fn$;`,
			want: []string{
				"|false|CreateFunctionStmt|",
				"function public.mk()|false|IndexStmt|CREATE INDEX CONCURRENTLY items_name ON items (name)",
				"function public.mk()|false|SelectStmt|SELECT count(*) INTO n FROM items",
				"function public.mk()|true|<nil>|EXECUTE format('ALTER TABLE %I ADD COLUMN d int', t)",
				"function public.mk()|false|DropStmt|EXECUTE 'DROP TABLE old_items'",
			},
		},
		{
			name: "BEGIN ATOMIC",
			text: "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC\n  INSERT INTO t VALUES (1);\n  SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND;\nSELECT 1;",
			want: []string{
				"|false|CreateFunctionStmt|",
				"procedure p()|false|InsertStmt|INSERT INTO t VALUES (1)",
				"procedure p()|false|SelectStmt|SELECT CASE WHEN true THEN 1 ELSE 2 END",
				"|false|SelectStmt|SELECT 1",
			},
		},
		{
			name: "LANGUAGE sql string body with doubled quotes",
			text: "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'UPDATE t SET a = ''x''; DELETE FROM t';",
			want: []string{
				"|false|CreateFunctionStmt|",
				"function f()|false|UpdateStmt|UPDATE t SET a = ''x''",
				"function f()|false|DeleteStmt|DELETE FROM t",
			},
		},
		{
			name: "RETURN body and C function have no statements",
			text: "CREATE FUNCTION g() RETURNS int RETURN 1;\nCREATE FUNCTION h() RETURNS int LANGUAGE c AS 'lib', 'h';\nCREATE FUNCTION k() RETURNS int LANGUAGE plpgsql RETURN 1;",
			want: []string{"|false|CreateFunctionStmt|", "|false|CreateFunctionStmt|", "|false|CreateFunctionStmt|"},
		},
		{
			name: "nested function created by a DO block",
			text: "DO $$\nBEGIN\n  CREATE FUNCTION inner_f() RETURNS void LANGUAGE sql AS $b$ TRUNCATE t $b$;\nEND $$;",
			want: []string{
				"|false|DoStmt|",
				"DO block|false|CreateFunctionStmt|CREATE FUNCTION inner_f() RETURNS void LANGUAGE sql AS $b$ TRUNCATE t $b$",
				"function inner_f()|false|TruncateStmt|TRUNCATE t",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts := mustParse(t, "f.sql", tt.text, ReadOptions{AssumeInTransaction: true})
			var got []string
			for _, st := range stmts {
				typ := "<nil>"
				if st.Node != nil {
					typ = strings.TrimPrefix(fmt.Sprintf("%T", st.Node.Node), "*pg_query.Node_")
				}
				txt := st.Text()
				if st.Context == "" && strings.HasPrefix(typ, "Create") {
					txt = ""
				}
				if st.Context == "" && typ == "DoStmt" && !strings.Contains(tt.want[0], "DO $") {
					txt = ""
				}
				got = append(got, st.Context+"|"+boolStr(st.Dynamic, "true", "false")+"|"+typ+"|"+txt)
				if st.Context != "" && (st.Tx != stmts[0].Tx || !st.InTxBlock) {
					t.Errorf("%q does not inherit the transaction", st.Text())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
