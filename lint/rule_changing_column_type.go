package lint

import (
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// B1-B5: ALTER COLUMN ... TYPE rewrites the table and rebuilds every index
// under ACCESS EXCLUSIVE unless the change is binary-coercible
// (coercible.go). Judging that needs the column's current type, which the
// schema model supplies when the migrations that built the table are
// linted together; otherwise the verdict assumes a rewrite and says so.
// Even a coercible change re-checks the column's CHECK constraints with a
// full scan (B3), and a rewrite of an FK or referenced key column locks and
// scans the table on the other side (B4).
var ruleChangingColumnType = register(&Rule{
	Name:     "changing-column-type",
	Doc:      "ALTER COLUMN ... TYPE that is not binary-coercible rewrites the table and its indexes under ACCESS EXCLUSIVE",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		at := existingAlter(pass)
		if at == nil {
			return
		}
		for _, cmd := range at.cmds {
			if cmd.Subtype != pg_query.AlterTableType_AT_AlterColumnType {
				continue
			}
			cd := cmd.Def.GetColumnDef()
			if cd == nil || cd.TypeName == nil {
				continue
			}
			checkTypeChange(pass, at, cmd.Name, cd)
		}
	},
})

func checkTypeChange(pass *Pass, at *alterTarget, colName string, cd *pg_query.ColumnDef) {
	pg := pass.Options.PGVersion
	to := TypeNameOf(cd.TypeName)
	toSQL := typeSQL(cd.TypeName)
	col := QuoteIdent(colName)
	cur := at.table.Column(colName)
	head := "ALTER COLUMN " + col + " TYPE " + toSQL
	lock := lockPhrase(AccessExclusive, at.name)

	if cur == nil {
		pass.Report(Finding{
			Message: head + ": the current type of " + col + " is unknown (the migrations that created it were not part of this run), " +
				"so this verdict assumes the usual case, a rewrite of " + at.sql() + " and every index under " + lock +
				". Widening varchar/numeric and varchar→text are catalog-only; lint the whole migration directory to get an exact verdict.",
			Locks:   []Lock{NewLock(at.name, AccessExclusive)},
			Rewrite: true,
			Fix:     typeChangeFix(pass, at, colName, cd, nil, TypeChangeVerdict{}),
		})
		return
	}

	from := cur.Type
	verdict := ClassifyTypeChange(pass.Schema, colName, from, to, cd.RawDefault, pg)
	fromSQL := from.String()

	switch verdict.Kind {
	case TypeChangeCatalogOnly:
		checks := validChecksOn(at.table, colName)
		if len(checks) == 0 {
			return
		}
		pass.Report(Finding{
			Message: head + " (from " + fromSQL + ") is binary-coercible, so there is no rewrite, but PostgreSQL re-checks CHECK constraint " +
				strings.Join(quoteAll(checks), ", ") + " on " + col + " with a full scan of " + at.sql() + " while holding " + lock + ".",
			Locks: []Lock{NewLock(at.name, AccessExclusive)},
			Scan:  true,
			Fix:   checkedCoercibleFix(at, colName, checks, toSQL),
		})
	case TypeChangeCatalogOnlyIfUTC:
		if pass.Tx.TimeZoneUTC {
			return // the transaction pinned TimeZone to UTC: a relabel, no rewrite
		}
		var r recipe
		r.note("With TimeZone = 'UTC' PostgreSQL 12+ relabels the column without a rewrite; existing values are then read as UTC,")
		r.note("which is right only if that is what they were written in.")
		r.step("Own transaction:", "BEGIN", "SET LOCAL TimeZone = 'UTC'",
			"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" TYPE "+toSQL, "COMMIT")
		pass.Report(Finding{
			Message: head + " (from " + fromSQL + ") depends on the session TimeZone: PostgreSQL 12+ skips the rewrite only when TimeZone is UTC; " +
				"under any other zone it rewrites " + at.sql() + " and every index while holding " + lock + ", converting the values in that zone. " +
				"Pin it with SET LOCAL TimeZone = 'UTC' in the same transaction.",
			Severity: SeverityWarning,
			Locks:    []Lock{NewLock(at.name, AccessExclusive)},
			Rewrite:  true,
			Fix:      r.String(),
		})
	case TypeChangeNoAutoCast:
		// The fix converts with the explicit cast the author has to choose.
		withCast := &pg_query.ColumnDef{Colname: cd.Colname, TypeName: cd.TypeName}
		withCast.RawDefault = &pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: &pg_query.TypeCast{
			Arg: pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(colName)}, -1), TypeName: cd.TypeName, Location: -1}}}
		pass.Report(Finding{
			Message: head + " (from " + fromSQL + ") fails as written: PostgreSQL has no automatic cast from " + fromSQL + " to " + toSQL +
				" (column " + col + " cannot be cast automatically). Say how with USING, e.g. USING " + col + "::" + toSQL +
				"; that rewrites " + at.sql() + " and every index while holding " + lock + ", and fails on the first value that does not convert.",
			Locks: []Lock{NewLock(at.name, AccessExclusive)},
			Fix:   typeChangeFix(pass, at, colName, withCast, cur, TypeChangeVerdict{}),
		})
	default:
		locks := []Lock{NewLock(at.name, AccessExclusive)}
		var others []string
		for _, other := range fkPartners(pass.Schema, at.table, colName) {
			locks = append(locks, NewLock(other, AccessExclusive))
			others = append(others, QuoteQualified(other))
		}
		why := " is not binary-coercible"
		if verdict.Computed {
			why = " has a USING expression, computed for every row"
		}
		msg := head + " (from " + fromSQL + ")" + why + ": PostgreSQL rewrites " + at.sql() +
			" and rebuilds every index while holding " + lock + " for the whole rewrite."
		if verdict.MayFail {
			msg += narrowingNote(at, col, fromSQL, toSQL, verdict)
		}
		if len(others) > 0 {
			msg += " The column is part of a foreign key, so " + strings.Join(others, ", ") +
				" is locked ACCESS EXCLUSIVE as well (blocks reads and writes) and both sides are scanned to re-validate it."
		}
		msg += " A view that selects the column makes the statement fail instead (cannot alter type of a column used by a view or rule)."
		pass.Report(Finding{
			Message: msg,
			Locks:   locks,
			Rewrite: true,
			Scan:    len(others) > 0 || verdict.MayFail,
			Fix:     typeChangeFix(pass, at, colName, cd, cur, verdict),
		})
	}
}

