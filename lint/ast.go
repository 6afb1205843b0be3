package lint

import (
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// RangeVarName returns the qualified name of a table reference
// ("public.users" for an unqualified users).
func RangeVarName(rv *pg_query.RangeVar) string {
	if rv == nil {
		return ""
	}
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return "public." + rv.Relname
}

// DisplayName is a qualified name as a user wrote it: the default schema
// is dropped so messages say "users", not "public.users".
func DisplayName(qualified string) string {
	return strings.TrimPrefix(qualified, "public.")
}

// QuoteIdent quotes an identifier when PostgreSQL needs it to: fixes are
// SQL the user will paste, so "Order" must stay "Order".
func QuoteIdent(name string) string {
	if name == "" {
		return `""`
	}
	plain := name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z')
	for i := 1; plain && i < len(name); i++ {
		c := name[i]
		plain = c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	}
	if plain && !reservedWords[name] {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteQualified quotes each part of "schema.name" and drops the default
// schema, for use in generated SQL.
func QuoteQualified(qualified string) string {
	schema, name, ok := strings.Cut(qualified, ".")
	if !ok {
		return QuoteIdent(qualified)
	}
	if schema == "public" {
		return QuoteIdent(name)
	}
	return QuoteIdent(schema) + "." + QuoteIdent(name)
}

// reservedWords are the keywords that cannot be used as bare column or
// table names (PostgreSQL's reserved list, plus a few type-func names).
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric both case cast check
		collate column constraint create current_catalog current_date current_role current_time
		current_timestamp current_user default deferrable desc distinct do else end except false fetch
		for foreign from grant group having in initially intersect into lateral leading limit localtime
		localtimestamp not null offset on only or order placing primary references returning select
		session_user some symmetric system_user table then to trailing true union unique user using
		variadic when where window with authorization binary collation concurrently cross current_schema
		freeze full ilike inner is isnull join left like natural notnull outer overlaps right similar
		tablesample verbose`) {
		m[w] = true
	}
	return m
}()

// Deparse turns a statement node back into SQL text.
func Deparse(stmt *pg_query.Node) string {
	if stmt == nil {
		return ""
	}
	if ix := stmt.GetIndexStmt(); ix != nil {
		if s, ok := fastDeparseIndexStmt(ix); ok {
			return s
		}
	}
	out, err := pg_query.Deparse(&pg_query.ParseResult{Version: parserVersion(), Stmts: []*pg_query.RawStmt{{Stmt: stmt}}})
	if err != nil {
		return ""
	}
	return out
}

// parserVersion is the parse-tree version pg_query stamps on its output;
// Deparse refuses a tree without it. Reading it from a real parse keeps
// it right across pg_query upgrades.
var parserVersion = sync.OnceValue(func() int32 {
	res, err := pg_query.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return res.Version
})

// DeparseExpr turns an expression node back into SQL text, by wrapping it
// in a SELECT and cutting the prefix off again.
func DeparseExpr(expr *pg_query.Node) string {
	if expr == nil {
		return ""
	}
	if s, ok := fastDeparseExpr(expr); ok {
		return s
	}
	sel := &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: expr}}}},
	}}}
	s := Deparse(sel)
	return strings.TrimPrefix(s, "SELECT ")
}

// StringValue returns the string of a String node ("" otherwise).
func StringValue(n *pg_query.Node) string {
	if n == nil {
		return ""
	}
	if s := n.GetString_(); s != nil {
		return s.Sval
	}
	return ""
}

// NameList joins a list of String nodes with dots (qualified names in the AST).
func NameList(nodes []*pg_query.Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		parts = append(parts, StringValue(n))
	}
	return strings.Join(parts, ".")
}

// ColumnNames returns the names of a list of String nodes (constraint keys).
func ColumnNames(nodes []*pg_query.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := StringValue(n); s != "" {
			out = append(out, s)
		} else if ie := n.GetIndexElem(); ie != nil && ie.Name != "" {
			out = append(out, ie.Name)
		}
	}
	return out
}

// TypeNameOf converts a parsed type to the canonical TypeName: the
// parser already maps int/integer to pg_catalog.int4, varchar to
// pg_catalog.varchar and so on; the catalog prefix is dropped.
func TypeNameOf(tn *pg_query.TypeName) TypeName {
	if tn == nil {
		return TypeName{}
	}
	var name string
	// Nearly every type is one name or pg_catalog.name: those need no
	// joined string, and every rule asks for the column types.
	switch {
	case len(tn.Names) == 1:
		name = strings.TrimPrefix(StringValue(tn.Names[0]), "pg_catalog.")
	case len(tn.Names) == 2 && StringValue(tn.Names[0]) == "pg_catalog":
		name = StringValue(tn.Names[1])
	default:
		name = strings.TrimPrefix(NameList(tn.Names), "pg_catalog.")
	}
	switch name {
	case "serial", "serial4":
		name = "serial"
	case "bigserial", "serial8":
		name = "bigserial"
	case "smallserial", "serial2":
		name = "smallserial"
	case "integer", "int":
		name = "int4"
	case "bigint":
		name = "int8"
	case "smallint":
		name = "int2"
	case "character varying":
		name = "varchar"
	case "character", "char":
		name = "bpchar"
	case "decimal":
		name = "numeric"
	case "timestamp with time zone":
		name = "timestamptz"
	case "timestamp without time zone":
		name = "timestamp"
	case "boolean":
		name = "bool"
	case "double precision":
		name = "float8"
	case "real":
		name = "float4"
	}
	out := TypeName{Name: name, Array: len(tn.ArrayBounds) > 0}
	for _, m := range tn.Typmods {
		if c := m.GetAConst(); c != nil {
			if iv := c.GetIval(); iv != nil {
				out.Mods = append(out.Mods, iv.Ival)
			}
		}
	}
	return out
}

// String renders a TypeName as SQL.
func (t TypeName) String() string {
	s := t.Name
	switch s {
	case "int4":
		s = "integer"
	case "int8":
		s = "bigint"
	case "int2":
		s = "smallint"
	case "bpchar":
		s = "char"
	case "float8":
		s = "double precision"
	case "float4":
		s = "real"
	case "bool":
		s = "boolean"
	}
	switch {
	case s == "interval" && len(t.Mods) > 0:
		s += intervalModsSQL(t.Mods)
	case len(t.Mods) > 0:
		parts := make([]string, len(t.Mods))
		for i, m := range t.Mods {
			parts[i] = itoa(int(m))
		}
		s += "(" + strings.Join(parts, ",") + ")"
	}
	if t.Array {
		s += "[]"
	}
	return s
}

// intervalFields are interval's fields, most significant first, with
// their bits in an interval typmod's field mask (datetime.h).
var intervalFields = []struct {
	name string
	bit  int32
}{{"year", 1 << 2}, {"month", 1 << 1}, {"day", 1 << 3}, {"hour", 1 << 10}, {"minute", 1 << 11}, {"second", 1 << 12}}

// intervalModsSQL renders interval's [fields, precision] the way SQL
// spells them ("minute to second(2)", "(3)"): "interval(32767,3)" would be
// a syntax error.
func intervalModsSQL(mods []int32) string {
	var first, last string
	if mods[0] != intervalFullRange {
		for _, f := range intervalFields {
			if mods[0]&f.bit != 0 {
				if first == "" {
					first = f.name
				}
				last = f.name
			}
		}
	}
	out := ""
	if first != "" {
		out = " " + first
		if last != first {
			out += " to " + last
		}
	}
	if len(mods) > 1 && mods[1] != intervalFullPrecision {
		out += "(" + itoa(int(mods[1])) + ")"
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
