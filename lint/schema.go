package lint

// This file declares the schema model's types; schema_apply.go keeps it
// up to date statement by statement.

// Schema is what the migrations read so far have built: the tables, their
// columns, constraints and indexes, and named types. Names are qualified
// and lower-cased as PostgreSQL folds them ("public.users").
type Schema struct {
	Tables  map[string]*Table
	Indexes map[string]*Index // by qualified index name
	Types   map[string]*Type  // enums and domains, by qualified name

	// catalog holds the live-database facts (sizes, dependent views,
	// sequences, sessions) when the model was read with --dsn.
	catalog *Catalog

	view *schemaView // by-table lookups while a lint run owns the model
}

// NewSchema returns an empty model.
func NewSchema() *Schema {
	return &Schema{Tables: map[string]*Table{}, Indexes: map[string]*Index{}, Types: map[string]*Type{}}
}

// Table is a table, partitioned table, view or materialized view.
type Table struct {
	Name        string // qualified
	Kind        string // "table", "view", "matview"
	Columns     []*Column
	Constraints []*Constraint
	Partitioned bool   // PARTITION BY
	PartitionOf string // parent, for a partition
	Unlogged    bool

	// Origin is the source that created the table; a table created in the
	// source being linted is new: empty and unseen by the running app, so
	// most rules do not apply to it.
	Origin *Source
	// CreatedTx is the transaction (within Origin) that created it.
	CreatedTx int

	// Rows and Bytes are the live catalog's estimates (reltuples,
	// pg_total_relation_size); HasStats says they were read, so 0 means
	// empty rather than unknown.
	Rows     int64
	Bytes    int64
	HasStats bool
}

// Column is one column of a table.
type Column struct {
	Name       string
	Type       TypeName
	NotNull    bool
	HasDefault bool
	Identity   bool
	Generated  bool // GENERATED ALWAYS AS (...) STORED
	// Dependents are the objects outside the table's own indexes and
	// constraints that depend on the column (views, rules, policies,
	// column triggers, generated columns, publication column lists,
	// statistics, SQL-body functions), as the live catalog describes them:
	// dropping the column would drop them or fail. Known only when the
	// model was read from a database.
	Dependents []string
}

// TypeName is a column type in canonical form: Name is pg_catalog's name
// ("int4", "varchar", "numeric", "timestamptz", "text", ...), or the
// qualified name of a user type; Mods are the type modifiers (varchar(20)
// has Mods [20]; numeric(10,2) has [10 2]).
type TypeName struct {
	Name  string
	Mods  []int32
	Array bool
}

// Constraint is a table constraint.
type Constraint struct {
	Name    string
	Kind    string // "check", "foreign", "unique", "primary", "exclude", "notnull"
	Columns []string
	// NotNullOf is the column a CHECK (col IS NOT NULL) proves non-null.
	NotNullOf string
	RefTable  string // FOREIGN KEY target
	// RefColumns are the FOREIGN KEY's referenced columns; empty when the
	// files do not say (REFERENCES t without a column list: t's key).
	RefColumns []string
	// Def and IndexDef are pg_get_constraintdef and, for a constraint
	// with an index, pg_get_indexdef of it, when read from a database.
	Def, IndexDef string
	Valid         bool // false for NOT VALID until VALIDATE
	// Tx is the transaction (within the current source) that added or
	// validated the constraint; 0 when it came from an earlier source.
	Tx     int
	Origin *Source
}

// Index is an index.
type Index struct {
	Name    string // qualified
	Table   string // qualified
	Columns []string
	Unique  bool
	// Only is true for CREATE INDEX ON ONLY a partitioned parent.
	Only bool
	// Def is pg_get_indexdef when the model was read from a database: what
	// a copy of the index needs beyond its columns (method, operator
	// classes, order, INCLUDE, expressions, predicate, storage).
	Def string
	// Constraint names the PRIMARY KEY, UNIQUE or EXCLUDE constraint the
	// index implements (read from a database; the files' model keeps such
	// indexes inside their constraints): dropping or renaming the
	// constraint drops or renames the index.
	Constraint string
}

// Type is an enum or a domain.
type Type struct {
	Name     string // qualified
	Kind     string // "enum", "domain"
	HasCheck bool   // domain with a CHECK constraint
	Base     TypeName
	// AddedValues are enum values added by ALTER TYPE ... ADD VALUE, with
	// the transaction that added them (unusable until it commits).
	AddedValues map[string]int
	Origin      *Source
}

// Table returns the named table (qualified or not), or nil.
func (s *Schema) Table(name string) *Table {
	if s == nil {
		return nil
	}
	return s.Tables[qualify(name)]
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	if t == nil {
		return nil
	}
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// IsNew reports whether the table was created by src, the migration being
// linted: it is empty and no running code uses it yet.
func (t *Table) IsNew(src *Source) bool { return t != nil && src != nil && t.Origin == src }

// HasValidNotNullCheck reports whether a validated CHECK (col IS NOT NULL)
// exists, which lets SET NOT NULL skip its scan on PostgreSQL 12+.
func (t *Table) HasValidNotNullCheck(col string) bool {
	if t == nil {
		return false
	}
	for _, c := range t.Constraints {
		if c.Kind == "check" && c.Valid && c.NotNullOf == col {
			return true
		}
	}
	return false
}

// Constraint returns the named constraint, or nil.
func (t *Table) Constraint(name string) *Constraint {
	if t == nil {
		return nil
	}
	for _, c := range t.Constraints {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// IndexesOn returns the table's indexes.
func (s *Schema) IndexesOn(table string) []*Index {
	var out []*Index
	q := qualify(table)
	if s.view != nil {
		for _, e := range s.view.indexes[q] {
			out = append(out, e.ix)
		}
		return out
	}
	for _, ix := range s.Indexes {
		if ix.Table == q {
			out = append(out, ix)
		}
	}
	return out
}

// HasIndexLeading reports whether some index (or a PRIMARY KEY / UNIQUE
// constraint) on table starts with cols in order, which is what an FK
// needs for the parent's DELETE not to scan the child.
func (s *Schema) HasIndexLeading(table string, cols []string) bool {
	covers := func(idx []string) bool {
		if len(idx) < len(cols) {
			return false
		}
		for i, c := range cols {
			if idx[i] != c {
				return false
			}
		}
		return true
	}
	for _, ix := range s.IndexesOn(table) {
		if covers(ix.Columns) {
			return true
		}
	}
	if t := s.Table(table); t != nil {
		for _, c := range t.Constraints {
			if (c.Kind == "primary" || c.Kind == "unique") && covers(c.Columns) {
				return true
			}
		}
	}
	return false
}

// qualify lower-cases nothing (the parser already folded unquoted names)
// and adds the default schema to an unqualified name.
func qualify(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name
		}
	}
	return "public." + name
}
