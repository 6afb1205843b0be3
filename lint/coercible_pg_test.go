package lint

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/migrate-tool/migrate/integration/pgtest"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// typePair is one ALTER COLUMN ... TYPE tried on the server: a table whose
// column c has type from and the rows good (all of which must convert),
// then, for each value of bad, a table with the good rows and that one row,
// on which the ALTER must fail and the classifier's predicate must find
// exactly that row.
type typePair struct {
	from, to string
	using    string // USING expression over c; "" for none
	tz       string // session TimeZone; "" for Europe/Paris
	good     []string
	bad      []string
}

// The user types of the server schema, and the same in the lint model.
const typePairTypes = `
CREATE DOMAIN label AS text;
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE DOMAIN short AS varchar(10);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('happy', 'sad');`

func typePairSchema() *Schema {
	s := NewSchema()
	s.Types["public.label"] = &Type{Name: "public.label", Kind: "domain", Base: tn("text")}
	s.Types["public.email"] = &Type{Name: "public.email", Kind: "domain", HasCheck: true, Base: tn("text")}
	s.Types["public.short"] = &Type{Name: "public.short", Kind: "domain", Base: tn("varchar", 10)}
	s.Types["public.posint"] = &Type{Name: "public.posint", Kind: "domain", HasCheck: true, Base: tn("int4")}
	s.Types["public.mood"] = &Type{Name: "public.mood", Kind: "enum"}
	return s
}

