package integration

// The normalized catalog and data snapshot the differential test compares
// (differential_test.go). Everything a user or the application can see is
// one entry "kind name" -> "properties", so two snapshots differ exactly
// where PostgreSQL would behave differently. The runner's own journal
// schema (migrate) is left out: it is expected to be there after apply.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// userSchemas is the predicate on a namespace alias n that keeps the
// schemas the application owns.
const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrate')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`

// aclText renders an aclitem[] column in a stable order.
func aclText(col string) string {
	return `coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(` + col + `) x), '')`
}

// catalogQueries each return (key, properties) rows. Keys name objects by
// schema-qualified name, never by oid, so two databases compare.
var catalogQueries = []string{
	// Tables, views, materialized views, sequences (their relation side),
	// partitions and composite types.
	`SELECT 'relation ' || n.nspname || '.' || c.relname, concat_ws(' | ',
    'kind=' || c.relkind::text, 'persistence=' || c.relpersistence::text,
    'replica_identity=' || c.relreplident::text,
    'rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity,
    'options=' || coalesce(array_to_string(c.reloptions, ','), ''),
    'acl=' || ` + aclText("c.relacl") + `,
    'owner=' || pg_get_userbyid(c.relowner),
    'comment=' || coalesce(obj_description(c.oid, 'pg_class'), ''),
    'partition_key=' || coalesce(pg_get_partkeydef(c.oid), ''),
    'partition_bound=' || coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
    'inherits=' || coalesce((SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid), ''),
    'view=' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) ELSE '' END,
    'populated=' || c.relispopulated)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND ` + userSchemas,

	// Columns, by name: their position is compared separately (columnOrder).
	`SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname, concat_ws(' | ',
    format_type(a.atttypid, a.atttypmod),
    'not_null=' || a.attnotnull,
    'default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
    'identity=' || a.attidentity::text,
    'generated=' || a.attgenerated::text,
    'collation=' || coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation AND a.attcollation <> 0), ''),
    'acl=' || ` + aclText("a.attacl") + `,
    'comment=' || coalesce(col_description(c.oid, a.attnum), ''),
    'storage=' || a.attstorage::text,
    'compression=' || a.attcompression::text,
    'statistics=' || a.attstattarget,
    'options=' || coalesce(array_to_string(a.attoptions, ','), ''),
    'local=' || a.attislocal || '/' || a.attinhcount)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ` + userSchemas,

	// Constraints of tables and domains.
	`SELECT 'constraint ' || n.nspname || '.' || coalesce(c.relname, t.typname, '') || '.' || co.conname, concat_ws(' | ',
    'type=' || co.contype::text, pg_get_constraintdef(co.oid),
    'validated=' || co.convalidated,
    'deferrable=' || co.condeferrable || '/' || co.condeferred,
    'index=' || CASE WHEN co.conindid = 0 THEN '' ELSE co.conindid::regclass::text END,
    'local=' || co.conislocal || '/' || co.coninhcount || '/' || co.connoinherit,
    'parent=' || coalesce((SELECT p.conname FROM pg_constraint p WHERE p.oid = co.conparentid), ''))
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
LEFT JOIN pg_class c ON c.oid = co.conrelid
LEFT JOIN pg_type t ON t.oid = co.contypid
WHERE ` + userSchemas,

	`SELECT 'index ' || n.nspname || '.' || ic.relname, concat_ws(' | ',
    pg_get_indexdef(i.indexrelid),
    'valid=' || i.indisvalid || '/' || i.indisready || '/' || i.indislive,
    'primary=' || i.indisprimary, 'replica_identity=' || i.indisreplident, 'clustered=' || i.indisclustered,
    'options=' || coalesce(array_to_string(ic.reloptions, ','), ''),
    'comment=' || coalesce(obj_description(i.indexrelid, 'pg_class'), ''),
    'partition_of=' || coalesce((SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = ic.oid), ''))
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE ` + userSchemas,

	// Sequences: options and owner. last_value legitimately differs (the
	// concurrent writer inserts); sequencePlausibility checks it instead.
	`SELECT 'sequence ' || n.nspname || '.' || c.relname, concat_ws(' | ',
    format_type(s.seqtypid, NULL),
    'start=' || s.seqstart, 'increment=' || s.seqincrement, 'min=' || s.seqmin, 'max=' || s.seqmax,
    'cache=' || s.seqcache, 'cycle=' || s.seqcycle,
    'owned_by=' || coalesce((SELECT string_agg(d.deptype::text || ':' || d.refobjid::regclass::text || '.' || a.attname, ',')
        FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
          AND d.deptype IN ('a', 'i')), ''))
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ` + userSchemas,

	`SELECT 'trigger ' || n.nspname || '.' || c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid) || ' | enabled=' || tg.tgenabled::text
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND ` + userSchemas,

	`SELECT 'policy ' || schemaname || '.' || tablename || '.' || policyname, concat_ws(' | ',
    permissive, array_to_string(roles, ','), cmd, 'using=' || coalesce(qual, ''), 'check=' || coalesce(with_check, ''))
FROM pg_policies WHERE schemaname NOT IN ('migrate')`,

	`SELECT 'rule ' || schemaname || '.' || tablename || '.' || rulename, definition
FROM pg_rules WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'migrate')`,

	`SELECT 'publication ' || pubname, concat_ws(' | ', 'all=' || puballtables,
    'actions=' || pubinsert || '/' || pubupdate || '/' || pubdelete || '/' || pubtruncate, 'via_root=' || pubviaroot)
FROM pg_publication`,

	`SELECT 'publication_table ' || pubname || ' ' || schemaname || '.' || tablename, concat_ws(' | ',
    'columns=' || coalesce(array_to_string(attnames, ','), ''), 'filter=' || coalesce(rowfilter, ''))
FROM pg_publication_tables`,

	// Functions of the application's schemas: a sync function the tool
	// leaves behind shows up here.
	`SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND ` + userSchemas + `
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`,

	`SELECT 'type ' || n.nspname || '.' || t.typname, concat_ws(' | ', 'type=' || t.typtype::text,
    'base=' || CASE WHEN t.typbasetype = 0 THEN '' ELSE format_type(t.typbasetype, t.typtypmod) END,
    'not_null=' || t.typnotnull, 'default=' || coalesce(t.typdefault, ''),
    'labels=' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), ''))
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r', 'm') AND ` + userSchemas,

	`SELECT 'statistics ' || n.nspname || '.' || s.stxname, pg_get_statisticsobjdef(s.oid)
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE ` + userSchemas,

	`SELECT 'extension ' || extname, extversion FROM pg_extension`,
}

