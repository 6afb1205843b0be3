package migrate

// The planner needs to know the tables a migration touches: a type change
// must copy the column's indexes and constraints, SET NOT NULL must know
// whether a validated check exists. Offline (`migrate plan`) it only has
// the files; `apply` reads the live catalog into the same model.

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/lint"
)

// LoadSchema reads the database's tables, columns, constraints, indexes,
// enums and domains into a schema model (system schemas and stateSchema
// left out).
func LoadSchema(ctx context.Context, q querier, stateSchema string) (*lint.Schema, error) {
	s := lint.NewSchema()
	byOID := map[uint32]*lint.Table{}
	const userNS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%' AND n.nspname <> $1`

	rows, err := q.Query(ctx, `SELECT c.oid, n.nspname || '.' || c.relname, c.relkind::text, c.relpersistence = 'u',
    coalesce((SELECT pn.nspname || '.' || p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
              JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND `+userNS, stateSchema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid uint32
		var kind string
		t := &lint.Table{}
		if err := rows.Scan(&oid, &t.Name, &kind, &t.Unlogged, &t.PartitionOf); err != nil {
			rows.Close()
			return nil, err
		}
		switch kind {
		case "v":
			t.Kind = "view"
		case "m":
			t.Kind = "matview"
		default:
			t.Kind = "table"
			t.Partitioned = kind == "p"
		}
		s.Tables[t.Name] = t
		byOID[oid] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.Query(ctx, `SELECT a.attrelid, a.attname, a.attnotnull, a.atthasdef, a.attidentity <> '', a.attgenerated <> '', a.atttypmod,
    CASE WHEN e.oid IS NOT NULL THEN e.typname ELSE t.typname END,
    CASE WHEN e.oid IS NOT NULL THEN en.nspname ELSE tn.nspname END,
    e.oid IS NOT NULL
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' LEFT JOIN pg_namespace en ON en.oid = e.typnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND `+userNS+`
ORDER BY a.attrelid, a.attnum`, stateSchema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid uint32
		var typmod int32
		var typ, typNS string
		c := &lint.Column{}
		if err := rows.Scan(&oid, &c.Name, &c.NotNull, &c.HasDefault, &c.Identity, &c.Generated, &typmod, &typ, &typNS, &c.Type.Array); err != nil {
			rows.Close()
			return nil, err
		}
		c.Type.Name = typ
		if typNS != "pg_catalog" {
			c.Type.Name = typNS + "." + typ
		}
		c.Type.Mods = typeMods(typ, typmod)
		if t := byOID[oid]; t != nil {
			t.Columns = append(t.Columns, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	if err := loadDependents(ctx, q, byOID); err != nil {
		return nil, err
	}

	rows, err = q.Query(ctx, `SELECT con.conrelid, con.conname, con.contype::text, con.convalidated,
    coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), '{}'),
    coalesce((SELECT fn.nspname || '.' || f.relname FROM pg_class f JOIN pg_namespace fn ON fn.oid = f.relnamespace WHERE f.oid = con.confrelid), ''),
    coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum), '{}'),
    pg_get_constraintdef(con.oid), CASE WHEN con.conindid <> 0 AND con.contype IN ('p', 'u', 'x') THEN pg_get_indexdef(con.conindid) ELSE '' END
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('c', 'f', 'u', 'p', 'x') AND `+userNS+` ORDER BY con.conrelid, con.conname`, stateSchema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid uint32
		var kind, def string
		con := &lint.Constraint{}
		if err := rows.Scan(&oid, &con.Name, &kind, &con.Valid, &con.Columns, &con.RefTable, &con.RefColumns, &def, &con.IndexDef); err != nil {
			rows.Close()
			return nil, err
		}
		con.Kind = map[string]string{"c": "check", "f": "foreign", "u": "unique", "p": "primary", "x": "exclude"}[kind]
		con.Def = def
		if con.Kind == "check" {
			con.NotNullOf = notNullCheckOf(def)
		}
		if t := byOID[oid]; t != nil {
			t.Constraints = append(t.Constraints, con)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Indexes backing constraints are the constraints' business, as in the
	// model built from files. An expression or partial index gets an ""
	// column, which keeps the planner from copying it as a plain one.
	rows, err = q.Query(ctx, `SELECT n.nspname || '.' || ic.relname, n.nspname || '.' || c.relname, i.indisunique,
    (SELECT array_agg(coalesce(a.attname, '') ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0),
    i.indpred IS NOT NULL OR i.indexprs IS NOT NULL, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))
  AND `+userNS, stateSchema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		ix := &lint.Index{}
		var special bool
		if err := rows.Scan(&ix.Name, &ix.Table, &ix.Unique, &ix.Columns, &special, &ix.Def); err != nil {
			rows.Close()
			return nil, err
		}
		if special && !contains(ix.Columns, "") {
			ix.Columns = append(ix.Columns, "")
		}
		s.Indexes[ix.Name] = ix
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.Query(ctx, `SELECT n.nspname || '.' || t.typname, t.typtype::text,
    EXISTS (SELECT 1 FROM pg_constraint con WHERE con.contypid = t.oid AND con.contype = 'c'),
    coalesce(b.typname, ''), t.typtypmod
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_type b ON b.oid = t.typbasetype AND t.typtype = 'd'
WHERE t.typtype IN ('e', 'd') AND `+userNS, stateSchema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		ty := &lint.Type{}
		var kind, base string
		var typmod int32
		if err := rows.Scan(&ty.Name, &kind, &ty.HasCheck, &base, &typmod); err != nil {
			rows.Close()
			return nil, err
		}
		ty.Kind = map[string]string{"e": "enum", "d": "domain"}[kind]
		if base != "" {
			ty.Base = lint.TypeName{Name: base, Mods: typeMods(base, typmod)}
		}
		s.Types[ty.Name] = ty
	}
	rows.Close()
	return s, rows.Err()
}

// columnDependentsSQL lists, per table column, what depends on it in
// pg_depend apart from what the column swap carries itself: the table's
// indexes and its constraints (copied or re-created by the plan from
// their definitions, and checked by name in the swap guard), sequences
// it owns (their ownership or identity moves to the new column) and its
// own default.
// Views and materialized views are named as such rather than by their
// _RETURN rule.
const columnDependentsSQL = `SELECT d.refobjid, a.attname,
    CASE WHEN d.classid = 'pg_rewrite'::regclass AND rw.rulename = '_RETURN' THEN
           CASE ev.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END || evn.nspname || '.' || ev.relname
         WHEN d.classid = 'pg_attrdef'::regclass THEN
           'generated column ' || (SELECT ga.attname FROM pg_attribute ga WHERE ga.attrelid = ad.adrelid AND ga.attnum = ad.adnum)
           || ' of ' || n.nspname || '.' || c.relname
         ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
FROM pg_depend d
JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
LEFT JOIN pg_rewrite rw ON d.classid = 'pg_rewrite'::regclass AND rw.oid = d.objid
LEFT JOIN pg_class ev ON ev.oid = rw.ev_class LEFT JOIN pg_namespace evn ON evn.oid = ev.relnamespace
LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
LEFT JOIN pg_trigger tg ON d.classid = 'pg_trigger'::regclass AND tg.oid = d.objid
LEFT JOIN pg_class oc ON d.classid = 'pg_class'::regclass AND oc.oid = d.objid
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND c.relkind IN ('r', 'p')
  AND d.classid <> 'pg_constraint'::regclass
  AND NOT (d.classid = 'pg_attrdef'::regclass AND ad.adrelid = d.refobjid AND ad.adnum = d.refobjsubid)
  AND NOT coalesce(tg.tgisinternal, false)
  AND NOT (d.classid = 'pg_class'::regclass AND oc.relkind IN ('S', 'i', 'I'))
  AND ` + userNSColumns + `
ORDER BY 1, 2, 3`

// userNSColumns is LoadSchema's filter of user schemas, on n.
const userNSColumns = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`

// loadDependents fills Column.Dependents of the tables in byOID.
func loadDependents(ctx context.Context, q querier, byOID map[uint32]*lint.Table) error {
	rows, err := q.Query(ctx, columnDependentsSQL)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		var col, what string
		if err := rows.Scan(&oid, &col, &what); err != nil {
			return err
		}
		c := byOID[oid].Column(col)
		if c != nil && !contains(c.Dependents, what) {
			c.Dependents = append(c.Dependents, what)
		}
	}
	return rows.Err()
}

// typeMods decodes atttypmod into the modifiers the model keeps.
func typeMods(typ string, typmod int32) []int32 {
	if typmod < 0 {
		return nil
	}
	switch typ {
	case "varchar", "bpchar":
		return []int32{typmod - 4}
	case "numeric":
		return []int32{(typmod - 4) >> 16, (typmod - 4) & 0xffff}
	case "timestamp", "timestamptz", "time", "timetz", "bit", "varbit":
		return []int32{typmod}
	}
	return nil
}

var notNullCheckRE = regexp.MustCompile(`^CHECK \(\((\w+|"(?:[^"]|"")+") IS NOT NULL\)\)`)

// notNullCheckOf returns col for a constraint definition CHECK (col IS NOT NULL).
func notNullCheckOf(def string) string {
	m := notNullCheckRE.FindStringSubmatch(def)
	if m == nil {
		return ""
	}
	col := m[1]
	if strings.HasPrefix(col, `"`) {
		col = strings.ReplaceAll(col[1:len(col)-1], `""`, `"`)
	}
	return col
}

// TableFacts are what --dry-run shows about a table a plan touches.
type TableFacts struct {
	Table       string   `json:"table"`
	Exists      bool     `json:"exists"`
	RowEstimate int64    `json:"row_estimate"` // pg_class.reltuples; -1 never analyzed
	TotalBytes  int64    `json:"total_bytes"`
	Views       []string `json:"dependent_views"`
	FKParents   []string `json:"fk_parents"`  // tables this one references
	FKChildren  []string `json:"fk_children"` // tables referencing this one
}

// Facts looks up the plan's tables in the database.
func Facts(ctx context.Context, q querier, plan *Plan) ([]TableFacts, error) {
	var out []TableFacts
	seen := map[string]bool{}
	for _, s := range plan.Steps {
		var rels []string
		for _, l := range s.Locks {
			rels = append(rels, l.Relation)
		}
		if s.Backfill != nil {
			rels = append(rels, s.Backfill.Table)
		}
		for _, rel := range rels {
			name := qt(strings.Trim(rel, `"`))
			if strings.Contains(rel, `"`) {
				name = rel
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			f, err := tableFacts(ctx, q, name)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func tableFacts(ctx context.Context, q querier, name string) (TableFacts, error) {
	f := TableFacts{Table: name}
	var oid *uint32
	var kind string
	err := q.QueryRow(ctx, `SELECT c.oid, c.relkind::text, c.reltuples::bigint, pg_total_relation_size(c.oid)
FROM pg_class c WHERE c.oid = to_regclass($1)`, name).Scan(&oid, &kind, &f.RowEstimate, &f.TotalBytes)
	if err == pgx.ErrNoRows {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("facts of %s: %w", name, err)
	}
	f.Exists = true
	list := func(sql string) ([]string, error) {
		rows, err := q.Query(ctx, sql, *oid)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if f.Views, err = list(`SELECT DISTINCT v.oid::regclass::text FROM pg_depend d
JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class v ON v.oid = rw.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND v.oid <> $1 ORDER BY 1`); err != nil {
		return f, err
	}
	if f.FKParents, err = list(`SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid = $1 ORDER BY 1`); err != nil {
		return f, err
	}
	if f.FKChildren, err = list(`SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = $1 ORDER BY 1`); err != nil {
		return f, err
	}
	return f, nil
}
