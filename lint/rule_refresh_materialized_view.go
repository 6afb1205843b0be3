package lint

var ruleRefreshMaterializedView = register(&Rule{
	Name:     "refresh-materialized-view",
	Doc:      "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view for the whole refresh",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		r := pass.Stmt.Node.GetRefreshMatViewStmt()
		if r == nil || r.Concurrent || r.Relation == nil {
			return
		}
		mv := RangeVarName(r.Relation)
		if !relExisting(pass, mv) {
			return
		}
		q := displayQuoted(mv)
		if r.SkipData {
			pass.Report(Finding{
				Message: "REFRESH MATERIALIZED VIEW " + q + " WITH NO DATA takes ACCESS EXCLUSIVE on it and leaves it unpopulated: every query on " + q + " fails until the next full refresh",
				Locks:   strongLocks(pass.locks()),
				Fix:     "-- keep the view populated; refresh it concurrently instead:\nREFRESH MATERIALIZED VIEW CONCURRENTLY " + q + ";",
			})
			return
		}
		fix := "REFRESH MATERIALIZED VIEW CONCURRENTLY " + q + ";\n" +
			"-- takes EXCLUSIVE instead: reads of " + q + " continue during the refresh. It needs the view to be populated\n" +
			"-- and a UNIQUE index on it covering all rows (plain columns, no WHERE clause)"
		if !hasUniqueIndex(pass.Schema, mv) {
			fix += "; if there is none yet:\nCREATE UNIQUE INDEX CONCURRENTLY " + QuoteIdent(baseName(qualify(mv))+"_key") + " ON " + q + " (<columns that identify a row>);"
		} else {
			fix += "."
		}
		pass.Report(Finding{
			Message: "REFRESH MATERIALIZED VIEW " + q + " takes ACCESS EXCLUSIVE on it, which blocks every read of the view while the query re-runs and the view is rewritten; use CONCURRENTLY",
			Locks:   strongLocks(pass.locks()),
			Rewrite: true,
			Fix:     fix,
		})
	},
})

func hasUniqueIndex(s *Schema, table string) bool {
	for _, ix := range s.IndexesOn(table) {
		if ix.Unique {
			return true
		}
	}
	return false
}
