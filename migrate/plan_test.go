package migrate

import (
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// phases renders the plan's phases as a compact string: "E E B C".
func phases(p *Plan) string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, strings.ToUpper(string(s.Phase[:1])))
	}
	return strings.Join(out, " ")
}

// checkInvariants holds for every plan: expand steps can be undone unless
// they only remove or validate, CONCURRENTLY never runs in a transaction
// and never has a lock timeout, every step's SQL parses, and generated
// names fit in 63 bytes.
func checkInvariants(t *testing.T, p *Plan) {
	t.Helper()
	last := Expand
	order := map[Phase]int{Expand: 0, Backfill: 1, Contract: 2}
	for _, s := range p.Steps {
		if order[s.Phase] < order[last] {
			t.Errorf("step %d: phase %s after %s", s.ID, s.Phase, last)
		}
		last = s.Phase
		if s.Backfill != nil {
			if s.SQL != "" || s.InTransaction {
				t.Errorf("step %d: backfill step with SQL or a transaction", s.ID)
			}
			continue
		}
		if _, err := pg_query.Parse(s.SQL); err != nil {
			t.Errorf("step %d SQL does not parse: %v\n%s", s.ID, err, s.SQL)
		}
		if s.Undo != "" {
			if _, err := pg_query.Parse(s.Undo); err != nil {
				t.Errorf("step %d undo does not parse: %v\n%s", s.ID, err, s.Undo)
			}
		}
		conc := strings.Contains(s.SQL, "CONCURRENTLY")
		if conc && (s.InTransaction || s.LockTimeout != 0 || s.StatementTimeout != 0) {
			t.Errorf("step %d: CONCURRENTLY step in a transaction or with timeouts", s.ID)
		}
		if !conc && s.Unsafe == "" && !strings.HasPrefix(s.SQL, "VACUUM") && !s.InTransaction {
			t.Errorf("step %d: non-concurrent step outside a transaction: %s", s.ID, s.SQL)
		}
		if strings.Contains(s.SQL, "VALIDATE CONSTRAINT") && s.StatementTimeout != 0 {
			t.Errorf("step %d: VALIDATE with a statement timeout", s.ID)
		}
		if s.Breaking && s.Phase != Contract {
			t.Errorf("step %d: breaking step outside contract", s.ID)
		}
		for _, l := range s.Locks {
			if l.Mode == "ACCESS EXCLUSIVE" && s.InTransaction && s.LockTimeout == 0 {
				t.Errorf("step %d: ACCESS EXCLUSIVE without a lock timeout", s.ID)
			}
		}
		for _, word := range strings.FieldsFunc(s.SQL, func(r rune) bool { return r == ' ' || r == '\n' || r == '(' || r == ';' || r == '.' }) {
			w := strings.Trim(word, `"`)
			if strings.HasPrefix(w, reservedPrefix) && len(w) > maxIdentLen {
				t.Errorf("step %d: name longer than 63 bytes: %s", s.ID, w)
			}
		}
	}
}

type recipeCase struct {
	name, sql string
	phases    string
	contains  []string // substrings, each in some step's SQL, in this order across steps
	breaking  int      // number of breaking steps
	nonTx     int      // number of non-transactional SQL steps
}

