package lint

import "strings"

// A small SQL lexer in Go. pg_query's own scanner goes through cgo and
// protobuf for every token, which costs more than the parse of a large file;
// this one only has to know where strings, comments, identifiers and
// semicolons are, so that statement spans can be trimmed, files cut into
// batches for parallel parsing, and ignore comments found without being
// fooled by "--" inside literals. Where it disagrees with PostgreSQL the
// parser has the last word: a bad cut makes a batch fail to parse, and the
// whole chunk is then parsed in one piece.

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokSpace
	tokLineComment
	tokBlockComment
	tokString // '...', E'...', B'...', X'...', U&'...', $tag$...$tag$
	tokQuotedIdent
	tokWord // identifier or keyword
	tokNumber
	tokParam
	tokSemicolon
	tokLParen
	tokRParen
	tokOther
)

type token struct {
	kind       tokKind
	start, end int
}

func (k tokKind) significant() bool {
	return k != tokSpace && k != tokLineComment && k != tokBlockComment && k != tokEOF
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}

// lexAt returns the token starting at s[i:]. It never fails: an
// unterminated literal or comment runs to the end of s.
func lexAt(s string, i int) token {
	n := len(s)
	if i >= n {
		return token{tokEOF, n, n}
	}
	c := s[i]
	switch {
	case isSpace(c):
		j := i + 1
		for j < n && isSpace(s[j]) {
			j++
		}
		return token{tokSpace, i, j}
	case c == '-' && i+1 < n && s[i+1] == '-':
		j := i + 2
		for j < n && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		return token{tokLineComment, i, j}
	case c == '/' && i+1 < n && s[i+1] == '*':
		depth, j := 1, i+2
		for j < n && depth > 0 {
			switch {
			case s[j] == '*' && j+1 < n && s[j+1] == '/':
				depth--
				j += 2
			case s[j] == '/' && j+1 < n && s[j+1] == '*':
				depth++
				j += 2
			default:
				j++
			}
		}
		return token{tokBlockComment, i, j}
	case c == '\'':
		return token{tokString, i, lexQuoted(s, i+1, '\'', false)}
	case c == '"':
		return token{tokQuotedIdent, i, lexQuoted(s, i+1, '"', false)}
	case c == '$':
		if i+1 < n && s[i+1] >= '0' && s[i+1] <= '9' {
			j := i + 1
			for j < n && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			return token{tokParam, i, j}
		}
		if end, ok := lexDollar(s, i); ok {
			return token{tokString, i, end}
		}
		return token{tokOther, i, i + 1}
	case isIdentStart(c):
		j := i + 1
		for j < n && isIdentCont(s[j]) {
			j++
		}
		if j-i == 1 && j < n {
			switch c {
			case 'e', 'E':
				if s[j] == '\'' {
					return token{tokString, i, lexQuoted(s, j+1, '\'', true)}
				}
			case 'b', 'B', 'x', 'X', 'n', 'N':
				if s[j] == '\'' {
					return token{tokString, i, lexQuoted(s, j+1, '\'', false)}
				}
			case 'u', 'U':
				if s[j] == '&' && j+1 < n {
					if s[j+1] == '\'' {
						return token{tokString, i, lexQuoted(s, j+2, '\'', false)}
					}
					if s[j+1] == '"' {
						return token{tokQuotedIdent, i, lexQuoted(s, j+2, '"', false)}
					}
				}
			}
		}
		return token{tokWord, i, j}
	case c >= '0' && c <= '9' || c == '.' && i+1 < n && s[i+1] >= '0' && s[i+1] <= '9':
		j := i + 1
		for j < n {
			d := s[j]
			if d >= '0' && d <= '9' || d == '.' || d == '_' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' {
				j++
				continue
			}
			if (d == '+' || d == '-') && (s[j-1] == 'e' || s[j-1] == 'E') {
				j++
				continue
			}
			break
		}
		return token{tokNumber, i, j}
	case c == ';':
		return token{tokSemicolon, i, i + 1}
	case c == '(':
		return token{tokLParen, i, i + 1}
	case c == ')':
		return token{tokRParen, i, i + 1}
	}
	return token{tokOther, i, i + 1}
}