// columnOrderQuery is each table's column list in attnum order: what
// SELECT * returns. It is kept apart from the catalog because a planned
// column swap moves the column to the end (see differential_test.go).
const columnOrderQuery = `SELECT n.nspname || '.' || c.relname,
    string_agg(a.attname::text, ', ' ORDER BY a.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND ` + userSchemas + `
GROUP BY 1`

// ownedSequencesQuery lists each sequence with the column it feeds, for
// the plausibility check: the next value must not collide with a key.
const ownedSequencesQuery = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
    d.refobjid::regclass::text, quote_ident(a.attname)
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE ` + userSchemas

// dataTablesQuery lists the relations whose rows are compared: tables
// (partitions included, partitioned parents left to their partitions) and
// materialized views. hasNote tells whether the writer's marker column
// (writerCol) is there.
const dataTablesQuery = `SELECT c.oid::regclass::text,
    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'note' AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND ` + userSchemas

// writerCol is the column the concurrent writer marks its rows with and
// the only one it updates; fixtures give it to every table the writer
// touches and statements never change it. Rows marked "ins:" are the
// writer's; the column itself is left out of the data comparison.
const writerCol = "note"

// snapshotDB is one database's normalized catalog and data.
type snapshotDB struct {
	Catalog     map[string]string
	ColumnOrder map[string]string
	Data        map[string]string // relation -> "N rows, md5"
}

// takeDiffSnapshot reads the snapshot. ignoreCols are left out of the
// row comparison (values a volatile default makes differ legitimately).
func takeDiffSnapshot(ctx context.Context, dsn string, ignoreCols []string) (snapshotDB, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return snapshotDB{}, err
	}
	defer conn.Close(context.Background())
	return snapshotOn(ctx, conn, ignoreCols)
}

// snapshotOn reads the snapshot on an open connection, which may be in a
// transaction that has not committed yet (the in-transaction naive run).
func snapshotOn(ctx context.Context, conn *pgx.Conn, ignoreCols []string) (snapshotDB, error) {
	s := snapshotDB{Catalog: map[string]string{}, ColumnOrder: map[string]string{}, Data: map[string]string{}}
	pairs := func(sql string, into map[string]string) error {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return fmt.Errorf("%s: %w", firstLine(sql), err)
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			into[k] = v
		}
		return rows.Err()
	}
	for _, q := range catalogQueries {
		if err := pairs(q, s.Catalog); err != nil {
			return s, err
		}
	}
	if err := pairs(columnOrderQuery, s.ColumnOrder); err != nil {
		return s, err
	}
	if err := sequencePlausibility(ctx, conn, s.Catalog); err != nil {
		return s, err
	}
	return s, dataHashes(ctx, conn, ignoreCols, s.Data)
}

// sequencePlausibility records, for every sequence that feeds a column,
// whether its next value is above every key in use: a swap that loses or
// resets the sequence makes the application's next INSERT collide.
func sequencePlausibility(ctx context.Context, conn *pgx.Conn, into map[string]string) error {
	rows, err := conn.Query(ctx, ownedSequencesQuery)
	if err != nil {
		return err
	}
	type owned struct{ seq, table, col string }
	var list []owned
	for rows.Next() {
		var o owned
		if err := rows.Scan(&o.seq, &o.table, &o.col); err != nil {
			rows.Close()
			return err
		}
		list = append(list, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range list {
		var ok bool
		q := fmt.Sprintf(`SELECT coalesce((SELECT max(%s)::numeric FROM %s) <= (SELECT last_value FROM %s), true)`, o.col, o.table, o.seq)
		if err := conn.QueryRow(ctx, q).Scan(&ok); err != nil {
			return fmt.Errorf("sequence %s: %w", o.seq, err)
		}
		verdict := "next value above every " + o.col
		if !ok {
			verdict = "last_value below max(" + o.col + "): the next INSERT collides"
		}
		into["sequence_state "+o.seq] = verdict
	}
	return nil
}

// dataHashes hashes every compared relation's rows as jsonb, so column
// order and a column's position after a swap do not matter, and a
// widened integer compares equal to the narrow one.
func dataHashes(ctx context.Context, conn *pgx.Conn, ignoreCols []string, into map[string]string) error {
	rows, err := conn.Query(ctx, dataTablesQuery)
	if err != nil {
		return err
	}
	type rel struct {
		name    string
		hasNote bool
	}
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.hasNote); err != nil {
			rows.Close()
			return err
		}
		rels = append(rels, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	drop := append([]string{}, ignoreCols...)
	for _, r := range rels {
		where := ""
		cols := drop
		if r.hasNote {
			where = " WHERE " + writerCol + " IS NULL OR " + writerCol + " NOT LIKE 'ins:%'"
			cols = append(append([]string{}, drop...), writerCol)
		}
		minus := ""
		if len(cols) > 0 {
			minus = " - " + quoteTextArray(cols)
		}
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(j, E'\n' ORDER BY j)), '')
FROM (SELECT (to_jsonb(r)%s)::text AS j FROM %s r%s) x`, minus, r.name, where)
		var n int64
		var h string
		if err := conn.QueryRow(ctx, q).Scan(&n, &h); err != nil {
			return fmt.Errorf("hashing %s: %w", r.name, err)
		}
		into["rows "+r.name] = fmt.Sprintf("%d rows, md5 %s", n, h)
	}
	return nil
}

func quoteTextArray(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
	}
	return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
}

// diffMaps lists every key whose value differs, or that only one side has.
func diffMaps(what, aName, bName string, a, b map[string]string) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		va, okA := a[k]
		vb, okB := b[k]
		switch {
		case !okA:
			out = append(out, fmt.Sprintf("%s only in %s: %s = %s", what, bName, k, clip(vb)))
		case !okB:
			out = append(out, fmt.Sprintf("%s only in %s: %s = %s", what, aName, k, clip(va)))
		case va != vb:
			out = append(out, fmt.Sprintf("%s differs: %s\n      %s: %s\n      %s: %s", what, k, aName, clip(va), bName, clip(vb)))
		}
	}
	return out
}

// clip keeps long definitions (functions, views) readable in a failure.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		return s[:400] + " …"
	}
	return s
}

// toolLeftovers names the catalog entries that carry the planner's
// reserved prefix: shadow columns, sync triggers and functions, index
// copies and checks the runner must have removed by the end.
func toolLeftovers(s snapshotDB) []string {
	var out []string
	for k, v := range s.Catalog {
		if strings.Contains(k, "_migrate_") || strings.Contains(v, "_migrate_") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
