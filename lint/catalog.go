package lint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Reading the live catalog: the one reader behind `migrate lint --dsn`,
// `migrate plan --dsn` and `apply`, so that lint and the planner start from
// the same facts. For lint everything runs in one READ ONLY transaction on
// a session that is read-only by default, with a short statement_timeout
// and lock_timeout: linting must never be the reason production stalls. The queries read pg_catalog and the statistics
// views only, one query per kind of object, so their cost does not grow
// with a round trip per table. Sizes come from pg_class.relpages rather
// than pg_total_relation_size(), which would open (and AccessShare-lock)
// every user table and could queue behind a pending ACCESS EXCLUSIVE.

// Catalog is what the live database said, beyond what Schema can hold.
// Its maps are a snapshot taken before linting: the Schema it seeds is
// changed in place as statements are applied, and grading must still know
// the size of a table the migration drops.
type Catalog struct {
	Schema *Schema
	// ServerVersionNum is server_version_num (150018 for 15.18).
	ServerVersionNum int
	// TimeZone is the session default, which decides whether
	// timestamp <-> timestamptz is a relabel (locks.md B2).
	TimeZone string
	// Sizes by qualified table name; partitioned tables carry the sum of
	// their partitions.
	Sizes map[string]TableSize
	// DefaultPartition maps a partitioned table to its DEFAULT partition,
	// which ATTACH and PARTITION OF scan under ACCESS EXCLUSIVE (G1, G2).
	DefaultPartition map[string]string
	// ViewsOn maps "table.column" (qualified table) to the views and
	// materialized views that depend on the column.
	ViewsOn map[string][]DependentView
	// Sequences lists sequences that feed an int2/int4 column or are
	// themselves int2/int4, with how much of the range is used.
	Sequences []SequenceUse
	// Hazards are live sessions that make any strong lock dangerous now.
	Hazards []Hazard
	// Wraparound lists tables an anti-wraparound autovacuum is working on.
	Wraparound map[string]int // table -> pid
	// IndexTable maps a qualified index name to its table.
	IndexTable map[string]string

	mu       sync.Mutex
	reported map[string]bool // run-level "said once" keys for catalog rules
}

// TableSize is a table's planner estimate and on-disk size.
type TableSize struct {
	Rows  int64
	Bytes int64 // heap + TOAST + indexes
	// Known is false when the table was never vacuumed or analyzed, so 0
	// rows means "no idea" rather than "empty".
	Known bool
}

// DependentView is a view or materialized view that reads a column.
type DependentView struct {
	Name string // qualified
	Kind string // "view", "matview"
}

// SequenceUse is a sequence and how far it has counted.
type SequenceUse struct {
	Name      string // qualified sequence
	Table     string // qualified owning table, "" when not owned
	Column    string
	ColType   string // owning column's type (int2, int4, int8)
	SeqType   string // sequence's own type
	LastValue int64
	Max       int64 // the smaller of the sequence's and the column's maximum
	Primary   bool  // the owning column is (part of) the primary key
}

// Used is the fraction of the range consumed.
func (s SequenceUse) Used() float64 {
	if s.Max <= 0 {
		return 0
	}
	return float64(s.LastValue) / float64(s.Max)
}

// Hazard is a session that would hold up (or be held up by) the migration.
type Hazard struct {
	PID         int
	State       string
	Age         time.Duration // since xact_start
	Application string
	BackendType string
}

// CatalogOptions tune ReadCatalog.
type CatalogOptions struct {
	// LongTransaction is the age from which an open transaction counts as
	// a hazard (default 5 minutes).
	LongTransaction time.Duration
	// AfterQuery, when set, runs inside the read transaction after each
	// catalog query; tests use it to look at the session's own locks.
	AfterQuery func(ctx context.Context, q CatalogQuerier, query string) error
	// ExcludeSchema is a schema left out of the model: the runner's
	// journal (--state-schema) is not part of the application's schema.
	ExcludeSchema string
	// SchemaOnly skips the facts only lint grades with (live sessions,
	// wraparound vacuums, how far sequences have counted): reading a
	// sequence's value needs SELECT on it, which the runner's role may
	// lack, and the Schema is the same either way.
	SchemaOnly bool
}

