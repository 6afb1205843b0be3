package migrate

// The planner needs to know the tables a migration touches: a type change
// must copy the column's indexes and constraints, SET NOT NULL must know
// whether a validated check exists. Offline (`migrate plan`) it only has
// the files; `apply` reads the live catalog into the same model.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/lint"
)

// LoadSchema reads the database's tables, columns, constraints, indexes,
// enums and domains into a schema model (system schemas and stateSchema
// left out), with lint's catalog reader: lint --dsn and the planner start
// from the same facts.
func LoadSchema(ctx context.Context, q querier, stateSchema string) (*lint.Schema, error) {
	cat, err := lint.ReadCatalogFrom(ctx, q, lint.CatalogOptions{ExcludeSchema: stateSchema, SchemaOnly: true})
	if err != nil {
		return nil, err
	}
	return cat.Schema, nil
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

// Facts looks up the plan's tables in the database. Foreign keys come
// from the catalog reader the plan was made with; the sizes are the
// exact ones (pg_total_relation_size) and the views those of the whole
// table, which the reader, reading every table, leaves out.
func Facts(ctx context.Context, q querier, plan *Plan) ([]TableFacts, error) {
	cat, err := lint.ReadCatalogFrom(ctx, q, lint.CatalogOptions{SchemaOnly: true})
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
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
			f, err := tableFacts(ctx, q, cat.Schema, name)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func tableFacts(ctx context.Context, q querier, schema *lint.Schema, name string) (TableFacts, error) {
	f := TableFacts{Table: name}
	var oid *uint32
	var kind, qualified string
	err := q.QueryRow(ctx, `SELECT c.oid, c.relkind::text, c.reltuples::bigint, pg_total_relation_size(c.oid),
    n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, name).
		Scan(&oid, &kind, &f.RowEstimate, &f.TotalBytes, &qualified)
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
	f.FKParents, f.FKChildren = foreignKeysOf(schema, qualified)
	return f, nil
}

// foreignKeysOf lists the tables table references and the tables that
// reference it, named as regclass displays them.
func foreignKeysOf(schema *lint.Schema, table string) (parents, children []string) {
	add := func(list []string, rel string) []string {
		if name := lint.QuoteQualified(rel); !contains(list, name) {
			list = append(list, name)
		}
		return list
	}
	for _, t := range schema.Tables {
		for _, con := range t.Constraints {
			if con.Kind != "foreign" {
				continue
			}
			if t.Name == table {
				parents = add(parents, con.RefTable)
			}
			if con.RefTable == table {
				children = add(children, t.Name)
			}
		}
	}
	sort.Strings(parents)
	sort.Strings(children)
	return parents, children
}
