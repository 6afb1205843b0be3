package lint

import (
	"runtime"
	"strings"
	"sync"
	"weak"
)

// Helpers shared by the lock rules (index, table, partition, transaction
// shape). Kept apart from the engine so that the rules can be read alone.

// relExisting reports whether the relation existed before the migration
// being linted: unknown relations count as existing.
func relExisting(pass *Pass, rel string) bool {
	return !relationIsNew(pass.Schema, rel, pass.Stmt.Source)
}

// inFunctionBody reports whether the statement sits in a function body:
// it runs when the function is called, not when the migration runs.
func inFunctionBody(st *Statement) bool {
	return strings.HasPrefix(st.Context, "function") || strings.HasPrefix(st.Context, "procedure")
}

// mustRunInTx reports whether the statement can only run inside a
// transaction block: in an explicit or runner transaction, or in any
// DO block or function body, which always execute inside one.
func mustRunInTx(st *Statement) bool {
	return st.InTxBlock || st.Context != ""
}

// blocksPhrase says in words what a lock mode stops application traffic
// from doing.
func blocksPhrase(mode string) string {
	switch mode {
	case AccessExclusive:
		return "blocks reads and writes"
	case Share, ShareRowExclusive, Exclusive:
		return "blocks writes (INSERT, UPDATE, DELETE), not reads"
	}
	return "blocks neither reads nor writes, but queues behind and in front of other DDL"
}

// describeLock renders one lock for a message: "ACCESS EXCLUSIVE on books
// (blocks reads and writes)".
func describeLock(l Lock) string {
	return l.Mode + " on " + l.Relation + " (" + blocksPhrase(l.Mode) + ")"
}

// strongLocks keeps the locks that count as dangerous (SHARE or stronger).
func strongLocks(locks []Lock) []Lock {
	var out []Lock
	for _, l := range locks {
		if IsStrong(l.Mode) {
			out = append(out, l)
		}
	}
	return out
}

// locksOn keeps the locks on the named relations (qualified or display).
func locksOn(locks []Lock, rels ...string) []Lock {
	var out []Lock
	for _, l := range locks {
		for _, r := range rels {
			if qualify(l.Relation) == qualify(r) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// outsideTxHint tells, in the terms of the statement's migration runner,
// how to get a statement out of the transaction block it is in.
func outsideTxHint(st *Statement) string {
	format := ""
	if st.Source != nil {
		format = st.Source.Format
	}
	switch {
	case st.Context != "":
		return "move it out of the " + st.Context + " into a top-level statement that runs outside any transaction block"
	case st.Explicit:
		return "move it after the COMMIT, as a statement of its own outside the BEGIN ... COMMIT block"
	case format == "goose":
		return "move it to a migration file of its own that starts with -- +goose NO TRANSACTION"
	case format == "dbmate":
		return "move it to a migration file of its own whose up section is marked -- migrate:up transaction:false"
	case format == "golang-migrate":
		return "move it to a migration file of its own with no other statement (golang-migrate runs a single-statement file outside a transaction)"
	}
	return "run it as a statement of its own outside any transaction block (a separate migration your runner does not wrap in a transaction)"
}

// txMemo remembers a value per transaction (or per autocommit session)
// for rules that need to know what earlier statements of the same
// transaction did beyond what TxState records. Keys are weak so that a
// finished lint run leaves nothing behind; the mutex covers sources linted
// in parallel.
type txMemo[T any] struct {
	mu sync.Mutex
	m  map[weak.Pointer[TxState]]T
}

func (tm *txMemo[T]) get(tx *TxState) (T, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	v, ok := tm.m[weak.Make(tx)]
	return v, ok
}

func (tm *txMemo[T]) set(tx *TxState, v T) {
	key := weak.Make(tx)
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.m == nil {
		tm.m = map[weak.Pointer[TxState]]T{}
	}
	if _, ok := tm.m[key]; !ok {
		runtime.AddCleanup(tx, tm.forget, key)
	}
	tm.m[key] = v
}

func (tm *txMemo[T]) forget(key weak.Pointer[TxState]) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	delete(tm.m, key)
}

// displayQuoted is a qualified name as SQL the user can paste.
func displayQuoted(qualified string) string { return QuoteQualified(qualify(qualified)) }

// joinDisplay renders relation names for a message: "a, b and c".
func joinDisplay(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = DisplayName(qualify(n))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