// CatalogQuerier is what the reader reads through: a pgx.Tx, a *pgx.Conn
// or a *pgxpool.Pool. ReadCatalogFrom opens no transaction of its own.
type CatalogQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// SessionSettings are the parameters every catalog session starts with:
// read-only by default, and quick to give up rather than wait.
var SessionSettings = map[string]string{
	"default_transaction_read_only":       "on",
	"statement_timeout":                   "5s",
	"lock_timeout":                        "500ms",
	"idle_in_transaction_session_timeout": "60s",
	"application_name":                    "migrate-lint",
}

// ConnectCatalog opens a read-only session for ReadCatalog. Errors never
// contain the DSN, which may hold a password.
func ConnectCatalog(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("cannot parse the connection string (check its syntax; it is not repeated here because it may contain a password)")
	}
	for k, v := range SessionSettings {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %s", redactedTarget(cfg.Host, cfg.Port, cfg.Database), scrubPassword(err.Error(), cfg.Password))
	}
	return conn, nil
}

func redactedTarget(host string, port uint16, db string) string {
	return fmt.Sprintf("host=%s port=%d dbname=%s", host, port, db)
}

// scrubPassword keeps a password out of an error message even if a driver
// ever echoes it.
func scrubPassword(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "********")
}

// userNamespace is the WHERE fragment that keeps PostgreSQL's own schemas,
// and the excluded one, out.
func (r *catalogReader) userNamespace(alias string) string {
	out := "(" + alias + ".nspname NOT IN ('pg_catalog', 'information_schema') AND " +
		alias + ".nspname NOT LIKE 'pg\\_toast%' AND " + alias + ".nspname NOT LIKE 'pg\\_temp\\_%'"
	if r.opts.ExcludeSchema != "" {
		out += " AND " + alias + ".nspname <> " + quoteLiteral(r.opts.ExcludeSchema)
	}
	return out + ")"
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on since 9.1, so only the quote itself needs doubling).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ReadCatalog reads the database conn is connected to into a new Schema.
func ReadCatalog(ctx context.Context, conn *pgx.Conn, opts CatalogOptions) (*Catalog, error) {
	// REPEATABLE READ: every query sees the same snapshot, so a table
	// created between two queries cannot appear with half its facts.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only: nothing to lose
	return ReadCatalogFrom(ctx, tx, opts)
}

// ReadCatalogFrom reads the catalog through q, which the caller has set
// up: a read-only transaction for lint and plan --dsn, the runner's pool
// or transaction for apply. Without a REPEATABLE READ transaction around
// it, each query sees its own snapshot.
func ReadCatalogFrom(ctx context.Context, q CatalogQuerier, opts CatalogOptions) (*Catalog, error) {
	if opts.LongTransaction == 0 {
		opts.LongTransaction = 5 * time.Minute
	}
	r := &catalogReader{tx: q, opts: opts, cat: &Catalog{
		Schema: NewSchema(), Sizes: map[string]TableSize{}, DefaultPartition: map[string]string{},
		ViewsOn: map[string][]DependentView{}, Wraparound: map[string]int{}, IndexTable: map[string]string{},
		reported: map[string]bool{},
	}, rels: map[int64]string{}}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"server", r.server}, {"relations", r.relations}, {"columns", r.columns},
		{"dependents", r.dependents}, {"constraints", r.constraints}, {"indexes", r.indexes},
		{"types", r.types}, {"views", r.views},
	}
	if !opts.SchemaOnly {
		steps = append(steps, []struct {
			name string
			fn   func(context.Context) error
		}{{"sequences", r.sequences}, {"activity", r.activity}}...)
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("catalog (%s): %w", s.name, err)
		}
	}
	r.sumPartitions()
	registerCatalog(r.cat)
	return r.cat, nil
}

