package backfill

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// assignment is one "col = expr" item of a SET list.
type assignment struct {
	Column string // the column as written (quoted or bare), safe to splice back
	Name   string // the column's name in the catalog (bare names folded to lower case)
	Expr   string // the expression text, trimmed
}

// parseSet splits a SET list into its assignments. It understands just
// enough SQL lexing (quotes, dollar quotes, comments, brackets) to find the
// top-level commas and each item's leading column; the expressions are left
// to the server, which checks them when the job starts.
func parseSet(set string) ([]assignment, error) {
	items, err := splitTopLevel(set)
	if err != nil {
		return nil, err
	}
	var out []assignment
	seen := map[string]bool{}
	for _, item := range items {
		a, err := parseAssignment(item)
		if err != nil {
			return nil, err
		}
		if seen[a.Name] {
			return nil, fmt.Errorf("column %s is assigned twice", a.Column)
		}
		seen[a.Name] = true
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty SET list")
	}
	return out, nil
}

func parseAssignment(item string) (assignment, error) {
	s := strings.TrimSpace(item)
	if s == "" {
		return assignment{}, fmt.Errorf("empty item in SET list")
	}
	var col, name string
	var rest string
	switch {
	case s[0] == '"':
		i := 1
		var b strings.Builder
		for {
			j := strings.IndexByte(s[i:], '"')
			if j < 0 {
				return assignment{}, fmt.Errorf("unterminated quoted identifier in %q", s)
			}
			b.WriteString(s[i : i+j])
			i += j + 1
			if i < len(s) && s[i] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			break
		}
		col, name, rest = s[:i], b.String(), s[i:]
		if name == "" {
			return assignment{}, fmt.Errorf("zero-length identifier in %q", s)
		}
	default:
		r, _ := utf8.DecodeRuneInString(s)
		if !(r == '_' || unicode.IsLetter(r)) {
			return assignment{}, fmt.Errorf("%q is not of the form column = expression", s)
		}
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !(r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
				break
			}
			i += n
		}
		col, rest = s[:i], s[i:]
		name = strings.ToLower(col)
	}
	rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
	if rest == "" || rest[0] != '=' || strings.HasPrefix(rest, "=>") {
		// Subscripts, field selection and multi-column assignments would make
		// the idempotency predicate ambiguous, so they are not supported.
		return assignment{}, fmt.Errorf("%q is not of the form column = expression (subscripts, fields and (a, b) = ... are not supported)", s)
	}
	expr := strings.TrimSpace(rest[1:])
	if expr == "" {
		return assignment{}, fmt.Errorf("no expression after %s =", col)
	}
	if strings.EqualFold(expr, "DEFAULT") {
		return assignment{}, fmt.Errorf("%s = DEFAULT is not supported: write the default expression", col)
	}
	return assignment{Column: col, Name: name, Expr: expr}, nil
}

// splitTopLevel splits s at commas that are outside brackets, quotes,
// dollar quotes and comments.
func splitTopLevel(s string) ([]string, error) {
	var items []string
	depth := 0
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			// E'...' strings treat backslash as an escape; plain ones only ''.
			escapes := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isIdentByte(s[i-2]))
			j, err := skipQuoted(s, i, '\'', escapes)
			if err != nil {
				return nil, err
			}
			i = j
			continue
		case c == '"':
			j, err := skipQuoted(s, i, '"', false)
			if err != nil {
				return nil, err
			}
			i = j
			continue
		case c == '$' && (i == 0 || !isIdentByte(s[i-1])):
			if tag, ok := dollarTag(s[i:]); ok {
				end := strings.Index(s[i+len(tag):], tag)
				if end < 0 {
					return nil, fmt.Errorf("unterminated dollar-quoted string")
				}
				i += len(tag) + end + len(tag)
				continue
			}
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				i = len(s)
			} else {
				i += j + 1
			}
			continue
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			// Block comments nest in PostgreSQL.
			n := 0
			j := i
			for j < len(s) {
				if strings.HasPrefix(s[j:], "/*") {
					n++
					j += 2
				} else if strings.HasPrefix(s[j:], "*/") {
					n--
					j += 2
					if n == 0 {
						break
					}
				} else {
					j++
				}
			}
			if n != 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i = j
			continue
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q", c)
			}
		case c == ';':
			if depth == 0 {
				return nil, fmt.Errorf("';' is not allowed: give one SET list, not statements")
			}
		case c == ',' && depth == 0:
			items = append(items, s[start:i])
			start = i + 1
		}
		i++
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses")
	}
	items = append(items, s[start:])
	return items, nil
}

// skipQuoted returns the index just past the quoted token starting at s[i].
func skipQuoted(s string, i int, q byte, backslash bool) (int, error) {
	j := i + 1
	for j < len(s) {
		switch {
		case backslash && s[j] == '\\':
			j += 2
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j += 2
				continue
			}
			return j + 1, nil
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unterminated %c-quoted text", q)
}

// dollarTag reports the $tag$ opening a dollar-quoted string at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		if s[j] == '$' {
			return s[:j+1], true
		}
		if !isIdentByte(s[j]) || (j == 1 && s[j] >= '0' && s[j] <= '9') {
			return "", false
		}
	}
	return "", false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// checkFragment rejects a WHERE fragment that could end the statement or
// leave a bracket, quote or comment open around the SQL we append after it.
func checkFragment(s string) error {
	_, err := splitTopLevel(s)
	return err
}

// idempotencyPredicate returns the condition that is true only for rows the
// SET list would still change. Each expression is cast to its column's type
// so that the comparison sees the value the assignment would store (an
// integer column set to 1.5 stores 2, which must compare equal next time).
// Types without an equality operator are compared as text.
func idempotencyPredicate(as []assignment, types map[string]string, textCompare map[string]bool) string {
	parts := make([]string, len(as))
	for i, a := range as {
		typ := types[a.Name]
		// The newline ends a trailing -- comment in the expression, which
		// would otherwise swallow the rest of the statement.
		if textCompare[a.Name] {
			parts[i] = fmt.Sprintf("%s::text IS DISTINCT FROM ((%s\n)::%s)::text", a.Column, a.Expr, typ)
		} else {
			parts[i] = fmt.Sprintf("%s IS DISTINCT FROM (%s\n)::%s", a.Column, a.Expr, typ)
		}
	}
	return strings.Join(parts, " OR ")
}
