package lint

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var ruleAttachPartition = register(&Rule{
	Name:     "attach-partition",
	Doc:      "ATTACH PARTITION without a validated CHECK implying the bound scans the partition under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := pass.Stmt.Node.GetAlterTableStmt()
		if at == nil || at.Objtype != pg_query.ObjectType_OBJECT_TABLE || inFunctionBody(pass.Stmt) {
			return
		}
		parent := RangeVarName(at.Relation)
		for _, cn := range at.Cmds {
			cmd := cn.GetAlterTableCmd()
			if cmd == nil || cmd.Subtype != pg_query.AlterTableType_AT_AttachPartition {
				continue
			}
			pc := cmd.Def.GetPartitionCmd()
			if pc == nil || pc.Name == nil {
				continue
			}
			part := RangeVarName(pc.Name)
			if !relExisting(pass, part) || hasValidBoundCheck(pass.Schema.Table(part)) {
				// A new table is empty: its check costs nothing.
				continue
			}
			qp, qpart := displayQuoted(parent), displayQuoted(part)
			msg := "ATTACH PARTITION " + qpart + " takes ACCESS EXCLUSIVE on " + qpart + ", which blocks its reads and writes, and scans every row of it to prove the bound, because no validated CHECK constraint on it implies the bound"
			if pass.Options.PGVersion > 0 && pass.Options.PGVersion < 12 {
				msg += "; before PostgreSQL 12 the parent " + qp + " is locked ACCESS EXCLUSIVE for the same time"
			} else {
				msg += " (the parent " + qp + " only gets SHARE UPDATE EXCLUSIVE)"
			}
			msg += "; if " + qp + " has a DEFAULT partition, that partition is scanned under ACCESS EXCLUSIVE too"
			check := boundCheck(pc.Bound)
			cname := QuoteIdent(baseName(qualify(part)) + "_bound")
			var fix string
			if check != "" {
				fix = "-- 1. Prove the bound without blocking: NOT VALID is instant, VALIDATE scans under SHARE UPDATE EXCLUSIVE (reads and writes continue).\n" +
					"--    <key> is the partition key of " + qp + ".\n" +
					"ALTER TABLE " + qpart + " ADD CONSTRAINT " + cname + " CHECK (" + check + ") NOT VALID;\n" +
					"-- 2. In its own transaction:\n" +
					"ALTER TABLE " + qpart + " VALIDATE CONSTRAINT " + cname + ";\n" +
					"-- 3. If " + qp + " has a DEFAULT partition, add and validate on it a CHECK that excludes this range the same way.\n" +
					"-- 4. Attach: no scan now.\n" +
					Deparse(pass.Stmt.Node) + ";\n" +
					"-- 5. The check has done its job:\n" +
					"ALTER TABLE " + qpart + " DROP CONSTRAINT " + cname + ";"
			} else {
				fix = "-- A DEFAULT or hash partition has no simple CHECK form; attach it while " + qpart + " is small or idle,\n" +
					"-- with a short lock wait:\nSET LOCAL lock_timeout = '2s';\n" + Deparse(pass.Stmt.Node) + ";"
			}
			pass.Report(Finding{
				Message: msg,
				Locks:   strongLocks(pass.locks()),
				Scan:    true,
				Fix:     fix,
			})
		}
	},
})

// hasValidBoundCheck reports whether the partition carries a validated
// CHECK constraint other than a bare IS NOT NULL. The model keeps no
// constraint expressions, so any such check is taken as the one written
// for the bound; PostgreSQL itself decides whether it implies the bound.
func hasValidBoundCheck(t *Table) bool {
	for _, c := range t.constraintsOfKind("check") {
		if c.Valid && c.NotNullOf == "" {
			return true
		}
	}
	return false
}