type catalogReader struct {
	tx   CatalogQuerier
	opts CatalogOptions
	cat  *Catalog
	rels map[int64]string // oid -> qualified name
	// parentOf records partition -> parent, for summing sizes.
	parentOf map[string]string
}

func (r *catalogReader) query(ctx context.Context, name, sql string, args []any, row func(pgx.Rows) error) error {
	rows, err := r.tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := row(rows); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if r.opts.AfterQuery != nil {
		return r.opts.AfterQuery(ctx, r.tx, name)
	}
	return nil
}

func (r *catalogReader) server(ctx context.Context) error {
	return r.query(ctx, "server", `SELECT current_setting('server_version_num')::int, current_setting('TimeZone')`, nil,
		func(rows pgx.Rows) error { return rows.Scan(&r.cat.ServerVersionNum, &r.cat.TimeZone) })
}

// PGVersion is the server's major version as lint counts it: 15 for
// 150018, and 9 for any 9.x (lint knows only 9.6 below 10).
func (c *Catalog) PGVersion() int { return c.ServerVersionNum / 10000 }

func (r *catalogReader) relations(ctx context.Context) error {
	sql := `
WITH idx AS (
	SELECT i.indrelid, sum(ic.relpages)::int8 AS pages
	FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
	GROUP BY i.indrelid
)
SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, c.relpersistence::text,
       c.reltuples::float8, c.relpages::int8, coalesce(t.relpages, 0)::int8, coalesce(idx.pages, 0)::int8,
       coalesce(pn.nspname || '.' || p.relname, ''),
       coalesce(dn.nspname || '.' || d.relname, ''),
       current_setting('block_size')::int8
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN idx ON idx.indrelid = c.oid
LEFT JOIN pg_inherits inh ON c.relispartition AND inh.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = inh.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
LEFT JOIN pg_class d ON d.oid = pt.partdefid
LEFT JOIN pg_namespace dn ON dn.oid = d.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ` + r.userNamespace("n")
	r.parentOf = map[string]string{}
	pre14 := r.cat.ServerVersionNum < 140000
	return r.query(ctx, "relations", sql, nil, func(rows pgx.Rows) error {
		var (
			oid                           int64
			nsp, name, kind, persistence  string
			tuples                        float64
			pages, toastPages, indexPages int64
			parent, defaultPart           string
			blockSize                     int64
		)
		if err := rows.Scan(&oid, &nsp, &name, &kind, &persistence, &tuples, &pages, &toastPages, &indexPages, &parent, &defaultPart, &blockSize); err != nil {
			return err
		}
		q := nsp + "." + name
		r.rels[oid] = q
		t := &Table{Name: q, Unlogged: persistence == "u", PartitionOf: parent}
		switch kind {
		case "r", "f":
			t.Kind = "table"
		case "p":
			t.Kind, t.Partitioned = "table", true
		case "v":
			t.Kind = "view"
		case "m":
			t.Kind = "matview"
		}
		if parent != "" {
			r.parentOf[q] = parent
		}
		if defaultPart != "" {
			r.cat.DefaultPartition[q] = defaultPart
		}
		if kind != "v" {
			// reltuples is -1 before the first VACUUM/ANALYZE since 14;
			// before 14 it was 0, indistinguishable from empty unless
			// relpages says otherwise.
			known := tuples >= 0 && !(pre14 && tuples == 0 && pages == 0)
			size := TableSize{Rows: max(int64(tuples), 0), Bytes: (pages + toastPages + indexPages) * blockSize, Known: known}
			if kind == "p" {
				size = TableSize{Known: true} // summed from the partitions below
			}
			r.cat.Sizes[q] = size
			t.Rows, t.Bytes, t.HasStats = size.Rows, size.Bytes, size.Known
		}
		r.cat.Schema.Tables[q] = t
		return nil
	})
}