// narrowingNote tells that the new type does not hold every old value: the
// rewrite converts each row and the statement fails on the first misfit,
// after scanning up to the whole table under its lock.
func narrowingNote(at *alterTarget, col, fromSQL, toSQL string, v TypeChangeVerdict) string {
	msg := " It narrows " + fromSQL + " to " + toSQL + ": the rewrite converts every existing value and the statement fails on the first one that does not fit, " +
		"after scanning up to all of " + at.sql() + " under that lock."
	if p := v.Misfit(col); p != "" {
		msg += " Check first, with a read-only query: SELECT " + col + " FROM " + at.sql() + " WHERE " + p + " LIMIT 1."
	}
	return msg
}

// validChecksOn lists the validated CHECK constraints that mention col. A
// NOT VALID check is re-added NOT VALID after the type change and does not
// scan.
func validChecksOn(t *Table, col string) []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, c := range t.Constraints {
		if c.Kind == "check" && c.Valid && (contains(c.Columns, col) || c.NotNullOf == col) {
			out = append(out, c.Name)
		}
	}
	return out
}

// fkPartners returns the tables on the other side of a foreign key that
// involves col: the referenced table when col is a referencing column, and
// the referencing tables when col is in this table's primary key or a
// unique constraint that some foreign key points at.
func fkPartners(s *Schema, t *Table, col string) []string {
	if s == nil || t == nil {
		return nil
	}
	var out []string
	keyCol := false
	for _, c := range t.Constraints {
		switch {
		case c.Kind == "foreign" && contains(c.Columns, col) && c.RefTable != t.Name && !contains(out, c.RefTable):
			out = append(out, c.RefTable)
		case (c.Kind == "primary" || c.Kind == "unique") && contains(c.Columns, col):
			keyCol = true
		}
	}
	if keyCol {
		for _, other := range s.Tables {
			if other == t {
				continue
			}
			for _, c := range other.Constraints {
				if c.Kind == "foreign" && c.RefTable == t.Name && !contains(out, other.Name) {
					out = append(out, other.Name)
				}
			}
		}
	}
	// Map iteration order must not leak into findings.
	sort.Strings(out)
	return out
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = QuoteIdent(n)
	}
	return out
}