func TestRecipes(t *testing.T) {
	cases := []recipeCase{
		{
			name:   "R1 volatile default NOT NULL",
			sql:    `ALTER TABLE app."Users" ADD COLUMN "Token" uuid NOT NULL DEFAULT gen_random_uuid();`,
			phases: "E B C C C",
			contains: []string{`ADD COLUMN "Token" uuid;`, `SET DEFAULT gen_random_uuid()`,
				`CHECK ("Token" IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT "_migrate_nn_Users_Token"`, `ALTER COLUMN "Token" SET NOT NULL`},
		},
		{
			name:     "R1 before PostgreSQL 11 with a constant",
			sql:      `ALTER TABLE accounts ADD COLUMN flag boolean DEFAULT false;`,
			phases:   "E B",
			contains: []string{"ADD COLUMN flag boolean;", "SET DEFAULT false"},
		},
		{
			name:   "constant default is instant",
			sql:    `ALTER TABLE accounts ADD COLUMN flag boolean NOT NULL DEFAULT false;`,
			phases: "E", contains: []string{"ADD COLUMN flag boolean NOT NULL DEFAULT false"},
		},
		{
			name:   "create index",
			sql:    `CREATE INDEX ON app."Users" (lower(name));`,
			phases: "E", nonTx: 1,
			contains: []string{`CREATE INDEX CONCURRENTLY "Users_lower_idx" ON app."Users"`},
		},
		{
			name:   "drop index",
			sql:    `DROP INDEX app."Users_Email_idx";`,
			phases: "E", nonTx: 1, contains: []string{`DROP INDEX CONCURRENTLY app."Users_Email_idx"`},
		},
		{
			name:   "reindex",
			sql:    `REINDEX TABLE app."Users";`,
			phases: "E", nonTx: 1, contains: []string{`REINDEX TABLE CONCURRENTLY app."Users"`},
		},
		{
			name:   "R7 partitioned parent",
			sql:    `CREATE INDEX ev_id ON events (id);`,
			phases: "E E E E E E E", nonTx: 3,
			contains: []string{"CREATE INDEX ev_id ON ONLY events", "CREATE INDEX CONCURRENTLY events_2024_id_idx ON events_2024",
				"ALTER INDEX ev_id ATTACH PARTITION events_2024_id_idx"},
		},
		{
			// PostgreSQL names a partition's index after its INCLUDE
			// columns too (events_2024_id_payload_idx, not events_2024_id_idx).
			name:   "R7 covering index names its INCLUDE columns",
			sql:    `CREATE INDEX ON events (id) INCLUDE (payload);`,
			phases: "E E E E E E E", nonTx: 3,
			contains: []string{"CREATE INDEX events_id_payload_idx ON ONLY events",
				"CREATE INDEX CONCURRENTLY events_2024_id_payload_idx ON events_2024",
				"ALTER INDEX events_id_payload_idx ATTACH PARTITION events_2024_id_payload_idx"},
		},
		{
			name:   "foreign key with index",
			sql:    `ALTER TABLE accounts ADD CONSTRAINT "Owner_fk" FOREIGN KEY (owner_id) REFERENCES app."Users" (id);`,
			phases: "E E E", nonTx: 1,
			contains: []string{"CREATE INDEX CONCURRENTLY accounts_owner_id_idx ON accounts (owner_id)",
				`REFERENCES app."Users" (id) NOT VALID`, `VALIDATE CONSTRAINT "Owner_fk"`},
		},
		{
			name:     "check",
			sql:      `ALTER TABLE app."Users" ADD CHECK (age >= 0);`,
			phases:   "E E",
			contains: []string{`ADD CONSTRAINT "Users_age_check" CHECK (age >= 0) NOT VALID`, `VALIDATE CONSTRAINT "Users_age_check"`},
		},
		{
			name:     "set not null",
			sql:      `ALTER TABLE app."Users" ALTER COLUMN name SET NOT NULL;`,
			phases:   "E E E",
			contains: []string{`CHECK (name IS NOT NULL) NOT VALID`, "VALIDATE", "SET NOT NULL;\nALTER TABLE app.\"Users\" DROP CONSTRAINT"},
		},
		{
			name:   "unique",
			sql:    `ALTER TABLE accounts ADD CONSTRAINT acc_owner_key UNIQUE (owner_id);`,
			phases: "E E", nonTx: 1,
			contains: []string{"CREATE UNIQUE INDEX CONCURRENTLY acc_owner_key ON accounts", "ADD CONSTRAINT acc_owner_key UNIQUE USING INDEX acc_owner_key"},
		},
		{
			name:   "primary key with R3",
			sql:    `ALTER TABLE app."Users" DROP CONSTRAINT "Users_pkey", ADD PRIMARY KEY (name);`,
			phases: "E E E E E", nonTx: 1,
			// The replaced key holds until the new index is built (issue 11).
			contains: []string{"DO $migrate_check$", `CREATE UNIQUE INDEX CONCURRENTLY "_migrate_swap_Users_Users_pkey"`, `CHECK (name IS NOT NULL) NOT VALID`,
				"VALIDATE", `SET NOT NULL;` + "\n" + `ALTER TABLE app."Users" DROP CONSTRAINT "Users_pkey";` + "\n" +
					`ALTER TABLE app."Users" ADD CONSTRAINT "Users_pkey" PRIMARY KEY USING INDEX "_migrate_swap_Users_Users_pkey"`},
		},
		{
			name:   "R4 type change",
			sql:    `ALTER TABLE app."Users" ALTER COLUMN "Email" TYPE text USING lower("Email");`,
			phases: "E E B C C C C", nonTx: 1,
			contains: []string{`ADD COLUMN "_migrate_new_Email" text`,
				`NEW."_migrate_new_Email" := lower(new."Email")`,
				`CHECK ("_migrate_new_Email" IS NOT NULL) NOT VALID`, "VALIDATE",
				`CREATE INDEX CONCURRENTLY "_migrate_dup_Users_Email_idx"`,
				`DROP COLUMN "Email";` + "\n" + `ALTER TABLE app."Users" RENAME COLUMN "_migrate_new_Email" TO "Email"`},
		},
		{
			name:   "binary-coercible type change passes through",
			sql:    `ALTER TABLE accounts ALTER COLUMN code TYPE varchar(20);`,
			phases: "E", contains: []string{"ALTER TABLE accounts ALTER COLUMN code TYPE varchar(20);"},
		},
		{
			name:   "R5 rename column",
			sql:    `ALTER TABLE app."Users" RENAME COLUMN "Email" TO "Mail";`,
			phases: "E E B C C C C", nonTx: 1, breaking: 1,
			contains: []string{`ADD COLUMN "Mail" varchar(100)`,
				`ELSIF NEW."Mail" IS DISTINCT FROM OLD."Mail" THEN` + "\n" + `    NEW."Email" := NEW."Mail";` + "\n" +
					`  ELSIF NEW."Email" IS DISTINCT FROM OLD."Email" THEN` + "\n" + `    NEW."Mail" := NEW."Email";`,
				`CHECK ("Mail" IS NOT NULL) NOT VALID`, "VALIDATE", `CREATE INDEX CONCURRENTLY`, `DROP COLUMN "Email";`},
		},
		{
			name:   "rename table",
			sql:    `ALTER TABLE accounts RENAME TO "Accounts";`,
			phases: "E C", breaking: 1,
			contains: []string{`ALTER TABLE accounts RENAME TO "Accounts";` + "\n" + `CREATE VIEW accounts AS SELECT * FROM "Accounts";`, "DROP VIEW accounts;"},
		},
		{
			name:   "whole-table update",
			sql:    `UPDATE accounts SET code = upper(code);`,
			phases: "B",
		},
		{
			name:   "R8 attach",
			sql:    `ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');`,
			phases: "E E E E E E E",
			contains: []string{`CHECK (at IS NOT NULL AND at >= '2026-01-01' AND at < '2027-01-01') NOT VALID`, "VALIDATE",
				"CHECK (NOT (at IS NOT NULL", "VALIDATE", "ATTACH PARTITION events_2026", "DROP CONSTRAINT _migrate_bound_events_2026", "DROP CONSTRAINT _migrate_bound_events_default"},
		},
		{
			name:     "R8 partition of",
			sql:      `CREATE TABLE app.events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');`,
			phases:   "E E E E E",
			contains: []string{"CREATE TABLE app.events_2027 (LIKE events INCLUDING ALL)", "CHECK (NOT (", "VALIDATE", "ATTACH PARTITION app.events_2027", "DROP CONSTRAINT"},
		},
		{
			name:   "drop column is breaking",
			sql:    `ALTER TABLE accounts DROP COLUMN created, ADD COLUMN c2 int;`,
			phases: "E C", breaking: 1,
			contains: []string{"ADD COLUMN c2 int", "DROP created"},
		},
		{
			name:     "multi-action ALTER split where recipes differ",
			sql:      `ALTER TABLE accounts ADD COLUMN a int, ADD COLUMN b int, ALTER COLUMN code SET NOT NULL, ADD COLUMN c int;`,
			phases:   "E E E E E",
			contains: []string{"ADD COLUMN a int, ADD COLUMN b int", "CHECK (code IS NOT NULL) NOT VALID", "VALIDATE", "SET NOT NULL", "ADD COLUMN c int"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if strings.Contains(tc.name, "before PostgreSQL 11") {
				opts.PGVersion = 10
			}
			p := planSQL(t, tc.sql, opts)
			checkInvariants(t, p)
			if len(p.Refused) > 0 {
				t.Fatalf("refused: %+v", p.Refused)
			}
			if got := phases(p); got != tc.phases {
				t.Errorf("phases = %q, want %q", got, tc.phases)
			}
			i := 0
			for _, want := range tc.contains {
				for i < len(p.Steps) && !strings.Contains(p.Steps[i].SQL, want) {
					i++
				}
				if i == len(p.Steps) {
					t.Errorf("no step (in order) contains %q", want)
					i = 0
				}
			}
			breaking, nonTx := 0, 0
			for _, s := range p.Steps {
				if s.Breaking {
					breaking++
				}
				if !s.InTransaction && s.Backfill == nil {
					nonTx++
				}
				if s.Source.Line != 1 || s.Source.File != "m.sql" {
					t.Errorf("step %d source = %v", s.ID, s.Source)
				}
			}
			if breaking != tc.breaking || nonTx != tc.nonTx {
				t.Errorf("breaking %d, non-transactional %d; want %d, %d", breaking, nonTx, tc.breaking, tc.nonTx)
			}
			if t.Failed() {
				var b strings.Builder
				p.WriteText(&b)
				t.Log(b.String())
			}
		})
	}
}

