package integration

// The concurrent writer of the differential test: the application keeps
// inserting and updating rows of the touched table while apply runs, with
// statements old and new application code both make. Every write that
// committed is recorded, and must be in the database afterwards.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type diffWriter struct {
	dsn      string
	table    *diffTable
	tableOID uint32
	quit     chan struct{}
	done     chan struct{}
	started  chan struct{}
	monitors sync.WaitGroup

	mu        sync.Mutex
	attempts  int
	inserted  []string       // markers of committed inserts
	updated   map[int]string // row number -> marker of its last committed update
	errCount  int
	errSample map[string]int
	upserts   int
	// unexpected are errors outside expectedWriterError, per write kind
	// (the index in appWrites: insert, update, upsert) and SQLSTATE, with
	// one message each and a count.
	unexpected  map[int]map[string]string
	unexpectedN map[int]int
	// keyless counts the monitor's looks at the catalog that found the
	// table without a primary key.
	keyless, looks int
}

// writtenSet is what the writer committed, frozen when it stopped.
type writtenSet struct {
	inserted []string
	updated  map[int]string
}

func writerArgs(q, marker string, n int) []any {
	if strings.Contains(q, "$2") {
		return []any{marker, n}
	}
	return []any{marker}
}

func startDiffWriter(ctx context.Context, dsn string, tb *diffTable) (*diffWriter, error) {
	w := &diffWriter{dsn: dsn, table: tb, quit: make(chan struct{}), done: make(chan struct{}), started: make(chan struct{}),
		updated: map[int]string{}, errSample: map[string]int{}, unexpected: map[int]map[string]string{}, unexpectedN: map[int]int{}}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	// The table keeps its oid through a rename; the check at the end
	// finds it under whatever name it has then.
	if err := conn.QueryRow(ctx, `SELECT $1::regclass::oid`, tb.name).Scan(&w.tableOID); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	go w.loop(ctx, conn)
	w.monitors.Add(1)
	go func() {
		defer w.monitors.Done()
		w.monitor(ctx)
	}()
	select {
	case <-w.started:
	case <-time.After(5 * time.Second):
	}
	return w, nil
}

func (w *diffWriter) loop(ctx context.Context, conn *pgx.Conn) {
	defer close(w.done)
	defer func() { conn.Close(context.Background()) }()
	for n := 0; ; n++ {
		select {
		case <-w.quit:
			return
		case <-time.After(15 * time.Millisecond):
		}
		if conn.IsClosed() {
			var err error
			if conn, err = pgx.Connect(ctx, w.dsn); err != nil {
				w.fail(-1, err)
				continue
			}
		}
		var err error
		kind := n % 3
		if w.table.upsert == "" {
			kind = n % 2
		}
		if kind == 0 {
			marker := fmt.Sprintf("ins:%d", n)
			_, err = conn.Exec(ctx, w.table.insert, writerArgs(w.table.insert, marker, n)...)
			w.mu.Lock()
			if err == nil {
				w.inserted = append(w.inserted, marker)
			}
		} else if kind == 2 {
			// ON CONFLICT DO NOTHING leaves an existing row alone; when the
			// row is gone it inserts one marked as the writer's, which the
			// data comparison leaves out.
			_, err = conn.Exec(ctx, w.table.upsert, writerArgs(w.table.upsert, fmt.Sprintf("ins:u%d", n), 1+n%50)...)
			w.mu.Lock()
			if err == nil {
				w.upserts++
			}
		} else {
			marker := fmt.Sprintf("upd:%d", n)
			row := 1 + n%50
			var tag pgconn.CommandTag
			tag, err = conn.Exec(ctx, w.table.update, writerArgs(w.table.update, marker, row)...)
			w.mu.Lock()
			if err == nil && tag.RowsAffected() > 0 {
				w.updated[row] = marker
			}
		}
		w.attempts++
		if w.attempts == 1 {
			close(w.started)
		}
		w.mu.Unlock()
		if err != nil {
			w.fail(kind, err)
		}
	}
}

func (w *diffWriter) fail(kind int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errCount++
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !expectedWriterError[pe.Code] {
		w.unexpectedN[kind]++
		if w.unexpected[kind] == nil {
			w.unexpected[kind] = map[string]string{}
		}
		if w.unexpected[kind][pe.Code] == "" {
			w.unexpected[kind][pe.Code] = firstLine(err.Error())
		}
	}
	msg := firstLine(err.Error())
	if len(w.errSample) < 5 || w.errSample[msg] > 0 {
		w.errSample[msg]++
	}
}

func (w *diffWriter) stop() writtenSet {
	close(w.quit)
	<-w.done
	w.monitors.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	up := map[int]string{}
	for k, v := range w.updated {
		up[k] = v
	}
	return writtenSet{inserted: append([]string{}, w.inserted...), updated: up}
}

