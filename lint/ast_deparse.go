package lint

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// fastDeparseExpr renders the few expression shapes that most fixes quote
// (a column, a constant, col::type, now(), col IS NULL, a > 0) in Go,
// byte for byte as pg_query's deparser does. Everything else returns
// false and goes to the real deparser: each cgo Deparse marshals the tree
// to protobuf and back, about 17µs even for "c::integer", and a large
// migration asks for one per finding. TestFastDeparseMatchesPgQuery
// holds the two to the same output.
func fastDeparseExpr(n *pg_query.Node) (string, bool) {
	var b strings.Builder
	if !fastTop(&b, n) {
		return "", false
	}
	return b.String(), true
}

func fastTop(b *strings.Builder, n *pg_query.Node) bool {
	switch {
	case n.GetSetToDefault() != nil:
		b.WriteString("DEFAULT")
		return true
	case n.GetFuncCall() != nil:
		// Only at the top: inside a larger expression the deparser's
		// spacing after ")" depends on what follows.
		fc := n.GetFuncCall()
		if len(fc.Args) != 0 || fc.AggStar || fc.AggDistinct || fc.FuncVariadic || len(fc.AggOrder) != 0 ||
			fc.AggFilter != nil || fc.Over != nil || fc.AggWithinGroup ||
			fc.Funcformat != pg_query.CoercionForm_COERCE_EXPLICIT_CALL || len(fc.Funcname) == 0 {
			return false
		}
		for i, part := range fc.Funcname {
			s := part.GetString_()
			if s == nil || (i == 0 && s.Sval == "pg_catalog") {
				return false
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(pgQuoteIdent(s.Sval))
		}
		b.WriteString("()")
		return true
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		if nt.Argisrow || !fastLeaf(b, nt.Arg) {
			return false
		}
		switch nt.Nulltesttype {
		case pg_query.NullTestType_IS_NULL:
			b.WriteString(" IS NULL")
		case pg_query.NullTestType_IS_NOT_NULL:
			b.WriteString(" IS NOT NULL")
		default:
			return false
		}
		return true
	case n.GetAExpr() != nil:
		ae := n.GetAExpr()
		if ae.Kind != pg_query.A_Expr_Kind_AEXPR_OP || len(ae.Name) != 1 || ae.Lexpr == nil || ae.Rexpr == nil {
			return false
		}
		op := ae.Name[0].GetString_()
		if op == nil || !isPgOp(op.Sval) || !fastLeaf(b, ae.Lexpr) {
			return false
		}
		b.WriteByte(' ')
		b.WriteString(op.Sval)
		b.WriteByte(' ')
		return fastLeaf(b, ae.Rexpr)
	}
	return fastLeaf(b, n)
}

// fastLeaf renders a column reference, a constant or a cast of either.
func fastLeaf(b *strings.Builder, n *pg_query.Node) bool {
	switch {
	case n.GetColumnRef() != nil:
		return fastColumnRef(b, n.GetColumnRef())
	case n.GetAConst() != nil:
		return fastConst(b, n.GetAConst())
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		if tc.Arg == nil || tc.TypeName == nil {
			return false
		}
		if c := tc.Arg.GetAConst(); c != nil {
			names := tc.TypeName.Names
			if len(names) == 1 && StringValue(names[0]) == "point" {
				return false
			}
			if len(names) == 2 && StringValue(names[0]) == "pg_catalog" {
				switch StringValue(names[1]) {
				case "bpchar", "interval":
					return false
				case "bool":
					if sv := c.GetSval(); sv != nil && !c.Isnull {
						switch sv.Sval {
						case "t":
							b.WriteString("true")
							return true
						case "f":
							b.WriteString("false")
							return true
						}
					}
				}
			}
			if !c.Isnull && (c.GetFval() != nil || (c.GetIval() != nil && c.GetIval().Ival < 0)) {
				return false // the deparser wraps these in parentheses
			}
			if !fastConst(b, c) {
				return false
			}
		} else if cr := tc.Arg.GetColumnRef(); cr != nil {
			if !fastColumnRef(b, cr) {
				return false
			}
		} else {
			return false
		}
		b.WriteString("::")
		return fastTypeName(b, tc.TypeName)
	}
	return false
}

func fastColumnRef(b *strings.Builder, cr *pg_query.ColumnRef) bool {
	if len(cr.Fields) == 0 {
		return false
	}
	for i, f := range cr.Fields {
		s := f.GetString_()
		if s == nil {
			return false
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(pgQuoteIdent(s.Sval))
	}
	return true
}

func fastConst(b *strings.Builder, c *pg_query.A_Const) bool {
	if c.Isnull {
		b.WriteString("NULL")
		return true
	}
	switch v := c.Val.(type) {
	case *pg_query.A_Const_Ival:
		b.WriteString(strconv.Itoa(int(v.Ival.GetIval())))
	case *pg_query.A_Const_Fval:
		b.WriteString(v.Fval.GetFval())
	case *pg_query.A_Const_Boolval:
		if v.Boolval.GetBoolval() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case *pg_query.A_Const_Sval:
		s := v.Sval.GetSval()
		if strings.IndexByte(s, 0) >= 0 {
			return false
		}
		if strings.IndexByte(s, '\\') >= 0 {
			b.WriteByte('E')
		}
		b.WriteByte('\'')
		for i := 0; i < len(s); i++ {
			if s[i] == '\'' || s[i] == '\\' {
				b.WriteByte(s[i])
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('\'')
	default:
		return false
	}
	return true
}

// pgCatalogTypeNames are the pg_catalog types the deparser spells its own
// way; the time-zone types take their modifiers in the middle and are
// left to it.
var pgCatalogTypeNames = map[string]string{
	"bpchar": "char", "varchar": "varchar", "numeric": "numeric", "bool": "boolean",
	"int2": "smallint", "int4": "int", "int8": "bigint", "real": "real", "float4": "real",
	"float8": "double precision", "time": "time", "timestamp": "timestamp",
}

func fastTypeName(b *strings.Builder, tn *pg_query.TypeName) bool {
	if tn.Setof || tn.PctType || len(tn.Names) == 0 {
		return false
	}
	if len(tn.Names) == 2 && StringValue(tn.Names[0]) == "pg_catalog" {
		name := StringValue(tn.Names[1])
		switch name {
		case "timetz", "timestamptz", "interval":
			if len(tn.Typmods) > 0 {
				return false
			}
			switch name {
			case "timetz":
				b.WriteString("time with time zone")
			case "timestamptz":
				b.WriteString("timestamp with time zone")
			default:
				b.WriteString(name)
			}
		default:
			if spelled, ok := pgCatalogTypeNames[name]; ok {
				b.WriteString(spelled)
			} else {
				b.WriteString("pg_catalog." + name)
			}
		}
	} else {
		for i, part := range tn.Names {
			s := part.GetString_()
			if s == nil {
				return false
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(pgQuoteIdent(s.Sval))
		}
	}
	if len(tn.Typmods) > 0 {
		b.WriteByte('(')
		for i, m := range tn.Typmods {
			c := m.GetAConst()
			if c == nil {
				return false
			}
			if i > 0 {
				b.WriteString(", ")
			}
			if !fastConst(b, c) {
				return false
			}
		}
		b.WriteByte(')')
	}
	for _, ab := range tn.ArrayBounds {
		iv := ab.GetInteger()
		if iv == nil {
			return false
		}
		b.WriteByte('[')
		if iv.Ival != -1 {
			b.WriteString(strconv.Itoa(int(iv.Ival)))
		}
		b.WriteByte(']')
	}
	return true
}

// isPgOp mirrors the deparser's isOp: a name made of operator characters
// is written bare, anything else as OPERATOR(...).
func isPgOp(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("~!@#^&|`?+-*/%<>=", rune(s[i])) {
			return false
		}
	}
	return true
}

// pgQuoteIdent is PostgreSQL's quote_identifier, which the deparser uses:
// unlike QuoteIdent it quotes every keyword that is not unreserved.
func pgQuoteIdent(s string) string {
	safe := s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] == '_')
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	}
	if safe && !pgNonUnreservedKeywords[s] {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// pgNonUnreservedKeywords are the reserved, column-name and
// type-or-function-name keywords of the parser pg_query embeds (kwlist.h).
var pgNonUnreservedKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization between
		bigint binary bit boolean both case cast char character check coalesce collate collation column
		concurrently constraint create cross current_catalog current_date current_role current_schema
		current_time current_timestamp current_user dec decimal default deferrable desc distinct do else end
		except exists extract false fetch float for foreign freeze from full grant greatest group grouping
		having ilike in initially inner inout int integer intersect interval into is isnull join json
		json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar
		json_serialize json_table json_value lateral leading least left like limit localtime
		localtimestamp merge_action national natural nchar none normalize not notnull null nullif numeric
		offset on only or order out outer overlaps overlay placing position precision primary real
		references returning right row select session_user setof similar smallint some substring
		symmetric system_user table tablesample then time timestamp to trailing treat trim true union
		unique user using values varchar variadic verbose when where window with xmlattributes xmlconcat
		xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable`) {
		m[w] = true
	}
	return m
}()

// fastDeparseIndexStmt renders a CREATE INDEX on plain columns, which is
// what most index fixes rewrite, as pg_query's deparser does.
func fastDeparseIndexStmt(ix *pg_query.IndexStmt) (string, bool) {
	rv := ix.Relation
	if rv == nil || rv.Relname == "" || rv.Catalogname != "" || rv.Alias != nil || len(ix.IndexParams) == 0 ||
		len(ix.IndexIncludingParams) != 0 || len(ix.Options) != 0 || ix.TableSpace != "" || ix.NullsNotDistinct ||
		len(ix.ExcludeOpNames) != 0 || ix.Primary || ix.Isconstraint || ix.Deferrable || ix.Initdeferred {
		return "", false
	}
	var b strings.Builder
	b.WriteString("CREATE ")
	if ix.Unique {
		b.WriteString("UNIQUE ")
	}
	b.WriteString("INDEX ")
	if ix.Concurrent {
		b.WriteString("CONCURRENTLY ")
	}
	if ix.IfNotExists {
		b.WriteString("IF NOT EXISTS ")
	}
	if ix.Idxname != "" {
		b.WriteString(pgQuoteIdent(ix.Idxname) + " ")
	}
	b.WriteString("ON ")
	if !rv.Inh {
		b.WriteString("ONLY ")
	}
	if rv.Schemaname != "" {
		b.WriteString(pgQuoteIdent(rv.Schemaname) + ".")
	}
	b.WriteString(pgQuoteIdent(rv.Relname) + " ")
	if ix.AccessMethod != "" {
		b.WriteString("USING " + pgQuoteIdent(ix.AccessMethod) + " ")
	}
	b.WriteByte('(')
	for i, p := range ix.IndexParams {
		ie := p.GetIndexElem()
		if ie == nil || ie.Name == "" || ie.Expr != nil || len(ie.Collation) != 0 || len(ie.Opclass) != 0 ||
			len(ie.Opclassopts) != 0 || ie.NullsOrdering != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			return "", false
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgQuoteIdent(ie.Name))
		switch ie.Ordering {
		case pg_query.SortByDir_SORTBY_DEFAULT:
		case pg_query.SortByDir_SORTBY_ASC:
			b.WriteString(" ASC")
		case pg_query.SortByDir_SORTBY_DESC:
			b.WriteString(" DESC")
		default:
			return "", false
		}
	}
	b.WriteByte(')')
	if ix.WhereClause != nil {
		b.WriteString(" WHERE ")
		if !fastTop(&b, ix.WhereClause) {
			return "", false
		}
	}
	return b.String(), true
}
