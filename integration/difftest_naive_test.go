package integration

// The naive side of the differential test: the file run as psql runs it.
//
// Most pairs are one statement that PostgreSQL runs as well inside a
// transaction block as outside one. Those run on a copy kept per worker
// and fixture, inside a transaction that is rolled back after the
// snapshot: the snapshot sees the statement's effect on the same
// connection, and the copy is pristine again for the next pair (a copy
// costs more than the rest of a pair together). Before the snapshot,
// SET CONSTRAINTS ALL IMMEDIATE runs the checks and cascades a COMMIT
// would run (deferred foreign keys), so a statement that COMMIT would
// reject counts as failed. Everything else (several statements, explicit
// transactions, CONCURRENTLY, VACUUM, CLUSTER, REINDEX, ALTER TYPE) runs
// on a fresh copy, autocommit, statement by statement (runNaive).

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// naiveEnd is naive's outcome, end state, and how the application's
// writes fare on that end state (nil: it works), in appWrites order.
type naiveEnd struct {
	run     naiveRun
	snap    snapshotDB
	appErrs []error
}

// outsideTransaction matches statements whose effect or success differs
// inside a transaction block, and transaction control itself.
var outsideTransaction = regexp.MustCompile(`(?i)\b(CONCURRENTLY|VACUUM|CLUSTER|REINDEX|BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|ALTER\s+TYPE|ALTER\s+SYSTEM|DATABASE)\b`)

func naiveStatements(sql string) ([]string, error) {
	stmts, err := pg_query.SplitWithScanner(sql, true)
	if err != nil {
		return nil, err
	}
	var kept []string
	for _, s := range stmts {
		if strings.TrimSpace(stripComments(s)) != "" {
			kept = append(kept, s)
		}
	}
	return kept, nil
}

func (e *diffEnv) runNaiveEnd(ctx context.Context, worker int, p diffPair) (naiveEnd, error) {
	stmts, err := naiveStatements(p.sql)
	if err != nil {
		return naiveEnd{}, err
	}
	if len(stmts) == 1 && !outsideTransaction.MatchString(stripComments(stmts[0])) {
		return e.naiveInTransaction(ctx, worker, p, stmts[0])
	}
	db, err := e.copyDB(ctx, p.fixture)
	if err != nil {
		return naiveEnd{}, err
	}
	defer e.dropDB(context.Background(), db)
	var ne naiveEnd
	if ne.run, err = runNaive(ctx, e.c.Primary.DSN(db), p.sql); err != nil {
		return ne, err
	}
	if ne.snap, err = takeDiffSnapshot(ctx, e.c.Primary.DSN(db), p.ignoreData); err != nil {
		return ne, err
	}
	for _, q := range appWrites(p.table) {
		ne.appErrs = append(ne.appErrs, tryWrite(ctx, e.c.Primary.DSN(db), q))
	}
	return ne, nil
}

// naiveInTransaction runs one statement in a transaction on the worker's
// copy, snapshots, tries the application's writes, and rolls back.
func (e *diffEnv) naiveInTransaction(ctx context.Context, worker int, p diffPair, stmt string) (ne naiveEnd, err error) {
	db, err := e.workerCopy(ctx, worker, p.fixture)
	if err != nil {
		return ne, err
	}
	conn, err := pgx.Connect(ctx, e.c.Primary.DSN(db))
	if err != nil {
		return ne, err
	}
	defer func() {
		_, rbErr := conn.Exec(context.Background(), "ROLLBACK")
		conn.Close(context.Background())
		if rbErr != nil || err != nil {
			// The copy may not be pristine: the next pair gets a new one.
			e.forgetWorkerCopy(worker, p.fixture, db)
		}
	}()
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return ne, err
	}
	ne.run.stmts = 1
	_, runErr := conn.PgConn().Exec(ctx, stmt).ReadAll()
	if runErr == nil {
		_, runErr = conn.PgConn().Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE").ReadAll()
	}
	if runErr != nil {
		ne.run.err, ne.run.failedAt = runErr, 1
		// The transaction is aborted: naive's end state is the original.
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			return ne, err
		}
	}
	if ne.snap, err = snapshotOn(ctx, conn, p.ignoreData); err != nil {
		return ne, err
	}
	if runErr != nil {
		return ne, nil
	}
	for _, q := range appWrites(p.table) {
		if _, err := conn.Exec(ctx, "SAVEPOINT app_write"); err != nil {
			return ne, err
		}
		_, werr := conn.Exec(ctx, q, writerArgs(q, "post:1", 7)...)
		ne.appErrs = append(ne.appErrs, werr)
		if _, err := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT app_write"); err != nil {
			return ne, err
		}
	}
	return ne, nil
}

// workerCopy returns the worker's pristine copy of the fixture, making
// it on first use.
func (e *diffEnv) workerCopy(ctx context.Context, worker int, f *diffFixture) (string, error) {
	key := fmt.Sprintf("%d/%s", worker, f.name)
	e.mu.Lock()
	db, ok := e.naiveDBs[key]
	e.mu.Unlock()
	if ok {
		return db, nil
	}
	db, err := e.copyDB(ctx, f)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.naiveDBs[key] = db
	e.mu.Unlock()
	return db, nil
}

func (e *diffEnv) forgetWorkerCopy(worker int, f *diffFixture, db string) {
	e.mu.Lock()
	delete(e.naiveDBs, fmt.Sprintf("%d/%s", worker, f.name))
	e.mu.Unlock()
	e.dropDB(context.Background(), db)
}