// sumPartitions gives each partitioned table the sum of its leaves: its
// own relpages are 0, but a statement on it touches every partition.
func (r *catalogReader) sumPartitions() {
	for child := range r.parentOf {
		if r.cat.Schema.Tables[child].Partitioned {
			continue // intermediate levels add their leaves through the walk below
		}
		leaf := r.cat.Sizes[child]
		for p, depth := r.parentOf[child], 0; p != "" && depth < 16; p, depth = r.parentOf[p], depth+1 {
			s := r.cat.Sizes[p]
			s.Rows += leaf.Rows
			s.Bytes += leaf.Bytes
			s.Known = s.Known && leaf.Known
			r.cat.Sizes[p] = s
		}
	}
	for name, t := range r.cat.Schema.Tables {
		if t.Partitioned {
			s := r.cat.Sizes[name]
			t.Rows, t.Bytes, t.HasStats = s.Rows, s.Bytes, s.Known
		}
	}
}

func (r *catalogReader) columns(ctx context.Context) error {
	sql := `
SELECT a.attrelid::int8, a.attname,
       coalesce(et.typname, t.typname), coalesce(etn.nspname, tn.nspname),
       et.oid IS NOT NULL, a.atttypmod, a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_type et ON t.typcategory = 'A' AND t.typelem <> 0 AND et.oid = t.typelem
LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ` + r.userNamespace("n") + `
ORDER BY a.attrelid, a.attnum`
	return r.query(ctx, "columns", sql, nil, func(rows pgx.Rows) error {
		var (
			rel                 int64
			name, typ, typNsp   string
			array               bool
			typmod              int32
			notNull, hasDef     bool
			identity, generated string
		)
		if err := rows.Scan(&rel, &name, &typ, &typNsp, &array, &typmod, &notNull, &hasDef, &identity, &generated); err != nil {
			return err
		}
		t := r.cat.Schema.Tables[r.rels[rel]]
		if t == nil {
			return nil
		}
		col := &Column{Name: name, Type: CatalogTypeName(typNsp, typ, typmod, array), NotNull: notNull,
			HasDefault: hasDef, Identity: identity != "", Generated: generated == "s"}
		t.Columns = append(t.Columns, col)
		return nil
	})
}

// columnDependentsSQL lists, per table column, what depends on it in
// pg_depend apart from what a column swap carries itself: the table's
// indexes and its constraints (copied or re-created by the plan from
// their definitions, and checked by name in the swap guard), sequences
// it owns (their ownership or identity moves to the new column) and its
// own default. Views and materialized views are named as such rather
// than by their _RETURN rule.
const columnDependentsSQL = `
SELECT d.refobjid::int8, a.attname,
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
  AND `

// dependents fills Column.Dependents.
func (r *catalogReader) dependents(ctx context.Context) error {
	sql := columnDependentsSQL + r.userNamespace("n") + `
ORDER BY 1, 2, 3`
	return r.query(ctx, "dependents", sql, nil, func(rows pgx.Rows) error {
		var (
			rel       int64
			col, what string
		)
		if err := rows.Scan(&rel, &col, &what); err != nil {
			return err
		}
		c := r.cat.Schema.Tables[r.rels[rel]].Column(col)
		if c != nil && !contains(c.Dependents, what) {
			c.Dependents = append(c.Dependents, what)
		}
		return nil
	})
}

// CatalogTypeName turns pg_type's name and an atttypmod into the canonical
// TypeName that TypeNameOf produces from SQL text, so a type read from the
// catalog compares equal to the same type written in a migration.
func CatalogTypeName(nsp, typname string, typmod int32, array bool) TypeName {
	tn := TypeName{Name: typname, Array: array}
	if nsp != "pg_catalog" {
		tn.Name = nsp + "." + typname
	}
	if typmod < 0 {
		return tn
	}
	switch typname {
	case "varchar", "bpchar":
		tn.Mods = []int32{typmod - 4}
	case "numeric":
		v := typmod - 4
		tn.Mods = []int32{(v >> 16) & 0xffff, v & 0xffff}
	case "timestamp", "timestamptz", "time", "timetz", "bit", "varbit":
		tn.Mods = []int32{typmod}
	case "interval":
		fields, prec := (typmod>>16)&0x7fff, typmod&0xffff
		tn.Mods = []int32{fields}
		if prec != 0xffff {
			tn.Mods = append(tn.Mods, prec)
		}
	}
	return tn
}

