package lint

var ruleDynamicSQL = register(&Rule{
	Name:     "dynamic-sql",
	Doc:      "EXECUTE of SQL built at run time cannot be checked",
	Severity: SeverityInfo,
	Run: func(pass *Pass) {
		if !pass.Stmt.Dynamic {
			return
		}
		where := "a function body"
		if pass.Stmt.Context != "" {
			where = pass.Stmt.Context
		}
		pass.Report(Finding{
			Message: "EXECUTE in " + where + " runs SQL that is only known at run time; its locks, rewrites and scans are unverifiable here, so review what it can execute",
			Locks:   []Lock{},
			Fix: "-- If the statement is fixed, write it as plain SQL so it can be linted;\n" +
				"-- if it must stay dynamic, lint a representative expansion of it and set lock_timeout before running it.",
		})
	},
})
