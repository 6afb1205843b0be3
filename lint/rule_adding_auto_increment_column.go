package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A4/A5: serial columns hide a nextval() default and identity columns fill
// themselves from a sequence; either way every existing row gets a fresh
// value, so the table and its indexes are rewritten under ACCESS EXCLUSIVE.
// Identity is included although eugene deliberately skips it: it rewrites
// just the same.
var ruleAddingAutoIncrementColumn = register(&Rule{
	Name:     "adding-auto-increment-column",
	Doc:      "ADD COLUMN serial/bigserial/smallserial or GENERATED ... AS IDENTITY rewrites the table under ACCESS EXCLUSIVE",
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
			tn := TypeNameOf(cd.TypeName)
			identity := identityOf(cd)
			if !isSerialType(tn) && identity == "" {
				continue
			}
			col := QuoteIdent(cd.Colname)
			what := "the " + tn.Name + " type adds a nextval() default"
			if identity != "" {
				what = "an identity column draws a value from its sequence"
			}
			pass.Report(Finding{
				Message: "ADD COLUMN " + col + ": " + what + " that PostgreSQL evaluates for every existing row, rewriting " + at.sql() +
					" and all its indexes while holding " + lockPhrase(AccessExclusive, at.name) + " for the whole rewrite. " +
					"Add a plain column, number the existing rows in batches, then attach the sequence or identity.",
				Locks:   []Lock{NewLock(at.name, AccessExclusive)},
				Rewrite: true,
				Fix:     autoIncrementFix(pass, at, cd, tn, identity),
			})
		}
	},
})

// identityOf returns "a" (ALWAYS) or "d" (BY DEFAULT) for an identity
// column definition, "" otherwise.
func identityOf(cd *pg_query.ColumnDef) string {
	if cd.Identity != "" {
		return cd.Identity
	}
	for _, c := range columnConstraints(cd) {
		if c.Contype == pg_query.ConstrType_CONSTR_IDENTITY {
			if c.GeneratedWhen == "" {
				return "a"
			}
			return c.GeneratedWhen
		}
	}
	return ""
}

// autoIncrementFix is R2 (locks.md §1.11), the identity variant when the
// statement asked for identity.
func autoIncrementFix(pass *Pass, at *alterTarget, cd *pg_query.ColumnDef, tn TypeName, identity string) string {
	pg := pass.Options.PGVersion
	col := QuoteIdent(cd.Colname)
	base := serialBase(tn)
	baseSQL := base.String()
	seqName := pgName(baseName(at.name), cd.Colname, "seq")
	if identity != "" {
		baseSQL = typeSQL(cd.TypeName)
		// The identity will create <table>_<col>_seq itself: the helper
		// sequence must not take that name.
		seqName = pgName(baseName(at.name), cd.Colname, "fill_seq")
	}
	seq := QuoteQualified(schemaOf(at.name) + "." + seqName)
	seqLit := "'" + strings.ReplaceAll(seq, "'", "''") + "'"
	plain := &pg_query.ColumnDef{Colname: cd.Colname, IsLocal: true, TypeName: cd.TypeName}
	if identity == "" {
		plain.TypeName = &pg_query.TypeName{Names: []*pg_query.Node{pg_query.MakeStrNode("pg_catalog"), pg_query.MakeStrNode(base.Name)}}
	}

	var r recipe
	r.note(at.alone("ADD COLUMN " + col))
	createSeq := "CREATE SEQUENCE " + seq
	if pg == 0 || pg >= 10 {
		createSeq += " AS " + baseSQL
	}
	r.step("Own transaction: a sequence and a plain column (catalog only, brief ACCESS EXCLUSIVE).",
		createSeq,
		alterSQL(at.stmt.Relation, addColumnCmd(plain)))
	steps := []string{"ALTER TABLE " + at.sql() + " ALTER COLUMN " + col + " SET DEFAULT nextval(" + seqLit + ")"}
	if identity == "" {
		steps = append(steps, "ALTER SEQUENCE "+seq+" OWNED BY "+at.sql()+"."+col)
	}
	r.step("Same transaction: new rows take numbers from the sequence; nothing is rewritten.", steps...)
	r.step("Outside any transaction: number the existing rows in batches.",
		"-- "+backfillComment(at.name, col+" = nextval("+seqLit+")", col+" IS NULL"))
	notNullSteps(&r, at.name, cd.Colname, pg, "")
	pk := hasConstraint(cd, pg_query.ConstrType_CONSTR_PRIMARY)
	uq := hasConstraint(cd, pg_query.ConstrType_CONSTR_UNIQUE)
	idx := QuoteIdent(pgName(baseName(at.name), cd.Colname, "key"))
	if pk || uq {
		r.step("Outside any transaction: build the unique index without blocking writes.",
			"CREATE UNIQUE INDEX CONCURRENTLY "+idx+" ON "+at.sql()+" ("+col+")")
		kind := "UNIQUE"
		name := idx
		if pk {
			kind = "PRIMARY KEY"
			name = QuoteIdent(pgName(baseName(at.name), "pkey"))
		}
		r.step("Own transaction: attach the index as the constraint (brief ACCESS EXCLUSIVE, no scan now that the column is NOT NULL).",
			"ALTER TABLE "+at.sql()+" ADD CONSTRAINT "+name+" "+kind+" USING INDEX "+idx)
	}
	if identity != "" {
		when := "BY DEFAULT"
		if identity == "a" {
			when = "ALWAYS"
		}
		lit := "'" + strings.ReplaceAll(at.sql(), "'", "''") + "'"
		r.step("Own transaction: turn the column into an identity (ACCESS EXCLUSIVE, no rewrite), move its sequence past the numbers used, drop the helper sequence.",
			"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" DROP DEFAULT",
			"ALTER TABLE "+at.sql()+" ALTER COLUMN "+col+" ADD GENERATED "+when+" AS IDENTITY",
			"SELECT setval(pg_get_serial_sequence("+lit+", '"+strings.ReplaceAll(cd.Colname, "'", "''")+"'), (SELECT max("+col+") FROM "+at.sql()+"))",
			"DROP SEQUENCE "+seq)
	}
	return r.String()
}