var typePairs = []typePair{
	// Integers, both ways.
	{from: "smallint", to: "int", good: []string{"0", "-32768", "32767"}},
	{from: "smallint", to: "bigint", good: []string{"-32768"}},
	{from: "int", to: "bigint", good: []string{"2147483647"}},
	{from: "bigint", to: "int", good: []string{"0", "2147483647", "-2147483648"}, bad: []string{"2147483648", "-2147483649"}},
	{from: "bigint", to: "smallint", good: []string{"32767", "-32768"}, bad: []string{"32768", "-9223372036854775808"}},
	{from: "int", to: "smallint", good: []string{"32767", "-32768"}, bad: []string{"32768", "-32769"}},
	{from: "int", to: "int", good: []string{"1"}},
	{from: "serial", to: "int", good: []string{"1"}},
	{from: "int", to: "numeric", good: []string{"2147483647"}},
	{from: "int", to: "numeric(5)", good: []string{"99999", "-99999"}, bad: []string{"100000", "-2147483648"}},
	{from: "int", to: "numeric(12,2)", good: []string{"2147483647"}},
	{from: "bigint", to: "numeric(10,2)", good: []string{"99999999"}, bad: []string{"100000000"}},
	{from: "int", to: "real", good: []string{"2147483647"}},
	{from: "bigint", to: "double precision", good: []string{"9223372036854775807"}},
	{from: "int", to: "text", good: []string{"-2147483648"}},
	{from: "int", to: "varchar(20)", good: []string{"-2147483648"}},
	{from: "int", to: "varchar(3)", good: []string{"123", "-12"}, bad: []string{"1234", "-123"}},
	{from: "int", to: "boolean", good: []string{"1"}},
	{from: "boolean", to: "int", good: []string{"true"}},
	{from: "boolean", to: "text", good: []string{"false"}},
	{from: "boolean", to: "varchar(4)", good: []string{"true"}, bad: []string{"false"}},
	// Numeric precision and scale.
	{from: "numeric", to: "numeric", good: []string{"1.5"}},
	{from: "numeric(5)", to: "numeric", good: []string{"99999"}},
	{from: "numeric(10,2)", to: "numeric(12,2)", good: []string{"99999999.99"}},
	{from: "numeric(10,2)", to: "numeric", good: []string{"99999999.99"}},
	{from: "numeric(10,2)", to: "numeric(8,2)", good: []string{"999999.99", "-999999.99", "'NaN'"}, bad: []string{"1000000", "-1000000.5"}},
	{from: "numeric(10,2)", to: "numeric(12,3)", good: []string{"99999999.99"}},
	{from: "numeric(10,2)", to: "numeric(10,3)", good: []string{"9999999.99"}, bad: []string{"10000000"}},
	{from: "numeric(10,2)", to: "numeric(10,1)", good: []string{"99999999.99"}},
	{from: "numeric(10,2)", to: "numeric(9,1)", good: []string{"99999999.94"}, bad: []string{"99999999.95"}},
	{from: "numeric(4,2)", to: "numeric(3,1)", good: []string{"99.94"}, bad: []string{"99.95"}},
	{from: "numeric(4,2)", to: "numeric(4,1)", good: []string{"99.99"}},
	{from: "numeric(4,2)", to: "numeric(5,1)", good: []string{"99.99"}},
	{from: "numeric(6,2)", to: "bigint", good: []string{"9999.99"}},
	{from: "numeric", to: "numeric(5,2)", good: []string{"999.99", "999.994", "'NaN'", "-999.994"}, bad: []string{"999.995", "1000", "'Infinity'", "'-Infinity'"}},
	{from: "numeric", to: "int", good: []string{"2147483647.4", "-2147483648.4", "'1.5'"}, bad: []string{"2147483647.5", "-2147483648.5", "'NaN'", "'Infinity'"}},
	{from: "numeric(10,2)", to: "int", good: []string{"99999999.99"}},
	{from: "numeric(12,2)", to: "int", good: []string{"2147483647.49"}, bad: []string{"9999999999.99"}},
	{from: "numeric", to: "bigint", good: []string{"9223372036854775807.4"}, bad: []string{"9223372036854775807.5"}},
	{from: "double precision", to: "int", good: []string{"2147483647.4", "-2147483648.4", "2.5"}, bad: []string{"2147483647.6", "'NaN'", "'Infinity'"}},
	{from: "real", to: "smallint", good: []string{"32767.4"}, bad: []string{"32767.6"}},
	{from: "double precision", to: "real", good: []string{"1.5"}, bad: []string{"1e300", "1e-300"}},
	{from: "real", to: "double precision", good: []string{"1.5"}},
	{from: "double precision", to: "numeric", good: []string{"1.5", "'Infinity'", "'NaN'"}},
	{from: "double precision", to: "numeric(5,2)", good: []string{"999.99", "'NaN'"}, bad: []string{"1000", "'Infinity'"}},
	// Strings: varchar, text, bpchar lengths both ways.
	{from: "varchar(10)", to: "varchar(20)", good: []string{"'abcdefghij'"}},
	{from: "varchar(10)", to: "varchar(10)", good: []string{"'abc'"}},
	{from: "varchar(10)", to: "varchar", good: []string{"'abc'"}},
	{from: "varchar(10)", to: "text", good: []string{"'abc'"}},
	{from: "varchar", to: "text", good: []string{"'abc'"}},
	{from: "text", to: "varchar", good: []string{"'abc'"}},
	{from: "varchar(20)", to: "varchar(5)", good: []string{"'abcde'", "'abc      '", "'abcde  '"}, bad: []string{"'abcdef'", "'abcde f'"}},
	{from: "varchar", to: "varchar(5)", good: []string{"'abcde'"}, bad: []string{"'abcdef'"}},
	{from: "text", to: "varchar(5)", good: []string{"'abcde'", "'ab    '", "''"}, bad: []string{"'abcdef'", "' abcdef'"}},
	{from: "text", to: "varchar(255)", good: []string{"'abc'"}, bad: []string{"repeat('x', 256)"}},
	{from: "varchar(200)", to: "varchar(20)", good: []string{"repeat('y', 20)"}, bad: []string{"repeat('y', 21)"}},
	{from: "char(5)", to: "char(10)", good: []string{"'abcde'"}},
	{from: "char(10)", to: "char(5)", good: []string{"'abc'", "'abcde'"}, bad: []string{"'abcdefg'"}},
	{from: "char(5)", to: "text", good: []string{"'ab'"}},
	{from: "char(5)", to: "varchar", good: []string{"'ab'"}},
	{from: "char(5)", to: "varchar(3)", good: []string{"'abc'"}, bad: []string{"'abcd'"}},
	{from: "varchar(5)", to: "char(10)", good: []string{"'ab'"}},
	{from: "text", to: "char(3)", good: []string{"'ab'", "'abc '"}, bad: []string{"'abcd'"}},
	{from: "text", to: "char", good: []string{"'a'"}, bad: []string{"'ab'"}},
	{from: "text", to: "int", good: []string{"'42'"}},
	{from: "varchar(10)", to: "bigint", good: []string{"'42'"}},
	{from: "text", to: "date", good: []string{"'2020-01-01'"}},
	{from: "text", to: "jsonb", good: []string{"'{}'"}},
	{from: "text", to: "boolean", good: []string{"'t'"}},
	// USING: a plain cast cuts strings where the assignment cast fails.
	{from: "text", to: "varchar(3)", using: "c::varchar(3)", good: []string{"'abcdef'"}},
	{from: "varchar(10)", to: "varchar(20)", using: "c::varchar(20)", good: []string{"'abc'"}},
	{from: "varchar(10)", to: "varchar(20)", using: "c", good: []string{"'abc'"}},
	{from: "varchar(10)", to: "varchar(20)", using: "upper(c)", good: []string{"'abc'"}},
	{from: "text", to: "int", using: "c::int", good: []string{"'42'"}, bad: []string{"'x'"}},
	{from: "bigint", to: "int", using: "c::int", good: []string{"1"}, bad: []string{"2147483648"}},
	// Bit strings.
	{from: "bit(3)", to: "bit(5)", good: []string{"NULL"}, bad: []string{"B'101'"}},
	{from: "bit(5)", to: "bit(3)", good: []string{"NULL"}, bad: []string{"B'10101'"}},
	{from: "bit(3)", to: "varbit", good: []string{"B'101'"}},
	{from: "bit(3)", to: "varbit(5)", good: []string{"B'101'"}},
	{from: "bit(3)", to: "varbit(2)", good: []string{"NULL"}, bad: []string{"B'101'"}},
	{from: "varbit(5)", to: "varbit(8)", good: []string{"B'10101'"}},
	{from: "varbit(5)", to: "varbit", good: []string{"B'10101'"}},
	{from: "varbit(5)", to: "varbit(3)", good: []string{"B'101'", "B''"}, bad: []string{"B'1011'"}},
	{from: "varbit", to: "bit(3)", good: []string{"B'101'"}, bad: []string{"B'10'", "B'1011'"}},
	{from: "bit(3)", to: "text", good: []string{"B'101'"}},
	{from: "int", to: "bit(32)", good: []string{"1"}},
	// Time types and precisions.
	{from: "time(2)", to: "time(4)", good: []string{"'10:00:00.12'"}},
	{from: "time(4)", to: "time(2)", good: []string{"'10:00:00.1234'"}},
	{from: "time", to: "time(6)", good: []string{"'10:00'"}},
	{from: "timetz(2)", to: "timetz(4)", good: []string{"'10:00:00.12+02'"}},
	{from: "timetz(4)", to: "timetz(2)", good: []string{"'10:00:00.1234+02'"}},
	{from: "timetz", to: "timetz(3)", good: []string{"'10:00+02'"}},
	{from: "timestamp(3)", to: "timestamp", good: []string{"'2020-01-01 10:00:00.123'"}},
	{from: "timestamp(3)", to: "timestamp(6)", good: []string{"'2020-01-01 10:00:00.123'"}},
	{from: "timestamp", to: "timestamp(3)", good: []string{"'2020-01-01 10:00:00.123456'"}},
	{from: "timestamp", to: "timestamp(0)", good: []string{"'2020-01-01 10:00:00.5'"}},
	{from: "timestamptz(3)", to: "timestamptz", good: []string{"'2020-01-01 10:00:00.123+00'"}},
	{from: "timestamptz", to: "timestamptz(0)", good: []string{"'2020-01-01 10:00:00.5+00'"}},
	{from: "interval(3)", to: "interval", good: []string{"'1 day 00:00:01.123'"}},
	{from: "interval(3)", to: "interval(5)", good: []string{"'1 day'"}},
	{from: "interval", to: "interval(3)", good: []string{"'1 day'"}},
	{from: "interval day", to: "interval", good: []string{"'1 day'"}},
	{from: "interval", to: "interval day", good: []string{"'1 day'"}},
	{from: "interval hour to minute", to: "interval hour to second", good: []string{"'1 hour'"}},
	{from: "interval hour to second", to: "interval hour to minute", good: []string{"'1 hour'"}},
	{from: "interval day to second(2)", to: "interval second(4)", good: []string{"'1 hour'"}},
	{from: "interval minute to second(4)", to: "interval second(2)", good: []string{"'1 hour'"}},
	{from: "interval year", to: "interval year to month", good: []string{"'1 year'"}},
	{from: "interval day", to: "interval minute", good: []string{"'1 day'"}},
	{from: "time", to: "timetz", good: []string{"'10:00'"}},
	{from: "timetz", to: "time", good: []string{"'10:00+02'"}},
	{from: "time", to: "interval", good: []string{"'10:00'"}},
	{from: "interval", to: "time", good: []string{"'10:00'"}},
	{from: "date", to: "timestamp", good: []string{"'2020-01-01'", "'infinity'"}},
	{from: "date", to: "timestamptz", good: []string{"'2020-01-01'"}},
	{from: "timestamp", to: "date", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamptz", to: "date", good: []string{"'2020-01-01 10:00+00'"}},
	{from: "date", to: "int", good: []string{"'2020-01-01'"}},
	// timestamp <-> timestamptz: the session TimeZone decides.
	{from: "timestamp", to: "timestamptz", tz: "UTC", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "Europe/Paris", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "Etc/UTC", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "America/New_York", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "Europe/London", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "GMT", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz", tz: "Zulu", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamptz", to: "timestamp", tz: "Etc/Universal", good: []string{"'2020-01-01 10:00+00'"}},
	{from: "timestamptz", to: "timestamp", tz: "UTC", good: []string{"'2020-01-01 10:00+00'"}},
	{from: "timestamptz", to: "timestamp", tz: "Asia/Tokyo", good: []string{"'2020-01-01 10:00+00'"}},
	{from: "timestamp(3)", to: "timestamptz", tz: "UTC", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp(3)", to: "timestamptz(1)", tz: "UTC", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamp", to: "timestamptz(3)", tz: "UTC", good: []string{"'2020-01-01 10:00'"}},
	{from: "timestamptz(2)", to: "timestamp(4)", tz: "UTC", good: []string{"'2020-01-01 10:00+00'"}},
	// Network, json, uuid.
	{from: "cidr", to: "inet", good: []string{"'10.0.0.0/8'"}},
	{from: "inet", to: "cidr", good: []string{"'10.0.0.1/8'"}},
	{from: "json", to: "jsonb", good: []string{"'{\"a\": 1}'", `'"\\u0000x"'`}, bad: []string{`'"\u0000"'`}},
	{from: "jsonb", to: "json", good: []string{"'{}'"}},
	{from: "jsonb", to: "int", good: []string{"'1'"}},
	{from: "uuid", to: "text", good: []string{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}},
	{from: "uuid", to: "varchar(36)", good: []string{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}},
	{from: "uuid", to: "varchar(10)", good: []string{"NULL"}, bad: []string{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}},
	{from: "text", to: "uuid", good: []string{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}},
	{from: "uuid", to: "int", good: []string{"NULL"}},
	// Domains with and without CHECK, enums.
	{from: "text", to: "label", good: []string{"'x'"}},
	{from: "label", to: "text", good: []string{"'x'"}},
	{from: "text", to: "email", good: []string{"'a@b'"}, bad: []string{"'nope'"}},
	{from: "email", to: "text", good: []string{"'a@b'"}},
	{from: "varchar(10)", to: "short", good: []string{"'abc'"}},
	{from: "varchar(5)", to: "short", good: []string{"'abc'"}},
	{from: "text", to: "short", good: []string{"'abcdefghij'"}, bad: []string{"'abcdefghijk'"}},
	{from: "short", to: "varchar(5)", good: []string{"'abc'"}, bad: []string{"'abcdef'"}},
	{from: "int", to: "posint", good: []string{"1"}, bad: []string{"0"}},
	{from: "posint", to: "bigint", good: []string{"1"}},
	{from: "mood", to: "text", good: []string{"'happy'"}},
	{from: "mood", to: "varchar(3)", good: []string{"'sad'"}, bad: []string{"'happy'"}},
	{from: "text", to: "mood", good: []string{"'sad'"}},
	{from: "mood", to: "int", good: []string{"'sad'"}},
	// Arrays.
	{from: "int[]", to: "bigint[]", good: []string{"'{1}'"}},
	{from: "bigint[]", to: "int[]", good: []string{"'{1}'"}, bad: []string{"'{1,5000000000}'"}},
	{from: "varchar(10)[]", to: "text[]", good: []string{"'{a}'"}},
	{from: "varchar(10)[]", to: "varchar(20)[]", good: []string{"'{a}'"}},
	{from: "text[]", to: "varchar[]", good: []string{"'{a}'"}},
	{from: "int[]", to: "text", good: []string{"'{1}'"}},
	{from: "int", to: "int[]", good: []string{"1"}},
	{from: "text", to: "text[]", good: []string{"'{a}'"}},
	{from: "int[]", to: "int[]", good: []string{"'{1}'"}},
}

// TestTypeChangeVerdictsOnServer runs every pair on PostgreSQL and checks
// the classifier against what the server did: whether the table was
// rewritten (its relfilenode changed), whether the ALTER failed, and
// whether the misfit predicate finds exactly the rows that make it fail.
func TestTypeChangeVerdictsOnServer(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{NoStandby: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.Primary.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	sch := fmt.Sprintf("typechange_%d", os.Getpid())
	mustExec(t, conn, "DROP SCHEMA IF EXISTS "+sch+" CASCADE; CREATE SCHEMA "+sch+"; SET search_path = "+sch+", pg_catalog;"+typePairTypes)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+sch+" CASCADE") })
	pgVersion := 0
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int / 10000").Scan(&pgVersion); err != nil {
		t.Fatal(err)
	}
	model := typePairSchema()
	for i, p := range typePairs {
		p := p
		name := fmt.Sprintf("%s->%s", p.from, p.to)
		if p.using != "" {
			name += " using " + p.using
		}
		if p.tz != "" {
			name += " tz " + p.tz
		}
		t.Run(name, func(t *testing.T) {
			tz := p.tz
			if tz == "" {
				tz = "Europe/Paris"
			}
			v := ClassifyTypeChange(model, "c", parseType(t, p.from), parseType(t, p.to), parseUsing(t, p.using), pgVersion)
			if len(p.bad) > 0 && !v.MayFail {
				t.Errorf("verdict %v says the change cannot fail, but the case lists values that do not fit", v.Kind)
			}
			table := fmt.Sprintf("t%03d", i)
			rewrote, err := tryTypeChange(ctx, t, conn, table, p, tz, nil)
			switch v.Kind {
			case TypeChangeNoAutoCast:
				if err == nil || !strings.Contains(err.Error(), "cannot be cast automatically") {
					t.Errorf("classified %v, but the server said %v", v.Kind, err)
				}
				return
			case TypeChangeCatalogOnly:
				if err != nil || rewrote {
					t.Errorf("classified %v, but the server rewrote=%v err=%v", v.Kind, rewrote, err)
				}
			case TypeChangeCatalogOnlyIfUTC:
				if err != nil || rewrote != !TimeZoneIsUTC(tz) {
					t.Errorf("classified %v under TimeZone %s, but the server rewrote=%v err=%v", v.Kind, tz, rewrote, err)
				}
			case TypeChangeRewrite:
				if err != nil || !rewrote {
					t.Errorf("classified %v, but the server rewrote=%v err=%v", v.Kind, rewrote, err)
				}
			}
			misfit := v.Misfit("c")
			if misfit != "" {
				if n := countWhere(ctx, t, conn, table+"_good", misfit); n != 0 {
					t.Errorf("predicate %s finds %d of the rows that fit", misfit, n)
				}
				if err := execFitCheck(ctx, conn, table+"_good", misfit, p.to); err != nil {
					t.Errorf("fit check fails on rows that fit: %v", err)
				}
			}
			if v.CastCheck() {
				if err := execCastCheck(ctx, conn, table+"_good", p.to); err != nil {
					t.Errorf("cast check fails on rows that fit: %v", err)
				}
			}
			for j, bad := range p.bad {
				bt := fmt.Sprintf("%s_bad%d", table, j)
				_, err := tryTypeChange(ctx, t, conn, bt, p, tz, &bad)
				if err == nil {
					t.Errorf("ALTER succeeded with the row %s that the case says does not fit", bad)
				}
				if v.CastCheck() {
					if err := execCastCheck(ctx, conn, bt, p.to); err == nil || !strings.Contains(err.Error(), "migrate: ") || !strings.Contains(err.Error(), "key 1000") {
						t.Errorf("cast check on the row %s: got %v, want a migrate: error naming key 1000", bad, err)
					}
				}
				if misfit == "" {
					if !v.CastCheck() {
						t.Logf("no check before the change for the row %s", bad)
					}
					continue
				}
				if n := countWhere(ctx, t, conn, bt, misfit+" AND k = 1000"); n != 1 || countWhere(ctx, t, conn, bt, misfit) != 1 {
					t.Errorf("predicate %s does not find exactly the row %s", misfit, bad)
				}
				if err := execFitCheck(ctx, conn, bt, misfit, p.to); err == nil || !strings.Contains(err.Error(), "migrate: ") || !strings.Contains(err.Error(), "key 1000") {
					t.Errorf("fit check on the row %s: got %v, want a migrate: error naming key 1000", bad, err)
				}
			}
		})
	}
}