func (r *catalogReader) constraints(ctx context.Context) error {
	sql := `
SELECT con.conrelid::int8, con.conname, con.contype::text, con.convalidated,
       array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
       coalesce(rn.nspname || '.' || rc.relname, ''),
       array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord),
       pg_get_constraintdef(con.oid),
       CASE WHEN con.conindid <> 0 AND con.contype IN ('p', 'u', 'x') THEN pg_get_indexdef(con.conindid) ELSE '' END
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid <> 0 AND ` + r.userNamespace("n") + `
ORDER BY con.conrelid, con.conname`
	kinds := map[string]string{"c": "check", "f": "foreign", "u": "unique", "p": "primary", "x": "exclude", "n": "notnull"}
	return r.query(ctx, "constraints", sql, nil, func(rows pgx.Rows) error {
		var (
			rel                            int64
			name, kind, ref, def, indexDef string
			valid                          bool
			cols, refCols                  []string
		)
		if err := rows.Scan(&rel, &name, &kind, &valid, &cols, &ref, &refCols, &def, &indexDef); err != nil {
			return err
		}
		t := r.cat.Schema.Tables[r.rels[rel]]
		if t == nil || kinds[kind] == "" {
			return nil
		}
		c := &Constraint{Name: name, Kind: kinds[kind], Columns: cols, RefTable: ref, RefColumns: refCols,
			Def: def, IndexDef: indexDef, Valid: valid}
		if kind == "c" {
			c.NotNullOf = notNullOfDef(def)
		}
		t.Constraints = append(t.Constraints, c)
		if kind == "p" {
			for _, col := range cols {
				if cc := t.Column(col); cc != nil {
					cc.NotNull = true
				}
			}
		}
		return nil
	})
}

// notNullOfDef reads pg_get_constraintdef's "CHECK ((col IS NOT NULL))"
// with the same parser the rules use, so quoting and parentheses cannot
// fool a string match.
func notNullOfDef(def string) string {
	def = strings.TrimSuffix(strings.TrimSpace(def), " NOT VALID")
	tree, err := pg_query.Parse("ALTER TABLE t ADD " + def)
	if err != nil || len(tree.Stmts) != 1 {
		return ""
	}
	at := tree.Stmts[0].Stmt.GetAlterTableStmt()
	if at == nil || len(at.Cmds) != 1 {
		return ""
	}
	con := at.Cmds[0].GetAlterTableCmd().GetDef().GetConstraint()
	if con == nil {
		return ""
	}
	return notNullCheckColumn(con.RawExpr)
}

// indexes reads every index, those behind a PRIMARY KEY, UNIQUE or
// EXCLUDE constraint included (REINDEX TABLE locks them too), with the
// constraint named so that copying them stays the constraint's business.
// Columns are the key columns; an expression or a partial index gets an
// "" column, which keeps it from passing for a plain key of its columns.
func (r *catalogReader) indexes(ctx context.Context) error {
	sql := `
SELECT i.indrelid::int8, n.nspname, ic.relname, i.indisunique,
       array(SELECT coalesce(a.attname::text, '') FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord)
             LEFT JOIN pg_attribute a ON k.num > 0 AND a.attrelid = i.indrelid AND a.attnum = k.num
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
       i.indpred IS NOT NULL OR i.indexprs IS NOT NULL, pg_get_indexdef(i.indexrelid),
       coalesce((SELECT con.conname FROM pg_constraint con WHERE con.conindid = i.indexrelid
                 AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')), '')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE ` + r.userNamespace("n")
	return r.query(ctx, "indexes", sql, nil, func(rows pgx.Rows) error {
		var (
			rel                   int64
			nsp, name, def, backs string
			unique, special       bool
			cols                  []string
		)
		if err := rows.Scan(&rel, &nsp, &name, &unique, &cols, &special, &def, &backs); err != nil {
			return err
		}
		if special && !contains(cols, "") {
			cols = append(cols, "")
		}
		table := r.rels[rel]
		if table == "" {
			return nil // an index on a TOAST table or a system relation
		}
		q := nsp + "." + name
		r.cat.Schema.Indexes[q] = &Index{Name: q, Table: table, Columns: cols, Unique: unique, Def: def, Constraint: backs}
		r.cat.IndexTable[q] = table
		return nil
	})
}

