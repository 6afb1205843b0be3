package migrate

import (
	"strings"

	"github.com/migrate-tool/migrate/backfill"
	"github.com/migrate-tool/migrate/lint"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// dataChange is how an UPDATE or DELETE of an existing table runs, judged
// by what its WHERE says about the table's key (lint.BoundByKey, the rule
// whole-table-dml's judgement too).
type dataChange struct {
	reach lint.Reach
	// asWritten: the change reaches at most one batch of rows, so one
	// short statement is what a backfill would do anyway.
	asWritten bool
	// ranges bound the backfill's walk; empty for a whole-table walk.
	ranges []backfill.KeyRange
}

func (p *planner) judgeDataChange(table string, where *pg_query.Node) dataChange {
	keys := p.schema.KeyColumns(table)
	bound, reach := lint.BoundByKey(where, keys)
	dc := dataChange{reach: reach}
	if reach == lint.ReachAll {
		return dc
	}
	if n, ok := bound.MaxKeys(); ok && n <= int64(p.batchRows()) {
		// n values of a column reach n rows only if the column alone is a
		// key; a table the model does not know gets the benefit of the
		// doubt, as lint gives it.
		dc.asWritten = keys == nil || p.schema.UniqueColumn(table, bound.Column)
	}
	if !dc.asWritten {
		dc.ranges = keyRanges(where, keys)
	}
	return dc
}

// batchRows is the most rows a data change may reach and still run as
// written: the backfiller's first batch.
func (p *planner) batchRows() int {
	if p.opts.Batch > 0 {
		return p.opts.Batch
	}
	return backfill.DefaultBatch
}

// keyRanges turns the WHERE's bounds on key columns (any column when the
// keys are unknown) into the backfiller's ranges; it walks the one on its
// key's leading column.
func keyRanges(where *pg_query.Node, keys []string) []backfill.KeyRange {
	var out []backfill.KeyRange
	for _, b := range lint.KeyBounds(where) {
		if keys != nil && !contains(keys, b.Column) {
			continue
		}
		lo, hi, loInc, hiInc, ok := b.Range()
		if !ok || lo.GetParamRef() != nil || hi.GetParamRef() != nil {
			continue
		}
		kr := backfill.KeyRange{Column: b.Column, LowerInclusive: loInc, UpperInclusive: hiInc}
		if lo != nil {
			kr.Lower = deparseExpr(lo)
		}
		if hi != nil {
			kr.Upper = deparseExpr(hi)
		}
		out = append(out, kr)
	}
	return out
}

// rangeText shows a key range as a condition, for step descriptions.
func rangeText(kr backfill.KeyRange) string {
	var parts []string
	if kr.Lower != "" {
		op := " > "
		if kr.LowerInclusive {
			op = " >= "
		}
		parts = append(parts, qi(kr.Column)+op+kr.Lower)
	}
	if kr.Upper != "" {
		op := " < "
		if kr.UpperInclusive {
			op = " <= "
		}
		parts = append(parts, qi(kr.Column)+op+kr.Upper)
	}
	return strings.Join(parts, " AND ")
}

// walkText describes the walk of a backfill over ranges, for step
// descriptions: "" for a whole-table walk.
func walkText(ranges []backfill.KeyRange) string {
	if len(ranges) == 0 {
		return ""
	}
	var conds []string
	for _, kr := range ranges {
		conds = append(conds, rangeText(kr))
	}
	return "; the walk covers only the key range " + strings.Join(conds, " or ") + " (the range on the walked key applies)"
}

// KeyRanges are the ranges a predicate written for `migrate backfill
// --where` bounds. The command does not read the table's keys, so the
// bound of every column goes to the backfiller, which walks the one on
// its key. A predicate that does not parse as one expression gives none
// (the backfiller reports what is wrong with it).
func KeyRanges(where string) []backfill.KeyRange {
	if strings.TrimSpace(where) == "" {
		return nil
	}
	r, err := pg_query.Parse("SELECT WHERE " + where + "\n")
	if err != nil || len(r.Stmts) != 1 || r.Stmts[0].Stmt.GetSelectStmt() == nil {
		return nil
	}
	return keyRanges(r.Stmts[0].Stmt.GetSelectStmt().WhereClause, nil)
}

// walkableKey reports whether the backfiller can walk t by a key rather
// than by ctid: a primary key, or a unique index (constraint or not) that
// is neither partial nor on expressions and whose columns are NOT NULL.
func walkableKey(s *lint.Schema, t *lint.Table) bool {
	allNotNull := func(cols []string) bool {
		for _, c := range cols {
			if col := t.Column(c); c == "" || col == nil || !col.NotNull {
				return false
			}
		}
		return len(cols) > 0
	}
	for _, c := range t.Constraints {
		if c.Kind == "primary" || (c.Kind == "unique" && allNotNull(c.Columns)) {
			return true
		}
	}
	for _, ix := range s.IndexesOn(t.Name) {
		if ix.Unique && !ix.Only && allNotNull(ix.Columns) {
			return true
		}
	}
	return false
}

// idempotentSet reports whether applying the assignments twice leaves a
// row as applying them once does: no value reads a column the SET writes,
// and none is volatile. Only then is a walk that may meet a row twice (by
// ctid) as good as the single UPDATE.
func idempotentSet(targets []string, values []*pg_query.Node) bool {
	for _, v := range values {
		if isVolatile(v) {
			return false
		}
		for _, ref := range columnRefs(v) {
			if contains(targets, ref) {
				return false
			}
		}
	}
	return true
}