// tryTypeChange creates table with the case's good rows (keys 1...) and,
// when bad is given, that row under key 1000, then runs the ALTER under
// TimeZone tz. It reports whether the relfilenode changed and the ALTER's
// error. A table without a bad row is kept as table_good for the checks.
func tryTypeChange(ctx context.Context, t *testing.T, conn *pgx.Conn, table string, p typePair, tz string, bad *string) (bool, error) {
	t.Helper()
	if bad == nil {
		table += "_good"
	}
	rows := make([]string, 0, len(p.good)+1)
	for k, g := range p.good {
		rows = append(rows, fmt.Sprintf("(%d, %s)", k+1, g))
	}
	if bad != nil {
		rows = append(rows, "(1000, "+*bad+")")
	}
	mustExec(t, conn, "CREATE TABLE "+table+" (k int PRIMARY KEY, c "+p.from+"); INSERT INTO "+table+" VALUES "+strings.Join(rows, ", "))
	if bad == nil {
		// The good copy stays for the predicate; the ALTER runs on a twin.
		mustExec(t, conn, "CREATE TABLE "+table+"_alter (LIKE "+table+" INCLUDING ALL); INSERT INTO "+table+"_alter SELECT * FROM "+table)
		table += "_alter"
	}
	var before, after uint32
	if err := conn.QueryRow(ctx, "SELECT pg_relation_filenode($1::regclass)", table).Scan(&before); err != nil {
		t.Fatal(err)
	}
	stmt := "ALTER TABLE " + table + " ALTER COLUMN c TYPE " + p.to
	if p.using != "" {
		stmt += " USING " + p.using
	}
	mustExec(t, conn, "SET TimeZone = '"+tz+"'")
	_, err := conn.Exec(ctx, stmt)
	mustExec(t, conn, "RESET TimeZone")
	if err != nil {
		return false, err
	}
	if err := conn.QueryRow(ctx, "SELECT pg_relation_filenode($1::regclass)", table).Scan(&after); err != nil {
		t.Fatal(err)
	}
	return before != after, nil
}

