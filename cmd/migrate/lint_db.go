package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/migrate-tool/migrate/lint"
	"github.com/migrate-tool/migrate/trace"
)

// The database-backed modes of migrate lint: --dsn reads the live catalog
// (read-only) into the schema model before linting and grades findings by
// table size after; --trace runs the migration, rolled back, on a scratch
// database and adds what it saw to the findings.

func dbLintFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dsn", Usage: "read the live catalog of this database (read-only, 5s statement timeout) for exact verdicts, sizes and live hazards; its version replaces --pg-version"},
		&cli.StringFlag{Name: "small-table", Value: "10000,10MB", Usage: "with --dsn, lock findings on tables below ROWS[,SIZE] are warnings instead of errors"},
		&cli.BoolFlag{Name: "trace", Usage: "run each statement, rolled back, on --trace-dsn and record the locks, rewrites and scans it really caused"},
		&cli.StringFlag{Name: "trace-dsn", Usage: "scratch database for --trace (never production: statements really run there, then roll back)"},
		&cli.BoolFlag{Name: "trace-disposable", Usage: "confirm that --trace-dsn is a disposable scratch database (required with --trace)"},
	}
}

// lintDB is what the database flags set up before linting.
type lintDB struct {
	cat     *lint.Catalog
	grade   lint.GradeOptions
	trace   bool
	options trace.Options
}

// catalogTimeout bounds connecting plus every catalog query together.
const catalogTimeout = 30 * time.Second

func openLintDB(c *cli.Context, s *lintSettings) (*lintDB, error) {
	db := &lintDB{}
	if c.IsSet("small-table") || c.String("dsn") != "" {
		rows, bytes, err := lint.ParseSmallTable(c.String("small-table"))
		if err != nil {
			return nil, usageErrorf("lint: --small-table: %v", err)
		}
		db.grade = lint.GradeOptions{SmallRows: rows, SmallBytes: bytes}
		if rows == 0 {
			db.grade.SmallRows = -1 // 0 means "nothing is small", not "use the default"
		}
	}
	if c.Bool("trace") || c.IsSet("trace-dsn") {
		if c.String("trace-dsn") == "" {
			return nil, usageErrorf("lint: --trace needs --trace-dsn URL of a scratch database")
		}
		if !c.Bool("trace-disposable") {
			return nil, usageErrorf("lint: --trace runs every statement on --trace-dsn; add --trace-disposable to confirm it is a disposable scratch database")
		}
		db.trace = true
		db.options = trace.Options{DSN: c.String("trace-dsn"), Disposable: true, LiveDSN: c.String("dsn")}
	}
	// The trace parses the sources the way lint did and honours --rule
	// and --disable for its own findings.
	db.options.Lint = lint.Config{Options: s.cfg.Options, Only: s.cfg.Only, Disabled: s.cfg.Disabled}
	dsn := c.String("dsn")
	if dsn == "" {
		return db, nil
	}
	ctx, cancel := context.WithTimeout(c.Context, catalogTimeout)
	defer cancel()
	conn, err := lint.ConnectCatalog(ctx, dsn)
	if err != nil {
		return nil, usageErrorf("lint: --dsn: %v", err)
	}
	defer conn.Close(context.Background())
	cat, err := lint.ReadCatalog(ctx, conn, lint.CatalogOptions{})
	if err != nil {
		return nil, usageErrorf("lint: --dsn: %v", err)
	}
	db.cat = cat
	if db.trace {
		// Lint changes cat.Schema as it applies the migration; the trace
		// needs the model as lint started from it.
		again, err := lint.ReadCatalog(ctx, conn, lint.CatalogOptions{})
		if err != nil {
			return nil, usageErrorf("lint: --dsn: %v", err)
		}
		db.options.Static = again.Schema
	}
	if c.IsSet("pg-version") && s.cfg.PGVersion != cat.PGVersion() {
		fmt.Fprintf(c.App.ErrWriter, "migrate: lint: --pg-version %d ignored: the server behind --dsn runs PostgreSQL %d\n", s.cfg.PGVersion, cat.PGVersion())
	}
	s.cfg.PGVersion = cat.PGVersion()
	s.cfg.Schema = cat.Schema
	db.options.Lint.PGVersion = cat.PGVersion()
	return db, nil
}

// finish grades and traces the lint result in place.
func (db *lintDB) finish(c *cli.Context, sources []*lint.Source, res *lint.Result) error {
	if db.cat != nil {
		lint.Grade(res, db.cat, db.grade)
	}
	if !db.trace || len(res.Errors) > 0 {
		return nil
	}
	if _, err := trace.Run(c.Context, sources, res, db.options); err != nil {
		return usageErrorf("lint: --trace: %v", err)
	}
	return nil
}
