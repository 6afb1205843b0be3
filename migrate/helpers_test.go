package migrate

import (
	"testing"

	"github.com/migrate-tool/migrate/lint"
)

// fixture is the existing database the tests plan against: tables created
// by an earlier migration, so nothing in them counts as new.
const fixture = `
CREATE SCHEMA app;
CREATE TABLE app."Users" (id bigint PRIMARY KEY, "Email" varchar(100) NOT NULL, name text, age int, payload json);
CREATE INDEX "Users_Email_idx" ON app."Users" ("Email");
CREATE TABLE accounts (id int PRIMARY KEY, owner_id bigint, code varchar(10), created timestamp);
CREATE UNIQUE INDEX accounts_code_idx ON accounts (code);
CREATE TABLE events (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE events_2026 (id bigint, at timestamptz NOT NULL);
`

func source(t *testing.T, path, sql string) []*lint.Statement {
	t.Helper()
	src := &lint.Source{Path: path, Format: "sql", Text: []byte(sql),
		Chunks: []lint.Chunk{{Start: 0, End: len(sql), Tx: lint.TxAutocommit}}}
	stmts, err := lint.Parse(src, lint.Options{PGVersion: 15})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return stmts
}

// planSQL plans sql against the fixture.
func planSQL(t *testing.T, sql string, opts Options) *Plan {
	t.Helper()
	return planSQLAt(t, "m.sql", sql, opts)
}

func planSQLAt(t *testing.T, path, sql string, opts Options) *Plan {
	t.Helper()
	schema := lint.NewSchema()
	opts.Before = source(t, "fixture.sql", fixture)
	p, err := Build(source(t, path, sql), schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