func execFitCheck(ctx context.Context, conn *pgx.Conn, table, misfit, toSQL string) error {
	_, err := conn.Exec(ctx, FitCheckSQL(table, []string{"k"}, "c", toSQL, misfit))
	return err
}

func execCastCheck(ctx context.Context, conn *pgx.Conn, table, to string) error {
	tree, err := pg_query.Parse("CREATE TABLE x (c " + to + ")")
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, CastCheckSQL(table, []string{"k"}, "c", tree.Stmts[0].Stmt.GetCreateStmt().TableElts[0].GetColumnDef().TypeName))
	return err
}

func countWhere(ctx context.Context, t *testing.T, conn *pgx.Conn, table, pred string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+pred).Scan(&n); err != nil {
		t.Fatalf("predicate %s: %v", pred, err)
	}
	return n
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func parseType(t *testing.T, typ string) TypeName {
	t.Helper()
	tree, err := pg_query.Parse("CREATE TABLE x (c " + typ + ")")
	if err != nil {
		t.Fatal(err)
	}
	cd := tree.Stmts[0].Stmt.GetCreateStmt().TableElts[0].GetColumnDef()
	return TypeNameOf(cd.TypeName)
}

func parseUsing(t *testing.T, expr string) *pg_query.Node {
	t.Helper()
	if expr == "" {
		return nil
	}
	tree, err := pg_query.Parse("SELECT " + expr)
	if err != nil {
		t.Fatal(err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().TargetList[0].GetResTarget().Val
}
