package lint

import (
	"encoding/json"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Statements inside DO blocks and function bodies run when the migration
// runs (DO) or later, when the function is called; either way the DDL
// they hold takes the same locks, so the linter reads them.

const maxBodyDepth = 3

// routine describes a DO block or CREATE FUNCTION/PROCEDURE.
type routine struct {
	context  string
	language string
	body     string // the AS string, decoded
	hasAs    bool
	sqlBody  *pg_query.Node // BEGIN ATOMIC / RETURN body
	isDo     bool
}

func routineOf(n *pg_query.Node) *routine {
	if n == nil {
		return nil
	}
	if do := n.GetDoStmt(); do != nil {
		r := &routine{context: "DO block", language: "plpgsql", isDo: true}
		for _, a := range do.Args {
			de := a.GetDefElem()
			if de == nil {
				continue
			}
			switch de.Defname {
			case "as":
				s := de.Arg.GetString_()
				if s == nil {
					return nil
				}
				r.body, r.hasAs = s.Sval, true
			case "language":
				if s := de.Arg.GetString_(); s != nil {
					r.language = strings.ToLower(s.Sval)
				}
			}
		}
		if !r.hasAs {
			return nil
		}
		return r
	}
	cf := n.GetCreateFunctionStmt()
	if cf == nil {
		return nil
	}
	var name []string
	for _, p := range cf.Funcname {
		if s := p.GetString_(); s != nil {
			name = append(name, s.Sval)
		}
	}
	kind := "function "
	if cf.IsProcedure {
		kind = "procedure "
	}
	r := &routine{context: kind + strings.Join(name, ".") + "()", sqlBody: cf.SqlBody}
	for _, o := range cf.Options {
		de := o.GetDefElem()
		if de == nil {
			continue
		}
		switch de.Defname {
		case "language":
			if s := de.Arg.GetString_(); s != nil {
				r.language = strings.ToLower(s.Sval)
			}
		case "as":
			l := de.Arg.GetList()
			if l == nil || len(l.Items) != 1 {
				return nil // C functions: AS 'obj_file', 'symbol'
			}
			s := l.Items[0].GetString_()
			if s == nil {
				return nil
			}
			r.body, r.hasAs = s.Sval, true
		}
	}
	if r.language == "" && r.sqlBody != nil {
		r.language = "sql"
	}
	return r
}

func hasBody(n *pg_query.Node) bool {
	r := routineOf(n)
	if r == nil {
		return false
	}
	return r.sqlBody != nil || r.hasAs && (r.language == "plpgsql" || r.language == "sql")
}

// bodyText is the body string with a map back to the source: offset i of
// the decoded body is at src(i) in the file.
type bodyText struct {
	text   string
	start  int   // source offset of the body's first byte
	raw    []int // when not verbatim: source offset of each decoded byte
	rawEnd int   // when not verbatim: source offset just past the body
	exact  bool  // false when the literal could not be found: offsets point at start
}

func (b *bodyText) src(i int) int {
	if !b.exact {
		return b.start
	}
	if b.raw == nil {
		return b.start + i
	}
	if i < 0 {
		i = 0
	}
	if i >= len(b.raw) {
		if len(b.raw) == 0 {
			return b.start
		}
		return b.raw[len(b.raw)-1] + 1
	}
	return b.raw[i]
}

// span maps a decoded range to source offsets (End exclusive).
func (b *bodyText) span(lo, hi int) (int, int) {
	if !b.exact {
		return b.start, b.start
	}
	s := b.src(lo)
	if hi <= lo {
		return s, s
	}
	if b.raw == nil {
		return s, b.start + hi
	}
	// The end is where the next decoded byte starts, so that a doubled
	// quote at the end is taken whole.
	if hi < len(b.raw) {
		return s, b.raw[hi]
	}
	return s, b.rawEnd
}

// locateBody finds the string literal holding body inside the statement.
func locateBody(text string, st *Statement, body string) *bodyText {
	lo, hi := clampRange(st.Start, st.End, len(text))
	s := text[:hi]
	first := -1
	for i := lo; i < hi; {
		t := lexAt(s, i)
		if t.end <= i {
			break
		}
		if t.kind == tokString {
			if first < 0 {
				first = t.start
			}
			bs, be, verbatim := dollarBody(s, t)
			if verbatim && s[bs:be] == body {
				return &bodyText{text: body, start: bs, exact: true}
			}
			if !verbatim && s[t.start] == '\'' {
				if dec, raw := decodeQuoted(s, bs, be); dec == body {
					return &bodyText{text: body, start: bs, raw: raw, rawEnd: be, exact: true}
				}
			}
		}
		i = t.end
	}
	if first < 0 {
		first = lo
	}
	return &bodyText{text: body, start: first}
}

// decodeQuoted undoes doubled quotes of a standard string literal and
// records where each decoded byte came from.
func decodeQuoted(s string, lo, hi int) (string, []int) {
	var b strings.Builder
	raw := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		b.WriteByte(s[i])
		raw = append(raw, i)
		if s[i] == '\'' && i+1 < hi && s[i+1] == '\'' {
			i++
		}
	}
	return b.String(), raw
}