func (r *catalogReader) types(ctx context.Context) error {
	sql := `
SELECT n.nspname, t.typname, t.typtype::text, coalesce(bt.typname, ''), coalesce(bn.nspname, ''), t.typtypmod,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c')
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_namespace bn ON bn.oid = bt.typnamespace
WHERE t.typtype IN ('e', 'd') AND ` + r.userNamespace("n")
	return r.query(ctx, "types", sql, nil, func(rows pgx.Rows) error {
		var (
			nsp, name, kind, base, baseNsp string
			typmod                         int32
			check                          bool
		)
		if err := rows.Scan(&nsp, &name, &kind, &base, &baseNsp, &typmod, &check); err != nil {
			return err
		}
		q := nsp + "." + name
		t := &Type{Name: q, Kind: "enum", AddedValues: map[string]int{}}
		if kind == "d" {
			t.Kind, t.HasCheck = "domain", check
			t.Base = CatalogTypeName(baseNsp, base, typmod, false)
		}
		r.cat.Schema.Types[q] = t
		return nil
	})
}

func (r *catalogReader) views(ctx context.Context) error {
	sql := `
SELECT DISTINCT d.refobjid::int8, a.attname::text, vn.nspname || '.' || v.relname, v.relkind::text
FROM pg_depend d
JOIN pg_rewrite rw ON rw.oid = d.objid
JOIN pg_class v ON v.oid = rw.ev_class
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjsubid > 0 AND v.oid <> d.refobjid
ORDER BY 1, 2, 3`
	return r.query(ctx, "views", sql, nil, func(rows pgx.Rows) error {
		var (
			rel             int64
			col, view, kind string
		)
		if err := rows.Scan(&rel, &col, &view, &kind); err != nil {
			return err
		}
		table := r.rels[rel]
		if table == "" {
			return nil
		}
		k := "view"
		if kind == "m" {
			k = "matview"
		}
		key := table + "." + col
		r.cat.ViewsOn[key] = append(r.cat.ViewsOn[key], DependentView{Name: view, Kind: k})
		return nil
	})
}

// maxSequenceBatch bounds one UNION ALL over sequences; more sequences
// take more (still set-based) queries.
const maxSequenceBatch = 500

