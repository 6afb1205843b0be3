package integration

// Issue 11, defect 4: a primary key (or unique constraint) replaced by
// dropping it first. Run as written, the table has no key while the new
// index builds and INSERT ... ON CONFLICT (id) fails; planned, the new
// index is built first and swapped in one short transaction.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/migrate-tool/migrate/integration/pgtest"
)

func keyFixture(rows int) string {
	return fmt.Sprintf(`
CREATE TABLE orders (id int PRIMARY KEY, tenant int, status text NOT NULL DEFAULT 'new', n int NOT NULL DEFAULT 0, note text);
INSERT INTO orders (id, tenant) SELECT g, g %% 7 FROM generate_series(1, %d) g;
CREATE TABLE users (id int NOT NULL, email text NOT NULL, CONSTRAINT users_email_key UNIQUE (email));
INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 1000) g;`, rows)
}

// upserter runs INSERT ... ON CONFLICT (id) DO UPDATE as fast as it can on
// several connections, as an application keyed on orders.id does.
type upserter struct {
	stop            chan struct{}
	wg              sync.WaitGroup
	ok, failed      atomic.Int64
	mu              sync.Mutex
	firstErr        error
	committedAbove  map[int]bool // new ids (beyond the fixture) whose insert committed
	maxFixtureRowID int
}

// upserts are the statements the upserter runs, by the table it writes.
var upserts = map[string]string{
	"orders": `INSERT INTO orders (id, tenant) VALUES ($1, $1 % 7) ON CONFLICT (id) DO UPDATE SET n = orders.n + 1`,
	"users":  `INSERT INTO users (id, email) VALUES ($1::int, 'u' || $1::text || '@example.com') ON CONFLICT (email) DO UPDATE SET id = users.id`,
}

func startUpserter(t *testing.T, ctx context.Context, dsn, table string, rows int) *upserter {
	t.Helper()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := &upserter{stop: make(chan struct{}), committedAbove: map[int]bool{}, maxFixtureRowID: rows}
	for w := 0; w < 4; w++ {
		u.wg.Add(1)
		go func(w int) {
			defer u.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-u.stop:
					return
				default:
				}
				id := 1 + rng.IntN(rows)
				if i%4 == 0 {
					id = rows + 1 + w + 4*i // a new row, never used twice
				}
				_, err := pool.Exec(ctx, upserts[table], id)
				if err != nil {
					u.failed.Add(1)
					u.mu.Lock()
					if u.firstErr == nil {
						u.firstErr = err
					}
					u.mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				u.ok.Add(1)
				if id > rows {
					u.mu.Lock()
					u.committedAbove[id] = true
					u.mu.Unlock()
				}
			}
		}(w)
	}
	t.Cleanup(pool.Close)
	return u
}

func (u *upserter) finish() { close(u.stop); u.wg.Wait() }

// catalogOf is the part of a snapshot the swap must leave as naive does.
func keyCatalog(s snapshot) snapshot {
	return snapshot{Columns: s.Columns, Indexes: s.Indexes, Constraints: s.Constraints}
}