// extractBody returns the statements run by a DO block or function body,
// sorted by position. Fields other than Node, positions, Context, Dynamic
// and Ignores are filled in by the caller.
func extractBody(text string, st *Statement, depth int) []*Statement {
	r := routineOf(st.Node)
	if r == nil || depth > maxBodyDepth {
		return nil
	}
	var out []*Statement
	switch {
	case r.sqlBody != nil:
		out = atomicBody(text, st, r)
	case !r.hasAs:
		return nil
	case r.language == "sql":
		out = sqlBody(text, st, r)
	case r.language == "plpgsql":
		out = plpgsqlBody(text, st, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	var all []*Statement
	for _, b := range out {
		all = append(all, b)
		if b.Node != nil && b.Start < b.End && hasBody(b.Node) {
			for _, nb := range extractBody(text, b, depth+1) {
				nb.Ignores = append(append([]Ignore(nil), b.Ignores...), nb.Ignores...)
				all = append(all, nb)
			}
		}
	}
	return all
}

// bodyIgnores attaches ignore comments written inside a verbatim body to
// the body's statements.
func bodyIgnores(text string, st *Statement, b *bodyText, stmts []*Statement) {
	if !b.exact || b.raw != nil || len(stmts) == 0 {
		return
	}
	comments := findIgnores(text, b.start, b.start+len(b.text))
	if len(comments) == 0 {
		return
	}
	sorted := append([]*Statement(nil), stmts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	attachIgnores(st.Source, sorted, comments)
}

// sqlBody parses a LANGUAGE sql body given as a string.
func sqlBody(text string, st *Statement, r *routine) []*Statement {
	b := locateBody(text, st, r.body)
	res, err := pg_query.Parse(r.body)
	if err != nil {
		return nil // not valid SQL on its own (e.g. psql variables); nothing to lint
	}
	var out []*Statement
	for _, rs := range res.Stmts {
		lo := int(rs.StmtLocation)
		hi := len(r.body)
		if rs.StmtLen > 0 {
			hi = lo + int(rs.StmtLen)
		}
		lo, hi = clampRange(lo, hi, len(r.body))
		lo, hi = trimSpan(r.body, lo, hi)
		s, e := b.span(lo, hi)
		out = append(out, &Statement{Node: rs.Stmt, Start: s, End: e, Context: r.context, Source: st.Source})
	}
	bodyIgnores(text, st, b, out)
	return out
}

// atomicBody handles BEGIN ATOMIC ... END: the statements are already in
// the parse tree; their positions come from splitting the source text the
// way psql does.
func atomicBody(text string, st *Statement, r *routine) []*Statement {
	outer := r.sqlBody.GetList()
	if outer == nil || len(outer.Items) == 0 {
		return nil // RETURN expr: no statements
	}
	var nodes []*pg_query.Node
	for _, it := range outer.Items {
		if l := it.GetList(); l != nil {
			nodes = append(nodes, l.Items...)
		}
	}
	spans := atomicSpans(text, st.Start, st.End)
	out := make([]*Statement, 0, len(nodes))
	for i, n := range nodes {
		s, e := st.Start, st.Start
		if len(spans) == len(nodes) {
			s, e = spans[i][0], spans[i][1]
		}
		out = append(out, &Statement{Node: n, Start: s, End: e, Context: r.context, Source: st.Source})
	}
	return out
}

// atomicSpans returns the statement spans between BEGIN ATOMIC and its END.
func atomicSpans(text string, lo, hi int) [][2]int {
	lo, hi = clampRange(lo, hi, len(text))
	s := text[:hi]
	var (
		prev   token
		in     bool
		depth  int
		parens int
		from   int
		spans  [][2]int
	)
	piece := func(end int) {
		if a, b := trimSpan(text, from, end); b > a {
			spans = append(spans, [2]int{a, b})
		}
	}
	for i := lo; i < hi; {
		t := lexAt(s, i)
		if t.end <= i {
			break
		}
		i = t.end
		if !t.kind.significant() {
			continue
		}
		if !in {
			if wordIs(s, t, "atomic") && wordIs(s, prev, "begin") {
				in, from = true, t.end
			}
			prev = t
			continue
		}
		switch {
		case t.kind == tokLParen:
			parens++
		case t.kind == tokRParen:
			if parens > 0 {
				parens--
			}
		case t.kind == tokSemicolon && parens == 0 && depth == 0:
			piece(t.start)
			from = t.end
		case wordIs(s, t, "case") || wordIs(s, t, "begin"):
			depth++
		case wordIs(s, t, "end"):
			if depth == 0 {
				piece(t.start)
				return spans
			}
			depth--
		}
	}
	return spans
}

// plStmt is an SQL statement the PL/pgSQL compiler found in a body.
type plStmt struct {
	lineno  int
	query   string
	dynamic bool // EXECUTE
}

// plpgsqlBody compiles the body with PostgreSQL's PL/pgSQL parser and
// returns the statements it executes. A body the compiler rejects (it
// lacks the catalog, so some valid bodies fail) is skipped.
func plpgsqlBody(text string, st *Statement, r *routine) []*Statement {
	if !r.hasAs {
		return nil // ParsePlPgSqlToJSON asserts on a function without AS
	}
	src := text[st.Start:st.End]
	js, err := pg_query.ParsePlPgSqlToJSON(src)
	if err != nil {
		return nil
	}
	found := scanPL(js)
	if len(found) == 0 {
		return nil
	}
	b := locateBody(text, st, r.body)
	lines := lineStarts(r.body)
	nodes := parseMany(found)
	var out []*Statement
	for i, f := range found {
		lineOff := len(r.body)
		if f.lineno >= 1 && f.lineno <= len(lines) {
			lineOff = lines[f.lineno-1]
		}
		lo, hi := findInBody(r.body, lineOff, f.query)
		if f.dynamic {
			out = append(out, dynamicStmts(r, b, lo, hi, f.query)...)
			continue
		}
		s, e := b.span(lo, hi)
		for _, n := range nodes[i] {
			out = append(out, &Statement{Node: n, Start: s, End: e, Context: r.context})
		}
	}
	for _, o := range out {
		o.Source = st.Source
	}
	bodyIgnores(text, st, b, out)
	return out
}

// dynamicStmts turns an EXECUTE into statements: a constant string is
// parsed like any SQL; anything computed is marked Dynamic.
func dynamicStmts(r *routine, b *bodyText, lo, hi int, expr string) []*Statement {
	// Point at the EXECUTE keyword when it is right before the expression.
	k := lo
	for k > 0 && isSpace(r.body[k-1]) {
		k--
	}
	if k >= 7 && strings.EqualFold(r.body[k-7:k], "execute") {
		lo = k - 7
	}
	s, e := b.span(lo, hi)
	if sql, ok := constantString(expr); ok {
		if res, err := pg_query.Parse(sql); err == nil && len(res.Stmts) > 0 {
			var out []*Statement
			for _, rs := range res.Stmts {
				out = append(out, &Statement{Node: rs.Stmt, Start: s, End: e, Context: r.context})
			}
			return out
		}
	}
	return []*Statement{{Start: s, End: e, Context: r.context, Dynamic: true}}
}

// constantString evaluates expr when it is a single string literal.
func constantString(expr string) (string, bool) {
	res, err := pg_query.Parse("SELECT " + expr)
	if err != nil || len(res.Stmts) != 1 {
		return "", false
	}
	sel := res.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 || sel.FromClause != nil || sel.WhereClause != nil {
		return "", false
	}
	rt := sel.TargetList[0].GetResTarget()
	if rt == nil {
		return "", false
	}
	c := rt.Val.GetAConst()
	if c == nil || c.GetSval() == nil {
		return "", false
	}
	return c.GetSval().Sval, true
}

// findInBody locates a statement's text from the line PL/pgSQL says it is
// on. The compiler drops INTO clauses, so the text is not always there:
// then the statement is taken to run from the line's first token to its
// end.
func findInBody(body string, lineOff int, query string) (int, int) {
	if lineOff > len(body) {
		lineOff = len(body)
	}
	if query != "" {
		if k := strings.Index(body[lineOff:], query); k >= 0 {
			return lineOff + k, lineOff + k + len(query)
		}
	}
	lo := lineOff
	for lo < len(body) && isSpace(body[lo]) {
		lo++
	}
	hi := lo
	for hi < len(body) && body[hi] != '\n' {
		hi++
	}
	for hi > lo && (isSpace(body[hi-1]) || body[hi-1] == ';') {
		hi--
	}
	return lo, hi
}

func lineStarts(s string) []int {
	out := []int{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, i+1)
		}
	}
	return out
}

// parseMany parses the non-dynamic statements of a body in one call (they
// are complete statements, so joining them is safe; a comment at the end of
// one is closed by the newline), falling back to one call each when the
// joined text does not split back into as many statements.
func parseMany(found []plStmt) [][]*pg_query.Node {
	out := make([][]*pg_query.Node, len(found))
	var (
		idx   []int
		parts []string
	)
	for i, f := range found {
		if !f.dynamic {
			idx = append(idx, i)
			parts = append(parts, f.query)
		}
	}
	if len(parts) == 0 {
		return out
	}
	if res, err := pg_query.Parse(strings.Join(parts, "\n;\n")); err == nil && len(res.Stmts) == len(parts) {
		for k, i := range idx {
			out[i] = []*pg_query.Node{res.Stmts[k].Stmt}
		}
		return out
	}
	for _, i := range idx {
		if res, err := pg_query.Parse(found[i].query); err == nil {
			for _, rs := range res.Stmts {
				out[i] = append(out[i], rs.Stmt)
			}
		}
	}
	return out
}

// plJSON is the part of an execsql or dynexecute object that is needed.
type plJSON struct {
	Lineno  int `json:"lineno"`
	Sqlstmt struct {
		Expr struct {
			Query string `json:"query"`
		} `json:"PLpgSQL_expr"`
	} `json:"sqlstmt"`
	Query struct {
		Expr struct {
			Query string `json:"query"`
		} `json:"PLpgSQL_expr"`
	} `json:"query"`
}

// scanPL picks the execsql and dynexecute statements out of the JSON of
// pg_query's PL/pgSQL parser, in document order. Decoding only those
// objects is several times cheaper than decoding the whole tree; a key can
// be searched for as text because quotes inside JSON strings are escaped.
func scanPL(js string) []plStmt {
	const (
		execKey = `"PLpgSQL_stmt_execsql":`
		dynKey  = `"PLpgSQL_stmt_dynexecute":`
	)
	var out []plStmt
	for i := 0; i < len(js); {
		k := strings.Index(js[i:], `"PLpgSQL_stmt_`)
		if k < 0 {
			break
		}
		k += i
		rest := js[k:]
		var dynamic bool
		switch {
		case strings.HasPrefix(rest, execKey):
			k += len(execKey)
		case strings.HasPrefix(rest, dynKey):
			k += len(dynKey)
			dynamic = true
		default:
			i = k + 1
			continue
		}
		var v plJSON
		dec := json.NewDecoder(strings.NewReader(js[k:]))
		if err := dec.Decode(&v); err != nil {
			i = k
			continue
		}
		q := v.Sqlstmt.Expr.Query
		if dynamic {
			q = v.Query.Expr.Query
		}
		out = append(out, plStmt{lineno: v.Lineno, query: q, dynamic: dynamic})
		// Nested statements sit inside other statements' bodies, never
		// inside an execsql or dynexecute, so the search goes on after
		// the key rather than after the decoded object.
		i = k
	}
	return out
}
