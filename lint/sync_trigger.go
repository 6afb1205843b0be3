package lint

// The trigger that keeps a shadow column in step with the column it
// replaces (R4, R5). The planner's steps and lint's fixes both build it
// from here, so a finding's fix and `migrate plan` name the same objects
// and run the same SQL.

// SyncFunctionName names the trigger function copying col of table rel.
func SyncFunctionName(rel, col string) string {
	return FitName(ReservedPrefix + "sync_" + rel + "_" + col)
}

// SyncTriggerName names the trigger itself. Row triggers fire in the byte
// order of their names: starting with "~" the copy fires after the
// application's BEFORE triggers (which may still change the old column, a
// set_updated_at for one) and copies the value the row is written with.
func SyncTriggerName(rel, col string) string {
	return FitName("~" + SyncFunctionName(rel, col))
}

// CopyBody is a one-way copy: newCol takes value (an expression over NEW).
func CopyBody(newCol, value string) string {
	return "  NEW." + QuoteIdent(newCol) + " := " + value + ";\n"
}

// TwoWayBody keeps old and nc equal whichever one a writer changed, so
// neither old code writing old nor new code writing nc loses its update
// to the copy running the other way. byText compares the text of the
// values, for types without an equality operator (json).
func TwoWayBody(old, nc string, byText bool) string {
	cmp := func(rec, col string) string {
		if byText {
			return rec + "." + QuoteIdent(col) + "::text"
		}
		return rec + "." + QuoteIdent(col)
	}
	o, n := QuoteIdent(old), QuoteIdent(nc)
	return "  IF TG_OP = 'INSERT' THEN\n" +
		"    IF NEW." + n + " IS NULL THEN\n      NEW." + n + " := NEW." + o + ";\n" +
		"    ELSE\n      NEW." + o + " := NEW." + n + ";\n    END IF;\n" +
		"  ELSIF " + cmp("NEW", nc) + " IS DISTINCT FROM " + cmp("OLD", nc) + " THEN\n" +
		"    NEW." + o + " := NEW." + n + ";\n" +
		"  ELSIF " + cmp("NEW", old) + " IS DISTINCT FROM " + cmp("OLD", old) + " THEN\n" +
		"    NEW." + n + " := NEW." + o + ";\n" +
		"  END IF;\n"
}

// SyncTrigger is the SQL of one sync trigger, without trailing semicolons.
type SyncTrigger struct {
	Function, Trigger string // CREATE OR REPLACE FUNCTION ...; CREATE TRIGGER ...
	DropTrigger       string
	DropFunction      string
}

// NewSyncTrigger renders the trigger on table (qualified) for column col
// with the given body. pgVersion picks EXECUTE FUNCTION (11+) or PROCEDURE.
func NewSyncTrigger(table, col, body string, pgVersion int) SyncTrigger {
	rel := baseName(table)
	fn := QuoteQualified(schemaOf(table) + "." + SyncFunctionName(rel, col))
	trg := QuoteIdent(SyncTriggerName(rel, col))
	return SyncTrigger{
		Function: "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $migrate$\nBEGIN\n" + body +
			"  RETURN NEW;\nEND\n$migrate$",
		Trigger:      "CREATE TRIGGER " + trg + " BEFORE INSERT OR UPDATE ON " + QuoteQualified(table) + " FOR EACH ROW " + triggerExec(pgVersion) + " " + fn + "()",
		DropTrigger:  "DROP TRIGGER " + trg + " ON " + QuoteQualified(table),
		DropFunction: "DROP FUNCTION " + fn + "()",
	}
}
