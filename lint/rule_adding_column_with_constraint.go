package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A8: constraints written inline in ADD COLUMN are built or checked while
// the ALTER holds ACCESS EXCLUSIVE: a CHECK scans the table, UNIQUE and
// PRIMARY KEY build an index, and a PRIMARY KEY also proves NOT NULL.
// REFERENCES is different: a new nullable column without a default holds
// only NULLs, which an FK never checks, so there is no scan — but the
// referenced table gets SHARE ROW EXCLUSIVE (blocks its writes) for as long
// as the ALTER waits for and holds its locks. That brief lock is a warning
// when no lock_timeout bounds the wait, and nothing when one does; with a
// default or a generated value there is something to check, and it is an
// error.
var ruleAddingColumnWithConstraint = register(&Rule{
	Name:     "adding-column-with-constraint",
	Doc:      "ADD COLUMN with inline CHECK, REFERENCES, UNIQUE or PRIMARY KEY scans or builds an index under ACCESS EXCLUSIVE",
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
			reportInlineConstraints(pass, at, cd)
		}
	},
})

func reportInlineConstraints(pass *Pass, at *alterTarget, cd *pg_query.ColumnDef) {
	col := QuoteIdent(cd.Colname)
	filled := columnDefault(cd) != nil || identityOf(cd) != "" || generatedExpr(cd) != nil || isSerialType(TypeNameOf(cd.TypeName))
	var problems []string
	locks := []Lock{NewLock(at.name, AccessExclusive)}
	severity := Severity(0)
	scan := false
	var fkOnly []string
	for _, c := range columnConstraints(cd) {
		switch c.Contype {
		case pg_query.ConstrType_CONSTR_CHECK:
			problems = append(problems, "CHECK ("+DeparseExpr(c.RawExpr)+") is verified against every existing row")
			scan, severity = true, SeverityError
		case pg_query.ConstrType_CONSTR_UNIQUE:
			problems = append(problems, "UNIQUE builds an index over the whole table")
			scan, severity = true, SeverityError
		case pg_query.ConstrType_CONSTR_PRIMARY:
			problems = append(problems, "PRIMARY KEY builds an index over the whole table and checks the column for NULLs")
			scan, severity = true, SeverityError
		case pg_query.ConstrType_CONSTR_FOREIGN:
			parent := RangeVarName(c.Pktable)
			if parent != at.name {
				locks = append(locks, NewLock(parent, ShareRowExclusive))
			}
			if filled {
				problems = append(problems, "REFERENCES "+QuoteQualified(parent)+" checks every existing row's value against "+
					QuoteQualified(parent)+", which holds "+lockPhrase(ShareRowExclusive, parent)+" during the scan")
				scan, severity = true, SeverityError
			} else {
				fkOnly = append(fkOnly, parent)
			}
		}
	}
	if len(fkOnly) > 0 && severity == 0 {
		if lockTimeoutSet(pass) {
			return
		}
		parent := fkOnly[0]
		problems = append(problems, "REFERENCES "+QuoteQualified(parent)+" needs no scan (the new column is all NULL) but takes "+
			lockPhrase(ShareRowExclusive, parent)+", and without a lock_timeout the ALTER can queue behind a long transaction on either table and stall both")
		severity = SeverityWarning
	} else if len(fkOnly) > 0 {
		for _, parent := range fkOnly {
			problems = append(problems, "REFERENCES "+QuoteQualified(parent)+" takes "+lockPhrase(ShareRowExclusive, parent))
		}
	}
	if severity == 0 {
		return
	}
	if !scan {
		set := "SET lock_timeout = '2s'"
		if pass.Stmt.InTxBlock {
			set = "SET LOCAL lock_timeout = '2s'"
		}
		var r recipe
		r.step("Bound the wait, so a long transaction on either table makes this fail fast (retry it) instead of stalling the writes queued behind it:",
			set, strings.TrimSpace(pass.Stmt.Text()))
		pass.Report(Finding{
			Message: "ADD COLUMN " + col + " takes " + lockPhrase(AccessExclusive, at.name) + " for a catalog change, but " +
				strings.Join(problems, "; ") + ". Set a lock_timeout first.",
			Severity: severity,
			Locks:    locks,
			Fix:      r.String(),
		})
		return
	}
	pass.Report(Finding{
		Message: "ADD COLUMN " + col + " with inline constraints takes " + lockPhrase(AccessExclusive, at.name) + " and scans or builds under it: " +
			strings.Join(problems, "; ") + ". Add the plain column first, then each constraint in its online form.",
		Severity: severity,
		Locks:    locks,
		Scan:     scan,
		Fix:      inlineConstraintFix(pass, at, cd),
	})
}

