package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleDomainAddConstraint = register(&Rule{
	Name:     "domain-add-constraint",
	Doc:      "ALTER DOMAIN ... ADD CONSTRAINT (or SET NOT NULL) locks every table using the domain SHARE and scans it",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		d := pass.Stmt.Node.GetAlterDomainStmt()
		if d == nil || !domainChangeScans(d) || inFunctionBody(pass.Stmt) {
			return
		}
		typ := qualify(NameList(d.TypeName))
		var users []string
		for _, t := range tablesUsingType(pass.Schema, typ) {
			if relExisting(pass, t) {
				users = append(users, t)
			}
		}
		if dt := pass.Schema.Types[typ]; dt != nil && dt.Origin == pass.Stmt.Source && len(users) == 0 {
			// A domain this migration created is only used by tables it
			// created: nothing to scan.
			return
		}
		q := displayQuoted(typ)
		on := "every table with a column of domain " + q
		if len(users) > 0 {
			on += " (" + joinDisplay(users) + ")"
		}
		name, check := "", ""
		if d.Subtype == "O" {
			name = baseName(typ) + "_not_null"
			check = "VALUE IS NOT NULL"
		} else if con := d.Def.GetConstraint(); con != nil {
			name = con.Conname
			if name == "" {
				name = baseName(typ) + "_check"
			}
			if con.Contype == pg_query.ConstrType_CONSTR_CHECK {
				check = DeparseExpr(con.RawExpr)
			} else if con.Contype == pg_query.ConstrType_CONSTR_NOTNULL {
				check = "VALUE IS NOT NULL"
			}
		}
		if check == "" {
			check = "<condition>"
		}
		cn := QuoteIdent(name)
		pass.Report(Finding{
			Message: "ALTER DOMAIN " + q + " " + domainAction(d) + " takes SHARE on " + on + ", which blocks writes (INSERT, UPDATE, DELETE) to them " +
				"while every stored value is checked; add the constraint NOT VALID (no table locks, new values are checked at once) and validate it separately",
			Locks: strongLocks(pass.locks()),
			Scan:  true,
			Fix: "ALTER DOMAIN " + q + " ADD CONSTRAINT " + cn + " CHECK (" + check + ") NOT VALID;\n" +
				"-- later, in its own transaction, when writes to those tables can pause for the length of a scan:\n" +
				"ALTER DOMAIN " + q + " VALIDATE CONSTRAINT " + cn + ";\n" +
				"-- Validating a domain constraint still locks each using table SHARE while it scans (unlike a table's VALIDATE CONSTRAINT).\n" +
				"-- For large tables, check the columns with table constraints instead: ALTER TABLE <t> ADD CONSTRAINT ... CHECK (<column> ...) NOT VALID,\n" +
				"-- then ALTER TABLE <t> VALIDATE CONSTRAINT ..., which scans under SHARE UPDATE EXCLUSIVE and lets writes continue.",
		})
	},
})

func domainAction(d *pg_query.AlterDomainStmt) string {
	if d.Subtype == "O" {
		return "SET NOT NULL"
	}
	return "ADD CONSTRAINT"
}