func (r *catalogReader) sequences(ctx context.Context) error {
	// pg_sequences.last_value would be simpler, but the function behind it
	// takes ROW EXCLUSIVE on each sequence; reading the sequence relation
	// itself takes only ACCESS SHARE.
	sql := `
SELECT sn.nspname, sc.relname, format_type(s.seqtypid, NULL), s.seqmax,
       coalesce(tn.nspname || '.' || tc.relname, ''), coalesce(a.attname::text, ''), coalesce(at.typname::text, ''),
       coalesce(EXISTS (SELECT 1 FROM pg_constraint pk WHERE pk.conrelid = tc.oid AND pk.contype = 'p' AND a.attnum = ANY (pk.conkey)), false)
FROM pg_sequence s
JOIN pg_class sc ON sc.oid = s.seqrelid
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
LEFT JOIN pg_type at ON at.oid = a.atttypid
WHERE ` + r.userNamespace("sn") + ` AND s.seqincrement > 0
  AND (s.seqtypid IN ('int2'::regtype, 'int4'::regtype) OR at.typname IN ('int2', 'int4'))
ORDER BY 1, 2`
	type seqRow struct {
		nsp, name string
		use       SequenceUse
	}
	var seqs []seqRow
	err := r.query(ctx, "sequences", sql, nil, func(rows pgx.Rows) error {
		var s seqRow
		var seqMax int64
		if err := rows.Scan(&s.nsp, &s.name, &s.use.SeqType, &seqMax, &s.use.Table, &s.use.Column, &s.use.ColType, &s.use.Primary); err != nil {
			return err
		}
		s.use.Name = s.nsp + "." + s.name
		s.use.Max = seqMax
		switch s.use.ColType {
		case "int4":
			s.use.Max = min(s.use.Max, 1<<31-1)
		case "int2":
			s.use.Max = min(s.use.Max, 1<<15-1)
		}
		seqs = append(seqs, s)
		return nil
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(seqs); start += maxSequenceBatch {
		batch := seqs[start:min(start+maxSequenceBatch, len(seqs))]
		var b strings.Builder
		args := make([]any, 0, len(batch))
		for i, s := range batch {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			args = append(args, int64(start+i))
			fmt.Fprintf(&b, "SELECT $%d::int8, CASE WHEN is_called THEN last_value ELSE 0 END::int8 FROM %s",
				i+1, pgx.Identifier{s.nsp, s.name}.Sanitize())
		}
		err := r.query(ctx, "sequence values", b.String(), args, func(rows pgx.Rows) error {
			var i, last int64
			if err := rows.Scan(&i, &last); err != nil {
				return err
			}
			seqs[i].use.LastValue = last
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, s := range seqs {
		r.cat.Sequences = append(r.cat.Sequences, s.use)
	}
	return nil
}

func (r *catalogReader) activity(ctx context.Context) error {
	sql := `
SELECT pid, coalesce(state, ''), extract(epoch FROM now() - xact_start)::float8,
       coalesce(application_name, ''), coalesce(backend_type, '')
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = current_database() AND xact_start IS NOT NULL
  AND (xact_start < now() - make_interval(secs => $1) OR state IN ('idle in transaction', 'idle in transaction (aborted)'))
  AND backend_type = 'client backend'
ORDER BY xact_start`
	err := r.query(ctx, "activity", sql, []any{r.opts.LongTransaction.Seconds()}, func(rows pgx.Rows) error {
		var h Hazard
		var age float64
		if err := rows.Scan(&h.PID, &h.State, &age, &h.Application, &h.BackendType); err != nil {
			return err
		}
		h.Age = time.Duration(age * float64(time.Second))
		r.cat.Hazards = append(r.cat.Hazards, h)
		return nil
	})
	if err != nil {
		return err
	}
	sql = `
SELECT coalesce(n.nspname || '.' || c.relname, ''), a.pid
FROM pg_stat_progress_vacuum p
JOIN pg_stat_activity a ON a.pid = p.pid
LEFT JOIN pg_class c ON c.oid = p.relid
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.query LIKE '%to prevent wraparound%'`
	return r.query(ctx, "wraparound", sql, nil, func(rows pgx.Rows) error {
		var table string
		var pid int
		if err := rows.Scan(&table, &pid); err != nil {
			return err
		}
		if table != "" {
			r.cat.Wraparound[table] = pid
		}
		return nil
	})
}

// once reports whether key is new for this run, and remembers it.
func (c *Catalog) once(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported[key] {
		return false
	}
	c.reported[key] = true
	return true
}

// Size returns a relation's size, resolving an index to its table and a
// display name ("books") to the qualified one.
func (c *Catalog) Size(rel string) (TableSize, string, bool) {
	if c == nil {
		return TableSize{}, "", false
	}
	q := qualify(rel)
	if t, ok := c.IndexTable[q]; ok {
		q = t
	}
	s, ok := c.Sizes[q]
	return s, q, ok
}

func registerCatalog(c *Catalog) {
	if c.Schema != nil {
		c.Schema.catalog = c
	}
}

// CatalogOf returns the live catalog a Schema was read from, or nil for a
// model built from migration files only.
func CatalogOf(s *Schema) *Catalog {
	if s == nil {
		return nil
	}
	return s.catalog
}

// sortedKeys is used for stable output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
