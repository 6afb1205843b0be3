package lint

var ruleLockTable = register(&Rule{
	Name:     "lock-table",
	Doc:      "LOCK TABLE in SHARE mode or stronger on an existing table blocks writes (or reads) until the transaction ends",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		l := pass.Stmt.Node.GetLockStmt()
		if l == nil {
			return
		}
		mode := lockModeByNumber[l.Mode]
		if mode == "" {
			mode = AccessExclusive
		}
		var tables []string
		for _, r := range l.Relations {
			if rv := r.GetRangeVar(); rv != nil && relExisting(pass, RangeVarName(rv)) {
				tables = append(tables, RangeVarName(rv))
			}
		}
		if len(tables) == 0 {
			return
		}
		f := Finding{Locks: pass.locks()}
		if !IsStrong(mode) {
			// A weak explicit lock blocks no application traffic; it is
			// worth a note only because it still queues behind DDL.
			f.Severity = SeverityInfo
			f.Message = "LOCK TABLE " + joinDisplay(tables) + " IN " + mode + " MODE blocks neither reads nor writes; it only conflicts with DDL and other explicit locks, and is held until the transaction ends"
			f.Fix = "-- usually unnecessary in a migration; if kept, set a lock_timeout first:\nSET LOCAL lock_timeout = '2s';"
			pass.Report(f)
			return
		}
		f.Message = "LOCK TABLE " + joinDisplay(tables) + " IN " + mode + " MODE " + blocksPhrase(mode) + " on " + joinDisplay(tables) +
			" from the moment it is queued until the transaction ends, including every statement that follows it in the transaction"
		f.Fix = "-- Avoid explicit locks in migrations: each DDL statement takes the lock it needs.\n" +
			"-- If the lock is really needed, keep the transaction to this lock and the one statement that needs it, with a timeout:\n" +
			"SET LOCAL lock_timeout = '2s';\n" + pass.Stmt.Text() + ";\n-- <the statement that needs it>, then COMMIT at once; retry the transaction on lock timeout"
		pass.Report(f)
	},
})