// inlineConstraintFix splits the column from its constraints and adds each
// constraint the way its own rule recommends.
func inlineConstraintFix(pass *Pass, at *alterTarget, cd *pg_query.ColumnDef) string {
	var r recipe
	col := QuoteIdent(cd.Colname)
	r.note(at.alone("ADD COLUMN " + col))
	// The expand step keeps what is cheap on its own (type, NOT NULL,
	// DEFAULT, identity) and drops what scans or builds.
	plain := &pg_query.ColumnDef{Colname: cd.Colname, TypeName: cd.TypeName, CollClause: cd.CollClause, IsLocal: true, RawDefault: cd.RawDefault}
	var rest []*pg_query.Constraint
	for _, n := range cd.Constraints {
		c := n.GetConstraint()
		if c == nil {
			continue
		}
		switch c.Contype {
		case pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_FOREIGN,
			pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
			rest = append(rest, c)
		default:
			plain.Constraints = append(plain.Constraints, n)
		}
	}
	r.step("Own transaction: the column without its constraints (catalog only, brief ACCESS EXCLUSIVE).",
		alterSQL(at.stmt.Relation, addColumnCmd(plain)))
	for _, c := range rest {
		switch c.Contype {
		case pg_query.ConstrType_CONSTR_CHECK:
			name := constraintNameOr(c, at.name, []string{cd.Colname}, "check")
			nv := &pg_query.Constraint{Contype: c.Contype, Conname: name, RawExpr: c.RawExpr, IsNoInherit: c.IsNoInherit, SkipValidation: true}
			r.step("Own transaction: the CHECK as NOT VALID (no scan).", alterSQL(at.stmt.Relation, addConstraintCmd(nv)))
			r.step("Separate transaction: VALIDATE scans under SHARE UPDATE EXCLUSIVE; reads and writes continue.",
				"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(name))
		case pg_query.ConstrType_CONSTR_FOREIGN:
			name := constraintNameOr(c, at.name, []string{cd.Colname}, "fkey")
			nv := foreignKeyNotValid(c, name, []string{cd.Colname})
			r.step("Own transaction with a short lock_timeout: the foreign key as NOT VALID (SHARE ROW EXCLUSIVE on both tables, no scan).",
				alterSQL(at.stmt.Relation, addConstraintCmd(nv)))
			r.step("Separate transaction: VALIDATE takes SHARE UPDATE EXCLUSIVE here and ROW SHARE on "+QuoteQualified(RangeVarName(c.Pktable))+"; reads and writes continue.",
				"ALTER TABLE "+at.sql()+" VALIDATE CONSTRAINT "+QuoteIdent(name))
		case pg_query.ConstrType_CONSTR_UNIQUE:
			name := constraintNameOr(c, at.name, []string{cd.Colname}, "key")
			uniqueUsingIndexSteps(&r, at, name, col, c, "UNIQUE")
		case pg_query.ConstrType_CONSTR_PRIMARY:
			if !columnNotNull(cd) {
				notNullSteps(&r, at.name, cd.Colname, pass.Options.PGVersion, "")
			}
			name := constraintNameOr(c, at.name, nil, "pkey")
			uniqueUsingIndexSteps(&r, at, name, col, c, "PRIMARY KEY")
		}
	}
	return r.String()
}

// constraintNameOr is the constraint's own name, or the one PostgreSQL
// would choose, so that later steps can refer to it.
func constraintNameOr(c *pg_query.Constraint, table string, cols []string, suffix string) string {
	if c.Conname != "" {
		return c.Conname
	}
	return pgName(append(append([]string{baseName(table)}, cols...), suffix)...)
}

// foreignKeyNotValid copies an FK constraint with a name and NOT VALID.
func foreignKeyNotValid(c *pg_query.Constraint, name string, cols []string) *pg_query.Constraint {
	fkAttrs := c.FkAttrs
	if len(fkAttrs) == 0 {
		for _, col := range cols {
			fkAttrs = append(fkAttrs, pg_query.MakeStrNode(col))
		}
	}
	return &pg_query.Constraint{
		Contype: pg_query.ConstrType_CONSTR_FOREIGN, Conname: name, Pktable: c.Pktable,
		FkAttrs: fkAttrs, PkAttrs: c.PkAttrs, FkMatchtype: c.FkMatchtype,
		FkUpdAction: c.FkUpdAction, FkDelAction: c.FkDelAction, FkDelSetCols: c.FkDelSetCols,
		Deferrable: c.Deferrable, Initdeferred: c.Initdeferred, SkipValidation: true,
	}
}

// uniqueUsingIndexSteps is the D4/D5 recipe: build the index concurrently,
// then attach it as the constraint, which needs no build and no scan.
func uniqueUsingIndexSteps(r *recipe, at *alterTarget, name, cols string, c *pg_query.Constraint, kind string) {
	idx := QuoteIdent(name)
	create := "CREATE UNIQUE INDEX CONCURRENTLY " + idx + " ON " + at.sql() + " (" + cols + ")"
	if len(c.Including) > 0 {
		inc := make([]string, 0, len(c.Including))
		for _, n := range ColumnNames(c.Including) {
			inc = append(inc, QuoteIdent(n))
		}
		create += " INCLUDE (" + strings.Join(inc, ", ") + ")"
	}
	if c.NullsNotDistinct {
		create += " NULLS NOT DISTINCT"
	}
	r.step("Outside any transaction: build the unique index without blocking reads or writes (SHARE UPDATE EXCLUSIVE).", create)
	attach := "ALTER TABLE " + at.sql() + " ADD CONSTRAINT " + idx + " " + kind + " USING INDEX " + idx
	if c.Deferrable {
		attach += " DEFERRABLE"
		if c.Initdeferred {
			attach += " INITIALLY DEFERRED"
		}
	}
	r.step("Own transaction: attach the index as the constraint (brief ACCESS EXCLUSIVE, no build).", attach)
}