// summary says how many writes were tried, committed and refused, with
// the errors the application saw (they are not failures by themselves:
// a new constraint may reject old code's rows; the catalog and the
// post-apply write check catch an outage).
func (w *diffWriter) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []string
	for m, c := range w.errSample {
		errs = append(errs, fmt.Sprintf("%dx %s", c, m))
	}
	sort.Strings(errs)
	s := fmt.Sprintf("%d writes tried, %d inserts and %d rows' updates committed, %d upserts, %d errors", w.attempts, len(w.inserted), len(w.updated), w.upserts, w.errCount)
	if len(errs) > 0 {
		s += " (" + strings.Join(errs, "; ") + ")"
	}
	return s
}

// problems lists committed writes missing from the planned database.
// When the statement deletes rows, a committed write may legitimately be
// deleted by the statement itself, so nothing is required.
func (w *diffWriter) problems(ctx context.Context, _ snapshotDB, written writtenSet, deletes bool) []string {
	if deletes {
		return nil
	}
	conn, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		return []string{"checking the writer's rows: " + err.Error()}
	}
	defer conn.Close(context.Background())
	var table string
	if err := conn.QueryRow(ctx, `SELECT $1::oid::regclass::text`, w.tableOID).Scan(&table); err != nil {
		return []string{"the written table is gone: " + err.Error()}
	}
	rows, err := conn.Query(ctx, `SELECT `+writerCol+` FROM `+table+` WHERE `+writerCol+` LIKE 'ins:%' OR `+writerCol+` LIKE 'upd:%'`)
	if err != nil {
		return []string{"reading the writer's rows: " + err.Error()}
	}
	present := map[string]bool{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return []string{err.Error()}
		}
		present[m] = true
	}
	rows.Close()
	var lostIns, lostUpd []string
	for _, m := range written.inserted {
		if !present[m] {
			lostIns = append(lostIns, m)
		}
	}
	for row, m := range written.updated {
		if !present[m] {
			lostUpd = append(lostUpd, fmt.Sprintf("row %d: %s", row, m))
		}
	}
	sort.Strings(lostUpd)
	var out []string
	if len(lostIns) > 0 {
		out = append(out, fmt.Sprintf("LOST WRITES: %d of %d committed inserts are missing from %s, e.g. %s", len(lostIns), len(written.inserted), table, strings.Join(first(lostIns, 5), ", ")))
	}
	if len(lostUpd) > 0 {
		out = append(out, fmt.Sprintf("LOST WRITES: %d of %d rows lost their last committed update in %s, e.g. %s", len(lostUpd), len(written.updated), table, strings.Join(first(lostUpd, 5), ", ")))
	}
	return out
}

func first(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// expectedWriterError are the errors the writer's statements may meet
// after naive too: a column or table renamed or dropped under old code.
var expectedWriterError = map[string]bool{"42703": true, "42P01": true}

// unexpectedErrors describes the errors the application met during apply
// with a write that works on naive's end state (naiveErrs[kind] == nil)
// and, being valid before and after, cannot fail with naive, which is one
// atomic statement. 42P10 on the upsert means the table was without the
// key its ON CONFLICT names; 55000 on an update, without its replica
// identity; 23502, a key column without its identity or default.
func (w *diffWriter) unexpectedErrors(naiveErrs []error) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	n := 0
	for kind, codes := range w.unexpected {
		if kind >= 0 && kind < len(naiveErrs) && naiveErrs[kind] != nil {
			continue
		}
		n += w.unexpectedN[kind]
		for code, msg := range codes {
			out = append(out, code+": "+msg)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("OUTAGE: the application's writes failed %d times during apply, writes that work before and after naive: %s", n, strings.Join(out, "; "))}
}

// monitor looks at the catalog every few milliseconds while apply runs
// and counts the moments the table has no primary key: naive replaces a
// key in one statement, so the application never sees it missing.
func (w *diffWriter) monitor(ctx context.Context) {
	conn, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	for {
		select {
		case <-w.quit:
			return
		case <-time.After(3 * time.Millisecond):
		}
		var hasKey bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = $1 AND contype = 'p')`, w.tableOID).Scan(&hasKey); err != nil {
			continue
		}
		w.mu.Lock()
		w.looks++
		if !hasKey {
			w.keyless++
		}
		w.mu.Unlock()
	}
}

// keylessProblem reports a primary key missing for a while during apply
// when the table has one before and after naive.
func (w *diffWriter) keylessProblem(origHasKey, naiveHasKey bool) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !origHasKey || !naiveHasKey || w.keyless == 0 {
		return nil
	}
	return []string{fmt.Sprintf("OUTAGE: %s had no primary key in %d of %d looks at the catalog during apply (naive replaces it atomically)", w.table.name, w.keyless, w.looks)}
}
