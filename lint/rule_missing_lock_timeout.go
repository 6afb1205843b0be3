package lint

// lockTimeoutReported marks the transactions (and autocommit sessions)
// that already have a missing-lock-timeout finding: one per transaction
// says everything, one per statement is the noise that makes teams turn
// such rules off.
var lockTimeoutReported txMemo[bool]

var ruleMissingLockTimeout = register(&Rule{
	Name:     "missing-lock-timeout",
	Doc:      "a strong lock on an existing table is requested with no lock_timeout set, so a long wait stalls all traffic queued behind it",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if pass.Tx == nil || pass.Tx.SetLockTimeout || inFunctionBody(st) {
			return
		}
		strong := strongLocks(pass.locks())
		if len(strong) == 0 {
			return
		}
		if done, _ := lockTimeoutReported.get(pass.Tx); done {
			return
		}
		lockTimeoutReported.set(pass.Tx, true)
		var took []string
		for _, l := range strong {
			took = append(took, describeLock(l))
		}
		scope := "this transaction"
		set := "SET LOCAL lock_timeout = '2s';"
		where := "as the first statement of the transaction"
		if st.Tx == 0 {
			scope = "this file"
			set = "SET lock_timeout = '2s';"
			where = "at the top of the file (session-level: these statements run outside a transaction)"
		}
		pass.Report(Finding{
			Message: "this statement requests " + joinPhrases(took) + " with no lock_timeout set in " + scope + ": while it waits behind a long-running query, " +
				"every later query on the table queues behind it, so a catalog-only change becomes an outage; reported once for " + scope,
			Locks: strong,
			Fix: set + "\n-- " + where + "; on lock timeout (SQLSTATE 55P03) retry the whole transaction with backoff.\n" +
				"-- Leave CONCURRENTLY statements without a short lock_timeout: they wait for old snapshots and a timeout leaves an invalid index.",
		})
	},
})
