package lint

import (
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// This file is the one place that reads, from a WHERE clause, which rows
// of a table an UPDATE or DELETE can reach through its key: lint's
// whole-table-dml decides its severity with it, and the planner decides
// between "as written", a backfill over a key range, and a whole-table
// backfill.

// KeyBound is what the AND-ed conditions of a WHERE clause say about one
// column, compared with constants only. Each part is implied by the
// predicate on its own, so a walk limited to it never misses a row the
// predicate matches.
type KeyBound struct {
	Column string
	// Values are the constants of col = c, col IN (...) or
	// col = ANY(ARRAY[...]): the only values the column can have.
	Values []*pg_query.Node
	// Lower and Upper bound the column (nil: open on that side).
	Lower, Upper                   *pg_query.Node
	LowerInclusive, UpperInclusive bool
	// unordered is a BETWEEN SYMMETRIC whose ends cannot be ordered here:
	// bounded on both sides, but by no interval known before run time.
	unordered bool
}

// Reach is how much of a table a WHERE clause can touch, judged by its
// key alone.
type Reach int

const (
	// ReachAll: no key is bounded; possibly every row.
	ReachAll Reach = iota
	// ReachOneSided: a key is bounded on one side only (id < 100), which
	// limits the walk but not necessarily the number of rows.
	ReachOneSided
	// ReachBounded: a key is bounded on both sides, or to a list of values.
	ReachBounded
)

// Reach is how far the bound limits its column.
func (b KeyBound) Reach() Reach {
	switch {
	case b.Values != nil, b.Lower != nil && b.Upper != nil, b.unordered:
		return ReachBounded
	case b.Lower != nil || b.Upper != nil:
		return ReachOneSided
	}
	return ReachAll
}

// MaxKeys is the most distinct values the bound allows, when its
// constants say so: the list's length, or the width of a closed integer
// range.
func (b KeyBound) MaxKeys() (int64, bool) {
	if b.Values != nil {
		return int64(len(b.Values)), true
	}
	lo, ok1 := IntConstant(b.Lower)
	hi, ok2 := IntConstant(b.Upper)
	if !ok1 || !ok2 {
		return 0, false
	}
	if !b.LowerInclusive {
		lo++
	}
	if !b.UpperInclusive {
		hi--
	}
	if hi < lo {
		return 0, true
	}
	return hi - lo + 1, true
}

// Range is the bound as an interval: a list of integers becomes [min,
// max] and a single value [v, v]; ok is false when the bound gives no
// interval (a list of other constants, or no bound).
func (b KeyBound) Range() (lower, upper *pg_query.Node, lowerInc, upperInc, ok bool) {
	if b.Values == nil {
		return b.Lower, b.Upper, b.LowerInclusive, b.UpperInclusive, b.Lower != nil || b.Upper != nil
	}
	if len(b.Values) == 1 {
		return b.Values[0], b.Values[0], true, true, true
	}
	var min, max *pg_query.Node
	var lo, hi int64
	for _, v := range b.Values {
		n, isInt := IntConstant(v)
		if !isInt {
			return nil, nil, false, false, false
		}
		if min == nil || n < lo {
			min, lo = v, n
		}
		if max == nil || n > hi {
			max, hi = v, n
		}
	}
	return min, max, true, true, true
}

// KeyBounds collects the bound of every column the WHERE clause compares
// with constants, in the order the columns first appear.
func KeyBounds(where *pg_query.Node) []KeyBound {
	if where == nil {
		return nil
	}
	var order []string
	byCol := map[string]*KeyBound{}
	get := func(col string) *KeyBound {
		if b := byCol[col]; b != nil {
			return b
		}
		order = append(order, col)
		byCol[col] = &KeyBound{Column: col}
		return byCol[col]
	}
	for _, c := range conjuncts(where) {
		e := c.GetAExpr()
		if e == nil {
			continue
		}
		col, val := e.Lexpr, e.Rexpr
		op := NameList(e.Name)
		if columnName(col) == "" && columnName(val) != "" {
			col, val = val, col
			op = flipOp(op)
		}
		name := columnName(col)
		if name == "" {
			continue
		}
		switch e.Kind {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			if !isConstant(val) {
				continue
			}
			switch op {
			case "=":
				get(name).addValues([]*pg_query.Node{val})
			case ">", ">=":
				get(name).addLower(val, op == ">=")
			case "<", "<=":
				get(name).addUpper(val, op == "<=")
			}
		case pg_query.A_Expr_Kind_AEXPR_OP_ANY:
			if op != "=" || !isConstant(val) {
				continue
			}
			if arr := val.GetAArrayExpr(); arr != nil {
				get(name).addValues(arr.Elements)
			} else if tc := val.GetTypeCast(); tc != nil && tc.Arg.GetAArrayExpr() != nil {
				get(name).addValues(tc.Arg.GetAArrayExpr().Elements)
			} else {
				// = ANY($1): bounded, but by values unknown until run time.
				get(name).addValues([]*pg_query.Node{val})
			}
		case pg_query.A_Expr_Kind_AEXPR_IN:
			if op != "=" {
				continue
			}
			if l := val.GetList(); l != nil && allConstant(l.Items) {
				get(name).addValues(l.Items)
			}
		case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM:
			l := val.GetList()
			if l == nil || len(l.Items) != 2 || !allConstant(l.Items) {
				continue
			}
			lo, hi := l.Items[0], l.Items[1]
			if e.Kind == pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM {
				a, ok1 := IntConstant(lo)
				b, ok2 := IntConstant(hi)
				if !ok1 || !ok2 {
					// Bounded on both sides, in an order only the server
					// knows: a list of the two ends keeps it bounded.
					get(name).markBounded()
					continue
				}
				if a > b {
					lo, hi = hi, lo
				}
			}
			b := get(name)
			b.addLower(lo, true)
			b.addUpper(hi, true)
		}
	}
	out := make([]KeyBound, 0, len(order))
	for _, col := range order {
		out = append(out, *byCol[col])
	}
	return out
}

// BoundByKey picks, among the bounds of the key columns (nil keys: any
// column, when the table's keys are unknown), the one that limits the
// rows most, and how far it does.
func BoundByKey(where *pg_query.Node, keys []string) (KeyBound, Reach) {
	var best KeyBound
	reach := ReachAll
	for _, b := range KeyBounds(where) {
		if keys != nil && !contains(keys, b.Column) {
			continue
		}
		if r := b.Reach(); r > reach {
			best, reach = b, r
		}
	}
	return best, reach
}

// BoundedByKey reports whether a WHERE clause limits the rows by a key
// known up front, the table's keys being unknown: some column is compared
// with constants by =, = ANY, IN, BETWEEN, or a lower and an upper bound.
func BoundedByKey(where *pg_query.Node) bool {
	_, r := BoundByKey(where, nil)
	return r == ReachBounded
}

// KeyColumns are the columns that lead the table's primary key and its
// unique constraints and indexes, primary key first: a bound on one of
// them limits the rows an index range reaches. Nil when the model knows
// the table but no key of it, or does not know the table: then any
// column counts.
func (s *Schema) KeyColumns(table string) []string {
	t := s.Table(table)
	if t == nil {
		return nil
	}
	var out []string
	add := func(cols []string) {
		if len(cols) > 0 && cols[0] != "" && !contains(out, cols[0]) {
			out = append(out, cols[0])
		}
	}
	for _, c := range t.Constraints {
		if c.Kind == "primary" {
			add(c.Columns)
		}
	}
	for _, c := range t.Constraints {
		if c.Kind == "unique" {
			add(c.Columns)
		}
	}
	for _, ix := range s.IndexesOn(t.Name) {
		// "" marks an expression, or (from the live catalog) a partial
		// index, which bounds nothing outside its predicate.
		if ix.Unique && !ix.Only && !contains(ix.Columns, "") {
			add(ix.Columns)
		}
	}
	return out
}

// UniqueColumn reports whether the column alone is the table's primary
// key or a unique key, so that n values of it reach at most n rows.
func (s *Schema) UniqueColumn(table, col string) bool {
	t := s.Table(table)
	if t == nil {
		return false
	}
	for _, c := range t.Constraints {
		if (c.Kind == "primary" || c.Kind == "unique") && len(c.Columns) == 1 && c.Columns[0] == col {
			return true
		}
	}
	for _, ix := range s.IndexesOn(t.Name) {
		if ix.Unique && len(ix.Columns) == 1 && ix.Columns[0] == col {
			return true
		}
	}
	return false
}

func (b *KeyBound) addValues(vals []*pg_query.Node) {
	if b.Values == nil || len(vals) < len(b.Values) {
		b.Values = vals
	}
}

// markBounded records a two-sided bound whose ends cannot be ordered here.
func (b *KeyBound) markBounded() { b.unordered = true }

// addLower keeps the tighter of two integer lower bounds; otherwise the
// first, which is as correct (each is implied by the predicate).
func (b *KeyBound) addLower(v *pg_query.Node, inclusive bool) {
	if b.Lower != nil {
		old, ok1 := IntConstant(b.Lower)
		n, ok2 := IntConstant(v)
		if !ok1 || !ok2 || n < old || n == old && (inclusive || !b.LowerInclusive) {
			return
		}
	}
	b.Lower, b.LowerInclusive = v, inclusive
}

func (b *KeyBound) addUpper(v *pg_query.Node, inclusive bool) {
	if b.Upper != nil {
		old, ok1 := IntConstant(b.Upper)
		n, ok2 := IntConstant(v)
		if !ok1 || !ok2 || n > old || n == old && (inclusive || !b.UpperInclusive) {
			return
		}
	}
	b.Upper, b.UpperInclusive = v, inclusive
}

// IntConstant returns the value of an integer literal (possibly cast, or
// negated), or false.
func IntConstant(n *pg_query.Node) (int64, bool) {
	switch {
	case n == nil:
		return 0, false
	case n.GetTypeCast() != nil:
		return IntConstant(n.GetTypeCast().Arg)
	case n.GetAConst() != nil:
		c := n.GetAConst()
		if iv := c.GetIval(); iv != nil {
			return int64(iv.Ival), true
		}
		if fv := c.GetFval(); fv != nil {
			// Integers beyond int32 are parsed as Float nodes.
			if v, err := strconv.ParseInt(fv.Fval, 10, 64); err == nil {
				return v, true
			}
		}
	case n.GetAExpr() != nil:
		e := n.GetAExpr()
		if e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && e.Lexpr == nil && NameList(e.Name) == "-" {
			if v, ok := IntConstant(e.Rexpr); ok {
				return -v, true
			}
		}
	}
	return 0, false
}
