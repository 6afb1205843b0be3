package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A3: PostgreSQL 11+ stores a non-volatile default once in the catalog and
// leaves existing rows alone; a volatile one must be computed per row, which
// means rewriting the table and all its indexes under ACCESS EXCLUSIVE.
var ruleAddingVolatileDefault = register(&Rule{
	Name:     "adding-volatile-default",
	Doc:      "ADD COLUMN with a volatile DEFAULT (random(), gen_random_uuid(), nextval(), ...) rewrites the table under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			cd := addedColumn(cmd)
			if cd == nil {
				continue
			}
			def := columnDefault(cd)
			fn := volatileCall(def)
			if fn == "" {
				continue
			}
			col := QuoteIdent(cd.Colname)
			why := fn + " is volatile, so PostgreSQL computes it for every existing row "
			if !knownVolatile[strings.TrimSuffix(fn, "()")] {
				why = fn + " is not known to be IMMUTABLE or STABLE; if it is VOLATILE (the default for CREATE FUNCTION), PostgreSQL computes it for every existing row "
			}
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + " DEFAULT " + DeparseExpr(def) + ": " + why +
					"and rewrites " + at.sql() + " and all its indexes while holding " + lockPhrase(AccessExclusive, at.name) +
					" for the whole rewrite. Add the column without the default, set the default for new rows, and backfill in batches.",
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Rewrite: true,
				Fix:     volatileDefaultFix(pass, at, cd, def),
			})
		}
	},
})

// volatileDefaultFix is R1 (locks.md §1.11) with the statement's names.
func volatileDefaultFix(pass *Pass, at *alterTarget, cd *pg_query.ColumnDef, def *pg_query.Node) string {
	var r recipe
	r.note(at.alone("ADD COLUMN " + QuoteIdent(cd.Colname)))
	col := QuoteIdent(cd.Colname)
	r.step("Own transaction: add the column with no default (catalog only, brief ACCESS EXCLUSIVE).",
		alterSQL(at.stmt.Relation, addColumnCmd(plainColumnDef(cd, nil))))
	r.step("Same or next transaction: a default set afterwards applies to new rows only and rewrites nothing.",
		"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" SET DEFAULT "+DeparseExpr(def))
	r.step("Outside any transaction: fill the existing rows in batches.",
		"-- "+backfillComment(at.name, col+" = "+DeparseExpr(def), col+" IS NULL"))
	if columnNotNull(cd) {
		notNullSteps(&r, at.name, cd.Colname, pass.Options.PGVersion, "")
	}
	if hasConstraint(cd, pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_FOREIGN,
		pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY) {
		r.note("Then add the column's constraints one by one as docs/rules/adding-column-with-constraint.md shows.")
	}
	return r.String()
}

// volatileCall returns the first call in expr that may be volatile, as
// "name()", or "" when every call is on the allow-list of functions
// PostgreSQL marks IMMUTABLE or STABLE. A function outside the list —
// including any user function — counts as volatile: guessing wrong the other
// way would hide a full-table rewrite.
func volatileCall(expr *pg_query.Node) string {
	found := ""
	walkExpr(expr, func(n *pg_query.Node) bool {
		if found != "" {
			return false
		}
		switch {
		case n.GetFuncCall() != nil:
			name := funcName(n.GetFuncCall())
			if !nonVolatileFuncs[name] {
				found = name + "()"
				return false
			}
		case n.GetSubLink() != nil:
			found = "a subquery"
			return false
		}
		return true
	})
	return found
}

// knownVolatile are the volatile built-ins migrations use as defaults; the
// message can be definite about these.
var knownVolatile = map[string]bool{
	"random": true, "clock_timestamp": true, "gen_random_uuid": true, "uuid_generate_v1": true,
	"uuid_generate_v1mc": true, "uuid_generate_v4": true, "nextval": true, "timeofday": true,
	"random_normal": true, "gen_random_bytes": true, "uuidv4": true, "uuidv7": true,
}

// funcName is a call's name with the pg_catalog schema dropped, since
// pg_catalog.now() is the same function as now(); any other schema keeps
// its prefix and so never matches the allow-list.
func funcName(f *pg_query.FuncCall) string {
	return strings.TrimPrefix(NameList(f.Funcname), "pg_catalog.")
}

// nonVolatileFuncs are built-in functions whose pg_proc.provolatile is
// 'i' or 's'. CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIMESTAMP, CURRENT_USER
// and friends are not calls in the parse tree (SQLValueFunction) and are
// all stable.
var nonVolatileFuncs = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(`
		now transaction_timestamp statement_timestamp
		date_trunc date_part extract date_bin make_date make_time make_timestamp make_timestamptz
		make_interval to_timestamp to_date to_char to_number timezone age isfinite
		justify_days justify_hours justify_interval
		lower upper initcap length char_length character_length octet_length bit_length
		concat concat_ws substr substring left right trim btrim ltrim rtrim replace translate
		lpad rpad repeat reverse split_part format md5 sha224 sha256 sha384 sha512 encode decode
		quote_ident quote_literal quote_nullable regexp_replace strpos position overlay ascii chr
		to_hex starts_with normalize
		abs round trunc floor ceil ceiling power pow mod sqrt cbrt sign div exp ln log log10 pi
		degrees radians
		jsonb_build_object jsonb_build_array json_build_object json_build_array to_jsonb to_json
		jsonb_object json_object array_to_json row_to_json jsonb_strip_nulls json_strip_nulls
		jsonb_set jsonb_insert
		array_append array_prepend array_cat array_fill array_length cardinality string_to_array
		array_to_string array_remove array_replace
		current_setting current_database current_schema current_schemas
		int2 int4 int8 numeric float4 float8 text varchar bpchar bool date timestamp timestamptz
		interval time timetz
		uuid_nil uuid_ns_dns uuid_ns_url uuid_ns_oid uuid_ns_x500 uuid_generate_v3 uuid_generate_v5
	`) {
		m[f] = true
	}
	return m
}()
