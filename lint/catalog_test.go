package lint

import "testing"

// The planner reads the catalog through the same reader, so this is its
// test of not-null checks too.
func TestNotNullOfDef(t *testing.T) {
	for def, want := range map[string]string{
		`CHECK ((email IS NOT NULL))`:           "email",
		`CHECK (("Email ""x""" IS NOT NULL))`:   `Email "x"`,
		`CHECK ((email IS NOT NULL)) NOT VALID`: "email",
		`CHECK ((a > 0))`:                       "",
		`CHECK (((a IS NOT NULL) AND (b > 0)))`: "",
	} {
		if got := notNullOfDef(def); got != want {
			t.Errorf("notNullOfDef(%q) = %q, want %q", def, got, want)
		}
	}
}

// A type read from the catalog renders as SQL PostgreSQL accepts: the
// planner's undo and shadow columns are written from it.
func TestIntervalTypeSQL(t *testing.T) {
	for typmod, want := range map[int32]string{
		2147418115: "interval(3)", // the atttypmods PostgreSQL 15 stores for these types
		402653186:  "interval minute to second(2)",
		458751:     "interval year to month",
		589823:     "interval day",
		469827583:  "interval hour to second",
		-1:         "interval",
	} {
		if got := CatalogTypeName("pg_catalog", "interval", typmod, false).String(); got != want {
			t.Errorf("atttypmod %d: %s, want %s", typmod, got, want)
		}
	}
	for _, sql := range []string{"interval(3)", "interval minute to second(2)", "interval day"} {
		if got := parseType(t, sql).String(); got != sql {
			t.Errorf("%s from SQL: %s", sql, got)
		}
	}
}
