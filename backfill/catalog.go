package backfill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// table is what the catalog says about the job's table.
type table struct {
	oid      uint32
	name     string // schema.name, for messages and the spec hash
	ident    string // quoted, for SQL
	kind     byte
	columns  map[string]column
	reltuple float64 // planner estimate; negative when never analyzed
	pages    int64   // pg_relation_size / block_size
}

type column struct {
	name     string
	typ      string // format_type, usable after ::
	notNull  bool
	hasEq    bool // the type has an = operator, so IS DISTINCT FROM works on it
	integer  bool
	position int
}

// keyCol is one column the job walks the table by.
type keyCol struct {
	name  string
	ident string
	typ   string
}

func loadTable(ctx context.Context, pool *pgxpool.Pool, name string) (*table, error) {
	t := &table{columns: map[string]column{}}
	var schema, rel string
	var kind string
	err := pool.QueryRow(ctx, `
SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.reltuples::float8,
       CASE WHEN c.relkind = 'r' THEN pg_relation_size(c.oid) / current_setting('block_size')::bigint ELSE 0 END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)`, name).Scan(&t.oid, &schema, &rel, &kind, &t.reltuple, &t.pages)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, invalidf("table %s does not exist", name)
	}
	if err != nil {
		return nil, invalidf("table %s: %v", name, err)
	}
	t.kind = kind[0]
	if t.kind != 'r' && t.kind != 'p' {
		return nil, invalidf("%s.%s is not a table (relkind %s)", schema, rel, kind)
	}
	t.name = schema + "." + rel
	t.ident = pgx.Identifier{schema, rel}.Sanitize()

	rows, err := pool.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum,
       a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype),
       EXISTS (SELECT 1 FROM pg_operator o
               WHERE o.oprname = '=' AND o.oprleft = a.atttypid AND o.oprright = a.atttypid)
         OR a.atttypid IN (SELECT t.oid FROM pg_type t WHERE t.typcategory = 'A' OR t.typtype = 'd')
FROM pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, t.oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.position, &c.integer, &c.hasEq); err != nil {
			return nil, err
		}
		t.columns[c.name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// lookup finds a column the way SQL would for a bare name, and also accepts
// the exact catalog spelling of a mixed-case name.
func (t *table) lookup(name string) (column, bool) {
	if c, ok := t.columns[name]; ok {
		return c, true
	}
	c, ok := t.columns[strings.ToLower(name)]
	return c, ok
}

// chooseKey returns the columns to walk the table by: the ones asked for,
// else the primary key, else the narrowest unique NOT NULL btree index.
// No key (and no error) means the table has none and ctid ranges are used.
func chooseKey(ctx context.Context, pool *pgxpool.Pool, t *table, want, prefer []string) ([]keyCol, error) {
	rows, err := pool.Query(ctx, `
SELECT i.indisprimary, i.indisunique,
       array_agg(a.attname ORDER BY k.ord), bool_and(a.attnotnull)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
  AND am.amname = 'btree' AND k.ord <= i.indnkeyatts
GROUP BY i.indexrelid, i.indisprimary, i.indisunique
ORDER BY i.indisprimary DESC, count(*), i.indexrelid`, t.oid)
	if err != nil {
		return nil, err
	}
	type index struct {
		primary, unique, notNull bool
		cols                     []string
	}
	var idx []index
	for rows.Next() {
		var x index
		if err := rows.Scan(&x.primary, &x.unique, &x.cols, &x.notNull); err != nil {
			return nil, err
		}
		idx = append(idx, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var names []string
	if len(want) > 0 {
		for _, w := range want {
			c, ok := t.lookup(w)
			if !ok {
				return nil, invalidf("key column %s is not a column of %s", w, t.name)
			}
			if !c.notNull {
				// Rows whose key is NULL would never fall into a key range.
				return nil, invalidf("key column %s of %s is nullable", c.name, t.name)
			}
			names = append(names, c.name)
		}
		// Without an index leading with the key, every batch would scan the table.
		found := false
		for _, x := range idx {
			if len(x.cols) >= len(names) && slices.Equal(x.cols[:len(names)], names) {
				found = true
				break
			}
		}
		if !found {
			return nil, invalidf("no btree index of %s starts with the key (%s)", t.name, strings.Join(names, ", "))
		}
	} else {
		// A key led by a column the job has a range on walks only that
		// range; among those, and then among all, the primary key first.
		for _, x := range idx {
			if x.unique && x.notNull && slices.Contains(prefer, x.cols[0]) {
				names = x.cols
				break
			}
		}
		for _, x := range idx {
			if names == nil && x.unique && x.notNull {
				names = x.cols
				break
			}
		}
		if names == nil {
			return nil, nil
		}
	}
	key := make([]keyCol, len(names))
	for i, n := range names {
		c := t.columns[n]
		key[i] = keyCol{name: n, ident: pgx.Identifier{n}.Sanitize(), typ: c.typ}
	}
	return key, nil
}

// serverVersion returns server_version_num.
func serverVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("reading the server version: %w", err)
	}
	return v, nil
}