// lexQuoted returns the end of a quoted literal whose body starts at i.
// A doubled quote is an escaped quote; backslash escapes only in E”.
func lexQuoted(s string, i int, q byte, backslash bool) int {
	n := len(s)
	for i < n {
		switch s[i] {
		case '\\':
			if backslash {
				i += 2
				continue
			}
		case q:
			if i+1 < n && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return n
}

// lexDollar recognises $tag$...$tag$ at s[i] (s[i] == '$').
func lexDollar(s string, i int) (int, bool) {
	n := len(s)
	j := i + 1
	if j < n && s[j] != '$' {
		if !isIdentStart(s[j]) {
			return 0, false
		}
		for j < n && s[j] != '$' {
			if !isIdentStart(s[j]) && !(s[j] >= '0' && s[j] <= '9') {
				return 0, false
			}
			j++
		}
	}
	if j >= n {
		return 0, false
	}
	tag := s[i : j+1]
	body := j + 1
	if k := indexFrom(s, tag, body); k >= 0 {
		return k + len(tag), true
	}
	return n, true
}

func indexFrom(s, sub string, from int) int {
	if from > len(s) {
		return -1
	}
	k := strings.Index(s[from:], sub)
	if k < 0 {
		return -1
	}
	return from + k
}

// dollarBody returns the byte range of the contents of a string token
// (without its quotes) and whether the contents are verbatim (dollar
// quotes, or a quoted string without doubled quotes or escapes), so that
// offsets inside the decoded string equal offsets in the source.
func dollarBody(s string, t token) (start, end int, verbatim bool) {
	if t.kind != tokString || t.end <= t.start {
		return t.start, t.end, false
	}
	if s[t.start] == '$' {
		k := t.start + 1
		for k < t.end && s[k] != '$' {
			k++
		}
		tagLen := k - t.start + 1
		start = t.start + tagLen
		end = t.end - tagLen
		if end < start {
			// Unterminated: the body runs to the end.
			end = t.end
		}
		return start, end, true
	}
	q := t.start
	for q < t.end && s[q] != '\'' {
		q++
	}
	start = q + 1
	end = t.end - 1
	if end < start {
		return start, start, false
	}
	verbatim = s[t.start] == '\''
	for k := start; k < end; k++ {
		if s[k] == '\'' || s[k] == '\\' && s[t.start] != '\'' {
			verbatim = false
			break
		}
	}
	return start, end, verbatim
}

// trimSpan narrows [lo, hi) of s to its first and last significant token:
// whitespace and comments around a statement are not part of it.
func trimSpan(s string, lo, hi int) (int, int) {
	if hi > len(s) {
		hi = len(s)
	}
	if lo < 0 {
		lo = 0
	}
	first, last := -1, -1
	for i := lo; i < hi; {
		t := lexAt(s[:hi], i)
		if t.end <= i {
			break
		}
		if t.kind.significant() && t.kind != tokSemicolon {
			if first < 0 {
				first = t.start
			}
			last = t.end
		}
		i = t.end
	}
	if first < 0 {
		return lo, lo
	}
	return first, last
}

// wordIs reports whether the token is the given keyword (ASCII, any case).
func wordIs(s string, t token, kw string) bool {
	if t.kind != tokWord || t.end-t.start != len(kw) {
		return false
	}
	for k := 0; k < len(kw); k++ {
		c := s[t.start+k]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[k] {
			return false
		}
	}
	return true
}

// stmtSplitter follows psql's rule for where a statement ends: at a ';'
// outside parentheses and outside the BEGIN ... END of a
// CREATE [OR REPLACE] FUNCTION/PROCEDURE (SQL-standard bodies, whose inner
// semicolons are not protected by quotes). CASE ... END inside such a body
// nests too.
type stmtSplitter struct {
	words      int     // identifiers seen in the current statement
	head       [4]byte // first letters of its leading create/or/replace/function/procedure words
	parenDepth int
	beginDepth int
}

// feed consumes one token and reports whether it ends a statement.
func (sp *stmtSplitter) feed(s string, t token) bool {
	switch t.kind {
	case tokLParen:
		sp.parenDepth++
	case tokRParen:
		if sp.parenDepth > 0 {
			sp.parenDepth--
		}
	case tokSemicolon:
		if sp.parenDepth == 0 && sp.beginDepth == 0 {
			*sp = stmtSplitter{}
			return true
		}
	case tokWord:
		if sp.words < len(sp.head) {
			for _, kw := range [...]string{"create", "or", "replace", "function", "procedure"} {
				if wordIs(s, t, kw) {
					sp.head[sp.words] = kw[0]
				}
			}
		}
		sp.words++
		h := sp.head
		isRoutine := h[0] == 'c' && (h[1] == 'f' || h[1] == 'p' || h[1] == 'o' && h[2] == 'r' && (h[3] == 'f' || h[3] == 'p'))
		if isRoutine && sp.parenDepth == 0 {
			switch {
			case wordIs(s, t, "begin"):
				sp.beginDepth++
			case wordIs(s, t, "case"):
				if sp.beginDepth > 0 {
					sp.beginDepth++
				}
			case wordIs(s, t, "end"):
				if sp.beginDepth > 0 {
					sp.beginDepth--
				}
			}
		}
	}
	return false
}