func TestKeySwap(t *testing.T) {
	rows := 200_000
	c := pgtest.Start(t, pgtest.Options{NoStandby: true, Settings: map[string]string{"max_connections": "100"}})
	e := &env{c: c, tmpl: "tmpl"}
	ctx := context.Background()
	exec1(t, ctx, c.Primary.DSN(""), "CREATE DATABASE tmpl")
	exec1(t, ctx, c.Primary.DSN("tmpl"), keyFixture(rows))
	exec1(t, ctx, c.Primary.DSN("tmpl"), "VACUUM ANALYZE")
	tables := []string{"orders", "users"}

	for _, tc := range []struct{ name, table, sql string }{
		{"two statements", "orders", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);"},
		{"one statement", "orders", "ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id);"},
		{"in between", "orders", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD COLUMN extra int;\nALTER TABLE orders ADD PRIMARY KEY (id);"},
		{"named", "orders", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD CONSTRAINT orders_id_pk PRIMARY KEY (id) INCLUDE (tenant);"},
		{"unique", "users", "ALTER TABLE users DROP CONSTRAINT users_email_key;\nALTER TABLE users ADD UNIQUE (email);"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeMigration(t, "keyswap", tc.sql)
			naive := e.db(t, ctx, "naive")
			exec1(t, ctx, c.Primary.DSN(naive), tc.sql)
			want := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(naive), tables, nil))

			planned := e.db(t, ctx, "planned")
			n := rows
			if tc.table == "users" {
				n = 1000
			}
			u := startUpserter(t, ctx, c.Primary.DSN(planned), tc.table, n)
			time.Sleep(300 * time.Millisecond)
			res := e.migrateCmd(ctx, planned, applyArgs(file)...)
			time.Sleep(300 * time.Millisecond)
			u.finish()
			if res.code != 0 {
				t.Fatalf("apply: %s", res)
			}
			if n := u.failed.Load(); n > 0 {
				t.Errorf("%d of %d concurrent upserts failed during apply; first: %v", n, n+u.ok.Load(), u.firstErr)
			}
			if u.ok.Load() == 0 {
				t.Errorf("no concurrent upsert ran")
			}
			got := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(planned), tables, nil))
			if d := want.diff(got, nil); len(d) > 0 {
				t.Errorf("planned catalog differs from the naive one:\n  %s\napply output:\n%s", strings.Join(d, "\n  "), res)
			}
			conn, err := pgx.Connect(ctx, c.Primary.DSN(planned))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var missing int
			ids := make([]int32, 0, len(u.committedAbove))
			for id := range u.committedAbove {
				ids = append(ids, int32(id))
			}
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM unnest($1::int[]) i WHERE NOT EXISTS (SELECT 1 FROM `+tc.table+` WHERE id = i)`, ids).Scan(&missing); err != nil {
				t.Fatal(err)
			}
			if missing > 0 {
				t.Errorf("%d committed inserts are missing", missing)
			}
		})
	}

	// Killed at any step and run again, the swap ends as naive does.
	t.Run("crash and resume", func(t *testing.T) {
		sql := "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);"
		file := writeMigration(t, "keyswap_crash", sql)
		naive := e.db(t, ctx, "crash_naive")
		exec1(t, ctx, c.Primary.DSN(naive), sql)
		want := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(naive), tables, nil))
		for k := 1; k <= 3; k++ {
			db := e.db(t, ctx, "crash")
			log, killed := e.killAtStep(t, ctx, db, k, time.Duration(k*20)*time.Millisecond, applyArgs(file)...)
			res := e.migrateCmd(ctx, db, applyArgs(file)...)
			if res.code != 0 {
				t.Fatalf("re-run after SIGKILL at step %d (killed %v): %s\nfirst run:\n%s", k, killed, res, log)
			}
			got := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db), tables, nil))
			if d := want.diff(got, nil); len(d) > 0 {
				t.Errorf("after SIGKILL at step %d and resume the catalog differs from the naive one:\n  %s", k, strings.Join(d, "\n  "))
			}
		}
	})

	// A bounded change of 99 rows is one batch (defect 7), and ends as naive.
	t.Run("bounded update", func(t *testing.T) {
		sql := "UPDATE orders SET status = 'x' WHERE id < 100;"
		naive := e.db(t, ctx, "upd_naive")
		exec1(t, ctx, c.Primary.DSN(naive), sql)
		want := takeSnapshot(t, ctx, c.Primary.DSN(naive), []string{"orders"}, nil)
		planned := e.db(t, ctx, "upd_planned")
		res := e.migrateCmd(ctx, planned, applyArgs(writeMigration(t, "bounded", sql))...)
		if res.code != 0 {
			t.Fatalf("apply: %s", res)
		}
		if !strings.Contains(res.stdout+res.stderr, "batches=1 ") {
			t.Errorf("want the backfill done in one batch:\n%s", res)
		}
		got := takeSnapshot(t, ctx, c.Primary.DSN(planned), []string{"orders"}, nil)
		if d := want.diff(got, nil); len(d) > 0 {
			t.Errorf("planned end state differs from the naive one:\n  %s", strings.Join(d, "\n  "))
		}
	})

	// As written, the drop fails with 2BP01 when a foreign key depends on
	// the key: the plan must fail the same way before it changes anything.
	t.Run("foreign key depends on it", func(t *testing.T) {
		db := e.db(t, ctx, "fk")
		exec1(t, ctx, c.Primary.DSN(db), `CREATE TABLE items (id int PRIMARY KEY, order_id int REFERENCES orders (id))`)
		orig := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db), []string{"orders", "items"}, nil))
		sql := "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);"
		if err := execErr(ctx, c.Primary.DSN(db), "BEGIN;\n"+sql+"\nROLLBACK;"); err == nil || !strings.Contains(err.Error(), "2BP01") {
			t.Fatalf("as written: %v, want SQLSTATE 2BP01", err)
		}
		res := e.migrateCmd(ctx, db, applyArgs(writeMigration(t, "keyswap_fk", sql))...)
		if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "items_order_id_fkey") {
			t.Fatalf("apply: want a failure naming the foreign key; %s", res)
		}
		got := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db), []string{"orders", "items"}, nil))
		if d := orig.diff(got, nil); len(d) > 0 {
			t.Errorf("the failed apply changed the catalog:\n  %s\n%s", strings.Join(d, "\n  "), res)
		}
		if strings.Contains(res.stdout+res.stderr, "CREATE UNIQUE INDEX") && strings.Contains(res.stdout+res.stderr, "done") {
			t.Logf("output:\n%s", res)
		}
		// With CASCADE both drop the foreign key and end alike.
		naive := e.db(t, ctx, "fk_naive")
		exec1(t, ctx, c.Primary.DSN(naive), `CREATE TABLE items (id int PRIMARY KEY, order_id int REFERENCES orders (id))`)
		cascade := strings.Replace(sql, "orders_pkey;", "orders_pkey CASCADE;", 1)
		exec1(t, ctx, c.Primary.DSN(naive), cascade)
		want := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(naive), []string{"orders", "items"}, nil))
		db2 := e.db(t, ctx, "fk_cascade")
		exec1(t, ctx, c.Primary.DSN(db2), `CREATE TABLE items (id int PRIMARY KEY, order_id int REFERENCES orders (id))`)
		if res := e.migrateCmd(ctx, db2, applyArgs(writeMigration(t, "keyswap_cascade", cascade))...); res.code != 0 {
			t.Fatalf("apply with CASCADE: %s", res)
		}
		got = keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db2), []string{"orders", "items"}, nil))
		if d := want.diff(got, nil); len(d) > 0 {
			t.Errorf("with CASCADE the planned catalog differs from the naive one:\n  %s", strings.Join(d, "\n  "))
		}
	})

	// Rolled back after the swap, the old constraint is back: the same
	// definition under its name, or rebuilt when the new key differs.
	for _, tc := range []struct{ name, sql string }{
		{"rollback same key", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (id);"},
		{"rollback renamed", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD CONSTRAINT orders_id_pk PRIMARY KEY (id);"},
		{"rollback other key", "ALTER TABLE orders DROP CONSTRAINT orders_pkey;\nALTER TABLE orders ADD PRIMARY KEY (tenant, id);"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := e.db(t, ctx, "rollback")
			orig := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db), tables, nil))
			// The dropped column is a breaking step: apply stops before it.
			file := writeMigration(t, "keyswap_rb", tc.sql+"\nALTER TABLE orders DROP COLUMN note;")
			args := append([]string{"apply", "--lock-timeout", lockTimeout.String()}, fastRetries...)
			res := e.migrateCmd(ctx, db, append(args, file)...)
			if res.code != 0 || !strings.Contains(res.stdout, "expanded") {
				t.Fatalf("apply: %s", res)
			}
			if res := e.migrateCmd(ctx, db, "rollback"); res.code != 0 {
				t.Fatalf("rollback: %s", res)
			}
			got := keyCatalog(takeSnapshot(t, ctx, c.Primary.DSN(db), tables, nil))
			if d := orig.diff(got, nil); len(d) > 0 {
				t.Errorf("after rollback the catalog differs from the original:\n  %s", strings.Join(d, "\n  "))
			}
		})
	}
}
