package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// observe records what st did to the transaction (or, for autocommit, the
// session): strong locks taken and lock_timeout settings. locks are the
// locks st took, computed against the schema as it stood before st.
func (tx *TxState) observe(st *Statement, locks []Lock) {
	if vs := st.Node.GetVariableSetStmt(); vs != nil {
		switch strings.ToLower(vs.Name) {
		case "lock_timeout":
			tx.SetLockTimeout = lockTimeoutValue(vs) != "0"
		case "timezone":
			tx.TimeZoneUTC = TimeZoneIsUTC(lockTimeoutValue(vs))
		}
		return
	}
	if st.Tx == 0 {
		// Autocommit: locks end with the statement.
		return
	}
	for _, l := range locks {
		if IsStrong(l.Mode) && !contains(tx.StrongLocks, l.Relation) {
			tx.StrongLocks = append(tx.StrongLocks, l.Relation)
		}
	}
}

// lockTimeoutValue returns the value a SET lock_timeout assigns, "0" for
// RESET / SET ... TO DEFAULT (the default is 0: wait forever).
func lockTimeoutValue(vs *pg_query.VariableSetStmt) string {
	if vs.GetKind() != pg_query.VariableSetKind_VAR_SET_VALUE {
		return "0"
	}
	args := vs.GetArgs()
	if len(args) == 0 {
		return "0"
	}
	c := args[0].GetAConst()
	if c == nil {
		return "?"
	}
	if iv := c.GetIval(); iv != nil {
		return itoa(int(iv.Ival))
	}
	if sv := c.GetSval(); sv != nil {
		v := strings.TrimSpace(sv.Sval)
		if v == "" || strings.Trim(v, "0") == "" || strings.TrimLeft(v, "0") == "s" || strings.TrimLeft(v, "0") == "ms" {
			return "0"
		}
		return v
	}
	return "?"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
