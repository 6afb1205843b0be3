package lint

import "strings"

// severalLocksReported marks the transactions already reported: a
// migration that touches ten tables in one transaction has one problem,
// not nine.
var severalLocksReported txMemo[bool]

var ruleSeveralStrongLocks = register(&Rule{
	Name:     "several-strong-locks",
	Doc:      "a transaction takes a strong lock on a table while already holding one on another table",
	Severity: SeverityWarning,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if st.Tx == 0 || pass.Tx == nil || len(pass.Tx.StrongLocks) == 0 || inFunctionBody(st) {
			return
		}
		held := map[string]bool{}
		var heldNames []string
		for _, h := range pass.Tx.StrongLocks {
			k := lockKey(pass.Schema, h)
			if !held[k] {
				held[k] = true
				heldNames = append(heldNames, k)
			}
		}
		var fresh []Lock
		seen := map[string]bool{}
		for _, l := range strongLocks(pass.locks()) {
			k := lockKey(pass.Schema, l.Relation)
			if !held[k] && !seen[k] {
				seen[k] = true
				fresh = append(fresh, l)
			}
		}
		if len(fresh) == 0 {
			return
		}
		if done, _ := severalLocksReported.get(pass.Tx); done {
			return
		}
		severalLocksReported.set(pass.Tx, true)
		var took []string
		for _, l := range fresh {
			took = append(took, describeLock(l))
		}
		pass.Report(Finding{
			Message: "this statement takes " + joinPhrases(took) + " while the transaction already holds a strong lock on " + shortList(heldNames) +
				": every lock is held until COMMIT, so traffic on " + shortList(heldNames) + " stays blocked while this one waits in the lock queue, and the wider lock set invites deadlocks" +
				"; reported once per transaction",
			Locks: fresh,
			Fix: "-- End the transaction after the statements on " + shortList(heldNames) + " and run this one in its own short transaction:\n" +
				"COMMIT;\nBEGIN;\nSET LOCAL lock_timeout = '2s';\n" + st.Text() + ";\nCOMMIT;\n" +
				"-- when both sides of a foreign key must be locked, lock the parent before the child",
		})
	},
})

// lockKey folds an index onto its table, so that a REINDEX followed by an
// ALTER TABLE on the same table counts as one table.
func lockKey(s *Schema, rel string) string {
	if t := tableOfIndex(s, rel); t != "" {
		return t
	}
	return qualify(rel)
}

func joinPhrases(p []string) string {
	switch len(p) {
	case 0:
		return ""
	case 1:
		return p[0]
	}
	out := ""
	for i, s := range p[:len(p)-1] {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out + " and " + p[len(p)-1]
}

// shortList names at most three relations, so a transaction over dozens
// of tables still gives a readable message.
func shortList(names []string) string {
	if len(names) <= 3 {
		return joinDisplay(names)
	}
	return strings.Join(displayNames(names[:3]), ", ") + " and " + itoa(len(names)-3) + " more"
}

func displayNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = DisplayName(qualify(n))
	}
	return out
}