// checkedCoercibleFix is the B3 recipe: drop the checks, change the type
// (now catalog-only), put the checks back NOT VALID and validate them in a
// separate transaction. The check expressions are not in the model, so the
// fix names them and leaves their text to the reader.
func checkedCoercibleFix(at *alterTarget, col string, checks []string, toSQL string) string {
	var r recipe
	r.note(at.alone("ALTER COLUMN " + QuoteIdent(col) + " TYPE"))
	var drops []string
	for _, ck := range checks {
		drops = append(drops, "ALTER TABLE "+at.sql()+" DROP CONSTRAINT "+QuoteIdent(ck))
	}
	steps := append(drops, "ALTER TABLE "+at.sql()+" ALTER COLUMN "+QuoteIdent(col)+" TYPE "+toSQL)
	for _, ck := range checks {
		steps = append(steps, "ALTER TABLE "+at.sql()+" ADD CONSTRAINT "+QuoteIdent(ck)+" CHECK (<same condition as before>) NOT VALID")
	}
	r.step("One short transaction: without the checks the type change is catalog-only; re-add them NOT VALID (no scan).", steps...)
	var validates []string
	for _, ck := range checks {
		validates = append(validates, "ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(ck))
	}
	r.step("Separate transaction: VALIDATE scans under SHARE UPDATE EXCLUSIVE; reads and writes continue.", validates...)
	return r.String()
}

// typeChangeFix is R4 (locks.md §1.11): a new column kept in step by a
// trigger, backfilled in batches, indexed concurrently, and swapped in one
// short transaction. The names are the planner's, so the fix and
// `migrate plan` agree.
func typeChangeFix(pass *Pass, at *alterTarget, colName string, cd *pg_query.ColumnDef, cur *Column, v TypeChangeVerdict) string {
	col := QuoteIdent(colName)
	newName := FitName(ReservedPrefix + "new_" + colName)
	newCol := QuoteIdent(newName)
	toSQL := typeSQL(cd.TypeName)
	conv := cd.RawDefault
	if conv == nil {
		// Assigning the plain column converts the way ALTER ... TYPE does
		// (an assignment cast): an over-long string fails instead of being
		// cut, as an explicit ::varchar(n) would silently do.
		conv = pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(colName)}, -1)
	}
	var r recipe
	r.note(at.alone("ALTER COLUMN " + col + " TYPE"))
	const first = "First, before any change: a read-only check that every existing value fits "
	if p := v.Misfit(col); p != "" {
		r.step(first+toSQL+" (it raises an error naming a row that does not).",
			FitCheckSQL(at.name, tableKey(at.table), colName, TypeNameOf(cd.TypeName).String(), p))
	} else if v.CastCheck() {
		r.step(first+toSQL+", casting each (it raises an error naming a row that does not).",
			CastCheckSQL(at.name, tableKey(at.table), colName, cd.TypeName))
	}
	r.step("Own transaction: the new column (catalog only, brief ACCESS EXCLUSIVE).",
		"ALTER TABLE "+at.sql()+" ADD COLUMN "+newCol+" "+toSQL)
	trg := copyTrigger(pass, at.name, newName, colName, cd.RawDefault)
	r.step("Own short transaction: keep it in step for new and changed rows (SHARE ROW EXCLUSIVE, brief).", trg.create...)
	r.step("Outside any transaction: convert the existing rows in batches.",
		"-- "+backfillComment(at.name, newCol+" = "+DeparseExpr(conv), newCol+" IS NULL AND "+col+" IS NOT NULL"))
	if cur != nil && cur.NotNull {
		ck := QuoteIdent(NotNullCheckName(baseName(at.name), newName))
		r.step("Own transaction, then a separate one: prove the new column NOT NULL without a long lock.",
			"ALTER TABLE "+at.sql()+" ADD CONSTRAINT "+ck+" CHECK ("+newCol+" IS NOT NULL) NOT VALID",
			"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+ck)
	}
	r.step("Outside any transaction: recreate each index of "+col+" on "+newCol+" with CREATE INDEX CONCURRENTLY (unique ones too).",
		"-- CREATE INDEX CONCURRENTLY ... ON "+at.sql()+" ("+newCol+")")
	swap := []string{"BEGIN", trg.drop,
		"ALTER TABLE " + at.sql() + " DROP COLUMN " + col,
		"ALTER TABLE " + at.sql() + " RENAME COLUMN " + newCol + " TO " + col}
	if cur != nil && cur.NotNull {
		swap = append(swap, "ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" SET NOT NULL")
	}
	swap = append(swap, "COMMIT", trg.dropFunc)
	r.step("One short transaction: swap the columns (brief ACCESS EXCLUSIVE). Views that select "+col+" must be dropped before and recreated after; attach unique indexes with ADD CONSTRAINT ... USING INDEX here.", swap...)
	return r.String()
}

// copyTrigger is the planner's trigger of R4, statement for statement:
// it sets the new column from the old one (or from the USING expression)
// on every insert and update.
func copyTrigger(pass *Pass, table, newCol, col string, using *pg_query.Node) triggerSQL {
	value := "NEW." + QuoteIdent(col)
	if using != nil {
		value = withNewPrefix(using)
	}
	s := NewSyncTrigger(table, col, CopyBody(newCol, value), pass.Options.PGVersion)
	return triggerSQL{create: []string{s.Function, s.Trigger}, drop: s.DropTrigger, dropFunc: s.DropFunction}
}

// tableKey is the primary key of a table in the model, or nil.
func tableKey(t *Table) []string {
	if t == nil {
		return nil
	}
	for _, c := range t.Constraints {
		if c.Kind == "primary" {
			return c.Columns
		}
	}
	return nil
}

// FitCheckSQL is the read-only check run before a narrowing type change:
// a DO block that finds one row whose col satisfies misfit (a predicate
// from TypeChangeVerdict.Misfit) and raises an error naming its key (the
// columns of key, or its ctid when there is no key) and its value.
func FitCheckSQL(table string, key []string, col, toSQL, misfit string) string {
	keySQL := keyText(key)
	what := sqlStringLiteral(DisplayName(table) + "." + col)
	return fitCheckStart + "\nDECLARE\n  bad record;\nBEGIN\n" +
		"  SELECT " + keySQL + " AS key, left(" + QuoteIdent(col) + "::text, 100) AS value INTO bad FROM " + QuoteQualified(table) +
		"\n  WHERE " + misfit + " LIMIT 1;\n" +
		"  IF FOUND THEN\n" +
		"    RAISE EXCEPTION 'migrate: % does not fit %: the row with key % has %; nothing was changed', " + what + ", " + sqlStringLiteral(toSQL) + ", bad.key, bad.value\n" +
		"      USING ERRCODE = 'data_exception', HINT = 'change or delete the rows that do not fit, or give the statement a USING clause';\n" +
		"  END IF;\nEND\n$migrate_fit$"
}

// CastCheckSQL is the read-only check of a change that may fail but has no
// predicate (TypeChangeVerdict.CastCheck): one scan casting every value of
// col to the new type; only when that fails, a second look for the first
// row whose cast fails, to name its key and value in the error.
func CastCheckSQL(table string, key []string, col string, to *pg_query.TypeName) string {
	toSQL := typeSQL(to)
	c := QuoteIdent(col)
	what := sqlStringLiteral(DisplayName(table) + "." + col)
	return fitCheckStart + "\nDECLARE\n  bad record;\nBEGIN\n" +
		"  PERFORM count(" + c + "::" + toSQL + ") FROM " + QuoteQualified(table) + ";\n" +
		"EXCEPTION WHEN others THEN\n" +
		"  FOR bad IN SELECT " + keyText(key) + " AS key, " + c + " AS value FROM " + QuoteQualified(table) + " WHERE " + c + " IS NOT NULL LOOP\n" +
		"    BEGIN\n      PERFORM bad.value::" + toSQL + ";\n    EXCEPTION WHEN others THEN\n" +
		"      RAISE EXCEPTION 'migrate: % does not fit %: the row with key % has %; nothing was changed', " + what + ", " +
		sqlStringLiteral(TypeNameOf(to).String()) + ", bad.key, left(bad.value::text, 100)\n" +
		"        USING ERRCODE = 'data_exception', DETAIL = SQLERRM, HINT = 'change or delete the rows that do not fit, or give the statement a USING clause';\n" +
		"    END;\n  END LOOP;\n  RAISE;\nEND\n$migrate_fit$"
}

// keyText renders a row's key as text: its key columns, or its ctid.
func keyText(key []string) string {
	switch len(key) {
	case 0:
		return "ctid::text"
	case 1:
		return QuoteIdent(key[0]) + "::text"
	}
	q := make([]string, len(key))
	for i, k := range key {
		q[i] = QuoteIdent(k)
	}
	return "ROW(" + strings.Join(q, ", ") + ")::text"
}

// fitCheckStart opens every FitCheckSQL block; its own dollar tag tells it
// from the other DO blocks of a plan.
const fitCheckStart = "DO $migrate_fit$"

// IsFitCheck reports whether sql is a FitCheckSQL block (plus a ";"): it
// reads and changes nothing, so it needs no undo.
func IsFitCheck(sql string) bool {
	sql = strings.TrimSuffix(strings.TrimSpace(sql), ";")
	return strings.HasPrefix(sql, fitCheckStart) && strings.HasSuffix(sql, "$migrate_fit$") && strings.Count(sql, "$migrate_fit$") == 2
}

type triggerSQL struct {
	create         []string
	drop, dropFunc string
}

// syncTriggerAssign renders a trigger that sets NEW.target from expr on
// every insert and update, and the statements that remove it again.
func syncTriggerAssign(pass *Pass, table, target, suffix string, expr *pg_query.Node) triggerSQL {
	name := pgName(baseName(table), suffix)
	fn := QuoteQualified(schemaOf(table) + "." + name)
	trg := QuoteIdent(name)
	value := withNewPrefix(expr)
	if value == "" {
		value = "<expression over NEW.columns>"
	}
	return triggerSQL{
		create: []string{
			"CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n  NEW." + QuoteIdent(target) + " := " + value + ";\n  RETURN NEW;\nEND\n$fn$",
			"CREATE TRIGGER " + trg + " BEFORE INSERT OR UPDATE ON " + QuoteQualified(table) + " FOR EACH ROW " + triggerExec(pass.Options.PGVersion) + " " + fn + "()",
		},
		drop:     "DROP TRIGGER " + trg + " ON " + QuoteQualified(table),
		dropFunc: "DROP FUNCTION " + fn + "()",
	}
}
