package lint

import (
	"reflect"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// enumValuesAdded remembers, per transaction, the enum values ADD VALUE
// created in it. The schema model records the transaction id of an added
// value, but ids are numbered per source, so a value added by an earlier
// migration file could look like one added in this transaction.
var enumValuesAdded txMemo[map[string]string]

var ruleEnumValueUsedInTransaction = register(&Rule{
	Name:     "enum-value-used-in-transaction",
	Doc:      "an enum value added by ALTER TYPE ... ADD VALUE is used before the transaction that added it commits",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		st := pass.Stmt
		if e := st.Node.GetAlterEnumStmt(); e != nil {
			if e.NewVal == "" || e.OldVal != "" {
				return // RENAME VALUE
			}
			typ := qualify(NameList(e.TypeName))
			if v := pass.Options.PGVersion; v > 0 && v < 12 && mustRunInTx(st) {
				pass.Report(Finding{
					Message: "ALTER TYPE " + displayQuoted(typ) + " ADD VALUE cannot run inside a transaction block before PostgreSQL 12: the migration fails as written",
					Locks:   []Lock{},
					Fix:     "-- " + outsideTxHint(st) + ":\n" + st.Text() + ";",
				})
				return
			}
			if st.Tx != 0 {
				seen, _ := enumValuesAdded.get(pass.Tx)
				added := map[string]string{}
				for k, v := range seen {
					added[k] = v
				}
				added[e.NewVal] = typ
				enumValuesAdded.set(pass.Tx, added)
			}
			return
		}
		if st.Tx == 0 || inFunctionBody(st) {
			return
		}
		added, ok := enumValuesAdded.get(pass.Tx)
		if !ok || len(added) == 0 {
			return
		}
		for _, lit := range stringLiterals(st.Node) {
			typ, ok := added[lit]
			if !ok {
				continue
			}
			q := displayQuoted(typ)
			pass.Report(Finding{
				Message: "enum value " + sqlStringLiteral(lit) + " was added to " + q + " earlier in this transaction and cannot be used before that transaction commits: " +
					"PostgreSQL fails with \"unsafe use of new value\"",
				Locks: []Lock{},
				Fix: "-- Commit the new value first: end the transaction after the ALTER TYPE and run this statement in a later one\n" +
					"-- (with a wrapping runner, move it to the next migration file):\n" +
					"ALTER TYPE " + q + " ADD VALUE IF NOT EXISTS " + sqlStringLiteral(lit) + ";\nCOMMIT;\n" + st.Text() + ";",
			})
			return
		}
	},
})

// stringLiterals collects the string constants anywhere in a statement.
// The AST is walked by reflection: an enum value can appear in any
// expression position (VALUES, SET, WHERE, DEFAULT, CHECK, casts).
func stringLiterals(n *pg_query.Node) []string {
	var out []string
	var walk func(v reflect.Value, depth int)
	constType := reflect.TypeOf(&pg_query.A_Const{})
	walk = func(v reflect.Value, depth int) {
		if depth > 200 || !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			if v.Type() == constType {
				if s := v.Interface().(*pg_query.A_Const).GetSval(); s != nil {
					out = append(out, s.Sval)
				}
				return
			}
			walk(v.Elem(), depth+1)
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < v.NumField(); i++ {
				if t.Field(i).IsExported() {
					walk(v.Field(i), depth+1)
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), depth+1)
			}
		}
	}
	walk(reflect.ValueOf(n), 0)
	return out
}
