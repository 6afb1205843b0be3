package migrate

import (
	"strings"

	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Reserved names: every temporary object the planner creates starts with
// this prefix, so a runner (or a person) can tell them from the user's.
const reservedPrefix = lint.ReservedPrefix

// maxIdentLen is PostgreSQL's NAMEDATALEN - 1: longer names are silently
// truncated by the server, which could make two generated names collide.
const maxIdentLen = lint.MaxIdentLen

// reservedName builds "_migrate_<kind>_<parts...>" and keeps it within 63
// bytes by replacing the tail with a hash of the whole name.
func reservedName(kind string, parts ...string) string {
	return fitName(reservedPrefix + kind + "_" + strings.Join(parts, "_"))
}

// fitName shortens a name over 63 bytes to a prefix plus a hash of the
// full name, so distinct long names stay distinct.
func fitName(name string) string { return lint.FitName(name) }

// pgDefaultName mimics PostgreSQL's ChooseRelationName/ChooseConstraintName
// ("users_email_key"), so that steps can name what the original statement
// left unnamed and later statements still find it.
func pgDefaultName(table string, cols []string, suffix string) string {
	base := relName(table)
	name := base
	if len(cols) > 0 {
		name += "_" + strings.Join(cols, "_")
	}
	name += "_" + suffix
	if len(name) <= maxIdentLen {
		return name
	}
	// PostgreSQL truncates the longer of the two parts; good enough here.
	over := len(name) - maxIdentLen
	if len(base) > over {
		return fitName(base[:len(base)-over] + name[len(base):])
	}
	return fitName(name)
}

// relName is the unqualified part of "schema.name".
func relName(qualified string) string {
	if i := strings.IndexByte(qualified, '.'); i >= 0 {
		return qualified[i+1:]
	}
	return qualified
}

// schemaName is the schema part of "schema.name".
func schemaName(qualified string) string {
	if i := strings.IndexByte(qualified, '.'); i >= 0 {
		return qualified[:i]
	}
	return "public"
}

// inSchema qualifies an object name with the table's schema.
func inSchema(table, name string) string { return schemaName(table) + "." + name }

var (
	qi = lint.QuoteIdent
	qt = lint.QuoteQualified
)

// quoteLiteral is a standard-conforming SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// regclass is a literal the server resolves to the relation, for catalog
// queries in guard blocks.
func regclass(qualified string) string { return quoteLiteral(qt(qualified)) + "::regclass" }

// deparse renders a statement node as SQL, or "" if the deparser rejects
// it; deparseExpr renders an expression. Lint's renderers, so that plans
// and findings spell SQL the same way.
func deparse(n *pg_query.Node) string { return lint.Deparse(n) }

func deparseExpr(expr *pg_query.Node) string { return lint.DeparseExpr(expr) }

// alterTable renders "ALTER TABLE rel <cmds>" for a subset of an ALTER
// TABLE's actions, keeping the original's relation and flags.
func alterTable(at *pg_query.AlterTableStmt, cmds ...*pg_query.Node) string {
	c := proto.Clone(at).(*pg_query.AlterTableStmt)
	c.Cmds = cmds
	return deparse(&pg_query.Node{Node: &pg_query.Node_AlterTableStmt{AlterTableStmt: c}}) + ";"
}

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// walk calls fn for every message in the tree under m (m included).
func walk(m proto.Message, fn func(proto.Message)) {
	if m == nil {
		return
	}
	fn(m)
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message().Interface(), fn)
			}
			return true
		}
		walk(v.Message().Interface(), fn)
		return true
	})
}

// columnRefs lists the distinct plain column names an expression reads.
func columnRefs(expr *pg_query.Node) []string {
	var out []string
	seen := map[string]bool{}
	walk(expr, func(m proto.Message) {
		if cr, ok := m.(*pg_query.ColumnRef); ok && len(cr.Fields) > 0 {
			if name := lint.StringValue(cr.Fields[len(cr.Fields)-1]); name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	})
	return out
}

// qualifyRefs returns a copy of expr whose column references read from
// the record rec ("NEW"), for use in a trigger body.
func qualifyRefs(expr *pg_query.Node, rec string) *pg_query.Node {
	c := clone(expr)
	walk(c, func(m proto.Message) {
		if cr, ok := m.(*pg_query.ColumnRef); ok && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
			cr.Fields = append([]*pg_query.Node{pg_query.MakeStrNode(rec)}, cr.Fields...)
		}
	})
	return c
}

// nonVolatile are functions known to be immutable or stable: a column
// default calling only these is evaluated once by ADD COLUMN (PG 11+), so
// no rewrite. Anything else counts as volatile, which only costs a
// backfill where a rewrite would have cost an outage.
var nonVolatile = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`now transaction_timestamp statement_timestamp current_date
		current_timestamp localtimestamp lower upper length btrim trim ltrim rtrim concat concat_ws
		coalesce nullif greatest least abs round floor ceil to_char to_date to_timestamp to_number
		make_date make_time make_timestamp make_timestamptz make_interval date_trunc
		jsonb_build_object jsonb_build_array json_build_object json_build_array to_jsonb to_json
		array_fill md5 replace substr substring left right format int4 int8 text numeric
		timezone current_setting current_user session_user current_schema`) {
		nonVolatile[f] = true
	}
}

// isVolatile reports whether an expression may give each row a different
// value (or is not known not to).
func isVolatile(expr *pg_query.Node) bool {
	volatile := false
	walk(expr, func(m proto.Message) {
		switch n := m.(type) {
		case *pg_query.FuncCall:
			if len(n.Funcname) == 0 || !nonVolatile[lint.StringValue(n.Funcname[len(n.Funcname)-1])] {
				volatile = true
			}
		case *pg_query.SubLink:
			volatile = true
		}
	})
	return volatile
}

// isNonTransactional reports whether PostgreSQL refuses to run the SQL in
// a transaction block (locks.md §3.7).
func isNonTransactional(sql string) bool {
	r, err := pg_query.Parse(sql)
	if err != nil {
		return false
	}
	for _, raw := range r.Stmts {
		if lint.RunsOutsideTransaction(raw.Stmt) {
			return true
		}
	}
	return false
}

func hasOption(opts []*pg_query.Node, name string) bool {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && d.Defname == name {
			return true
		}
	}
	return false
}

// joinSQL joins statements, one per line.
func joinSQL(stmts ...string) string {
	var b strings.Builder
	for _, s := range stmts {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.TrimSpace(s))
	}
	return b.String()
}