// Every expand step that adds something says how to drop it again.
func TestExpandStepsHaveUndo(t *testing.T) {
	p := planSQL(t, `
ALTER TABLE app."Users" ADD COLUMN "Token" uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE app."Users" ALTER COLUMN "Email" TYPE text;
ALTER TABLE app."Users" RENAME COLUMN name TO full_name;
ALTER TABLE accounts ADD CONSTRAINT fk FOREIGN KEY (owner_id) REFERENCES app."Users" (id);
CREATE INDEX ev_at ON events (at);
ALTER TABLE accounts ADD UNIQUE (owner_id);`, Options{})
	checkInvariants(t, p)
	for _, s := range p.Steps {
		if s.Phase != Expand || strings.Contains(s.SQL, "VALIDATE") || strings.Contains(s.SQL, "ATTACH PARTITION") {
			continue
		}
		if s.Undo == "" {
			t.Errorf("expand step %d has no undo: %s", s.ID, s.SQL)
		}
	}
}

func TestBackfillSpecs(t *testing.T) {
	p := planSQL(t, `ALTER TABLE app."Users" RENAME COLUMN "Email" TO "Mail";
UPDATE accounts SET code = upper(code), created = now();
DELETE FROM app."Users";`, Options{})
	var specs []*BackfillSpec
	for _, s := range p.Steps {
		if s.Backfill != nil {
			specs = append(specs, s.Backfill)
		}
	}
	want := []BackfillSpec{
		{Table: `app."Users"`, Set: `"Mail" = "Email"`, Where: `"Mail" IS NULL AND "Email" IS NOT NULL`},
		{Table: "accounts", Set: "code = upper(code), created = now()"},
		{Table: `app."Users"`, Delete: true},
	}
	if len(specs) != len(want) {
		t.Fatalf("%d backfills, want %d", len(specs), len(want))
	}
	for i, w := range want {
		if g := *specs[i]; g.Table != w.Table || g.Set != w.Set || g.Where != w.Where || g.Delete != w.Delete {
			t.Errorf("backfill %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestSafeStatementsPassThroughUnchanged(t *testing.T) {
	for _, sql := range []string{
		`CREATE TABLE app."New" (id bigint PRIMARY KEY, "Ref" bigint REFERENCES accounts (id))`,
		`ALTER TABLE accounts ADD COLUMN note text DEFAULT 'x'`,
		`ALTER TABLE accounts ALTER COLUMN code TYPE text`,
		`ALTER TABLE app."Users" ADD CONSTRAINT c CHECK (age > 0) NOT VALID`,
		`CREATE INDEX CONCURRENTLY a_idx ON accounts (created)`,
		`GRANT SELECT ON accounts TO reader`,
		`UPDATE accounts SET code = 'x' WHERE id = 1`,
		`COMMENT ON TABLE accounts IS 'money'`,
	} {
		p := planSQL(t, sql+";", Options{})
		checkInvariants(t, p)
		if len(p.Steps) != 1 || p.Steps[0].Phase != Expand || p.Steps[0].SQL != sql+";" || len(p.Refused) > 0 {
			t.Errorf("%s:\n got %+v", sql, p.Steps)
		}
	}
}

func TestNewTablesPassThrough(t *testing.T) {
	sql := `CREATE TABLE app.fresh (id int, v text);
ALTER TABLE app.fresh ADD COLUMN t uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE app.fresh ALTER COLUMN v SET NOT NULL, ALTER COLUMN id TYPE bigint;
CREATE INDEX ON app.fresh (v);
ALTER TABLE app.fresh RENAME COLUMN v TO w;
UPDATE app.fresh SET w = 'x';`
	p := planSQL(t, sql, Options{})
	if len(p.Steps) != 6 {
		t.Fatalf("%d steps, want 6", len(p.Steps))
	}
	for i, s := range p.Steps {
		if s.Phase != Expand || !s.InTransaction || s.Breaking {
			t.Errorf("step %d: %+v", i+1, s)
		}
	}
}

func TestRefusalAndAllowUnsafe(t *testing.T) {
	sql := `VACUUM FULL accounts;
CLUSTER accounts USING accounts_code_idx;
ALTER TABLE accounts SET TABLESPACE slow, ADD COLUMN n int;
ALTER TABLE accounts SET UNLOGGED;
ALTER TABLE accounts ADD CONSTRAINT ex EXCLUDE USING gist (code WITH =);
ALTER TABLE accounts ADD COLUMN must int NOT NULL;`
	p := planSQL(t, sql, Options{})
	var rules []string
	for _, r := range p.Refused {
		rules = append(rules, r.Rule)
		if r.Reason == "" || r.Source.File != "m.sql" {
			t.Errorf("refusal without reason or source: %+v", r)
		}
	}
	want := "rewriting-table-operation rewriting-table-operation rewriting-table-operation rewriting-table-operation adding-exclusion-constraint adding-required-column"
	if got := strings.Join(rules, " "); got != want {
		t.Errorf("refused rules = %s\nwant %s", got, want)
	}
	if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].SQL, "ADD COLUMN n int") {
		t.Errorf("the rest of the statement should still be planned: %+v", p.Steps)
	}

	p = planSQL(t, sql, Options{AllowUnsafe: []string{"rewriting-table-operation"}})
	if len(p.Refused) != 2 {
		t.Errorf("refused %d, want 2 (exclusion, required field)", len(p.Refused))
	}
	var unsafe int
	for _, s := range p.Steps {
		if s.Unsafe == "" {
			continue
		}
		unsafe++
		if len(s.Locks) == 0 || s.Locks[0].Mode != "ACCESS EXCLUSIVE" {
			t.Errorf("unsafe step %d does not note its lock: %+v", s.ID, s.Locks)
		}
		if strings.HasPrefix(s.SQL, "VACUUM") == s.InTransaction {
			t.Errorf("step %d: VACUUM must run outside a transaction, the rest inside", s.ID)
		}
	}
	if unsafe != 4 {
		t.Errorf("%d unsafe steps, want 4", unsafe)
	}
}

func TestTimeouts(t *testing.T) {
	p := planSQL(t, `ALTER TABLE app."Users" ADD CHECK (age > 0); CREATE INDEX ON accounts (created);`, Options{LockTimeout: 500 * time.Millisecond})
	want := []struct{ lock, stmt time.Duration }{{500 * time.Millisecond, DDLStatementTimeout}, {500 * time.Millisecond, 0}, {0, 0}}
	if len(p.Steps) != len(want) {
		t.Fatalf("%d steps", len(p.Steps))
	}
	for i, w := range want {
		if s := p.Steps[i]; s.LockTimeout != w.lock || s.StatementTimeout != w.stmt {
			t.Errorf("step %d timeouts %v/%v, want %v/%v", i+1, s.LockTimeout, s.StatementTimeout, w.lock, w.stmt)
		}
	}
}

func TestLongNamesAreHashed(t *testing.T) {
	long := strings.Repeat("k", 60)
	n1 := reservedName("nn", long, "a")
	n2 := reservedName("nn", long, "b")
	if len(n1) > maxIdentLen || len(n2) > maxIdentLen || n1 == n2 || !strings.HasPrefix(n1, reservedPrefix) {
		t.Errorf("%q %q", n1, n2)
	}
	p := planSQL(t, `ALTER TABLE accounts ADD COLUMN `+long+` int NOT NULL DEFAULT random();`, Options{})
	checkInvariants(t, p)
}

// A backfill earlier in the plan moves later steps that read the table's
// data behind it, as the original statement order requires.
func TestDataStepsFollowBackfill(t *testing.T) {
	p := planSQL(t, `UPDATE accounts SET code = lower(code);
CREATE UNIQUE INDEX acc_code ON accounts (code);
ALTER TABLE accounts ADD CHECK (code <> '');
CREATE INDEX acc_created ON accounts (created);`, Options{})
	if got := phases(p); got != "E B C C C" {
		t.Errorf("phases %q, want E B C C C (plain index in expand; unique index and check after the backfill)", got)
	}
}
