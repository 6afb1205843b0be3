package lint

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func TestDeparse(t *testing.T) {
	res, err := pg_query.Parse(`ALTER TABLE "Users" ADD COLUMN c int DEFAULT random()`)
	if err != nil {
		t.Fatal(err)
	}
	got := Deparse(res.Stmts[0].Stmt)
	if got != `ALTER TABLE "Users" ADD COLUMN c int DEFAULT random()` {
		t.Errorf("Deparse = %q", got)
	}
	def := res.Stmts[0].Stmt.GetAlterTableStmt().Cmds[0].GetAlterTableCmd().Def.GetColumnDef().Constraints[0].GetConstraint().RawExpr
	if got := DeparseExpr(def); got != "random()" {
		t.Errorf("DeparseExpr = %q", got)
	}
}

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{"users": "users", "Users": `"Users"`, "order": `"order"`, `a"b`: `"a""b"`, "x1_$": "x1_$", "1x": `"1x"`} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
	if got := QuoteQualified("billing.Invoices"); got != `billing."Invoices"` {
		t.Errorf("QuoteQualified = %s", got)
	}
}
