package lint

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// The type-change verdict of locks.md §1.10, the one place lint and the
// planner learn what ALTER COLUMN ... TYPE does. PostgreSQL skips the table
// rewrite only when the conversion is a relabel or a length coercion that a
// type's support function proves to be a no-op; everything else rewrites
// the table and rebuilds its indexes, converting every value on the way,
// and the first value that does not fit the new type aborts the statement.
// Every verdict below was checked on a real server (coercible_pg_test.go).
// The lists are allow-lists: an unknown pair counts as a rewrite.

// TypeChangeKind says what ALTER COLUMN ... TYPE does to the table.
type TypeChangeKind int

const (
	// TypeChangeRewrite: the table and every index are rewritten.
	TypeChangeRewrite TypeChangeKind = iota
	// TypeChangeCatalogOnly: binary-coercible, no rewrite (but CHECK
	// constraints on the column are re-checked with a scan).
	TypeChangeCatalogOnly
	// TypeChangeCatalogOnlyIfUTC: timestamp <-> timestamptz, which
	// PostgreSQL 12+ does without a rewrite only when the session TimeZone
	// is UTC; under any other zone it rewrites, converting in that zone.
	TypeChangeCatalogOnlyIfUTC
	// TypeChangeNoAutoCast: there is no assignment cast between the types,
	// so the statement fails as written ("cannot be cast automatically")
	// and needs a USING clause.
	TypeChangeNoAutoCast
)

func (k TypeChangeKind) String() string {
	switch k {
	case TypeChangeCatalogOnly:
		return "catalog-only"
	case TypeChangeCatalogOnlyIfUTC:
		return "catalog-only-if-utc"
	case TypeChangeNoAutoCast:
		return "no-automatic-cast"
	}
	return "rewrite"
}

// TypeChangeVerdict is the classifier's answer for one column.
type TypeChangeVerdict struct {
	Kind TypeChangeKind
	// MayFail: converting an existing value can fail (a narrowing), and
	// then the whole statement fails after its scan or rewrite.
	MayFail bool
	// Computed: a USING expression computes each new value.
	Computed bool
	// From and To are the types compared (serial names resolved).
	From, To TypeName
	// misfit builds a predicate over the column that is true exactly for
	// the values the conversion rejects; nil when there is none that is
	// exact (MayFail can still be set).
	misfit func(col string) string
	// castExact: an explicit cast to the new type converts exactly as the
	// statement does, so casting every value finds one that does not fit.
	castExact bool
}

// CastCheck reports whether a change that may fail, but has no Misfit
// predicate, can be checked by casting every existing value explicitly
// (CastCheckSQL): true unless the new type cuts values to a length under an
// explicit cast (varchar, char, bit, varbit, or a domain or array of them).
func (v TypeChangeVerdict) CastCheck() bool { return v.castExact }

// Misfit returns a predicate, over col (the column's SQL, quoted), that a
// row whose value the conversion would reject satisfies, or "" when the
// classifier knows no exact predicate. NULL never fails a conversion.
func (v TypeChangeVerdict) Misfit(col string) string {
	if v.misfit == nil {
		return ""
	}
	return v.misfit(col)
}

// Rewrites reports whether the change rewrites the table whatever the
// session's TimeZone (a change that fails as written rewrites nothing).
func (v TypeChangeVerdict) Rewrites() bool { return v.Kind == TypeChangeRewrite }

// Typmod limits of the temporal types: a precision at or above the limit
// is the same as no precision.
const (
	maxTemporalPrecision = 6
	intervalFullRange    = 0x7FFF
)

// ClassifyTypeChange says what `ALTER COLUMN col TYPE to [USING using]`
// does to a column of type from. s resolves domains and enums (may be nil);
// pgVersion gates the timestamp/timestamptz relabel (0: current).
func ClassifyTypeChange(s *Schema, col string, from, to TypeName, using *pg_query.Node, pgVersion int) TypeChangeVerdict {
	v := classifyTypes(s, serialBase(from), serialBase(to), pgVersion)
	cutsToLength := isLengthType(baseElem(s, serialBase(to)))
	if using == nil || usingIsColumn(using, col) {
		// The conversion is the assignment cast the classifier knows.
		v.castExact = v.MayFail && v.misfit == nil && v.Kind == TypeChangeRewrite && !cutsToLength
		return v
	}
	if usingIsCast(using, col, to) {
		// An explicit cast converts like the assignment cast except that it
		// cuts strings and bit strings to length instead of failing, and it
		// exists for pairs (text -> integer) that have no assignment cast.
		v.misfit = nil
		if v.Kind == TypeChangeNoAutoCast {
			v.Kind, v.MayFail = TypeChangeRewrite, true
		}
		if isLengthType(to) {
			v.MayFail = false
		}
		v.castExact = v.MayFail && !cutsToLength
		return v
	}
	// Anything else is computed per row: a rewrite that fails or not
	// depending on the expression.
	return TypeChangeVerdict{Kind: TypeChangeRewrite, Computed: true, From: v.From, To: v.To}
}

func classifyTypes(s *Schema, from, to TypeName, pgVersion int) TypeChangeVerdict {
	if d := domainOf(s, to); d != nil {
		v := classifyTypes(s, from, d.Base, pgVersion)
		v.To = to
		if d.HasCheck && v.Kind != TypeChangeNoAutoCast {
			// Converting into a domain with constraints runs them on every
			// row; PostgreSQL rewrites, and a row that fails stops it.
			v.Kind, v.MayFail, v.misfit = TypeChangeRewrite, true, nil
		}
		return v
	}
	if d := domainOf(s, from); d != nil {
		v := classifyTypes(s, d.Base, to, pgVersion) // a domain relabels to its base type
		v.From = from
		return v
	}
	v := TypeChangeVerdict{Kind: TypeChangeRewrite, From: from, To: to}
	switch {
	case sameType(s, from, to):
		v.Kind = TypeChangeCatalogOnly
	case from.Array || to.Array:
		classifyArray(s, &v, pgVersion)
	case isString(to):
		classifyToString(s, &v)
	case isEnum(s, from) || isEnum(s, to) || isString(from):
		// Strings and enums convert to other types only by an explicit cast.
		if builtinTypes[to.Name] || isEnum(s, to) {
			v.Kind = TypeChangeNoAutoCast
		}
	case from.Name == to.Name:
		classifyTypmod(&v)
	case from.Name == "timestamp" && to.Name == "timestamptz", from.Name == "timestamptz" && to.Name == "timestamp":
		// The conversion's result has no typmod, so a target precision
		// below 6 rounds (a rewrite) whatever the source's precision.
		if (pgVersion == 0 || pgVersion >= 12) && (len(to.Mods) == 0 || to.Mods[0] >= maxTemporalPrecision) {
			v.Kind = TypeChangeCatalogOnlyIfUTC
		}
	default:
		classifyCast(&v)
	}
	return v
}

// classifyArray: arrays convert element by element (ArrayCoerceExpr), which
// PostgreSQL always treats as a rewrite, even for varchar[] -> text[].
func classifyArray(s *Schema, v *TypeChangeVerdict, pgVersion int) {
	from, to := v.From, v.To
	switch {
	case isString(to):
		classifyToString(s, v) // by the array's output function
	case from.Array && to.Array:
		from.Array, to.Array = false, false
		elem := classifyTypes(s, from, to, pgVersion)
		if elem.Kind == TypeChangeNoAutoCast {
			v.Kind = TypeChangeNoAutoCast
		}
		v.MayFail = elem.MayFail
	default:
		// array <-> scalar: no cast but the automatic one to a string type.
		v.Kind = TypeChangeNoAutoCast
	}
}

// classifyToString: every type converts to a string type on assignment,
// through its output function; between varchar and text it is a relabel.
func classifyToString(s *Schema, v *TypeChangeVerdict) {
	from, to := v.From, v.To
	fromVarlen := !from.Array && (from.Name == "varchar" || from.Name == "text")
	switch {
	case fromVarlen && to.Name == "text":
		v.Kind = TypeChangeCatalogOnly
	case fromVarlen && to.Name == "varchar" && (len(to.Mods) == 0 ||
		from.Name == "varchar" && len(from.Mods) > 0 && to.Mods[0] >= from.Mods[0]):
		v.Kind = TypeChangeCatalogOnly
	}
	if v.Kind == TypeChangeCatalogOnly || len(to.Mods) == 0 || to.Name == "text" {
		return
	}
	limit := int(to.Mods[0])
	if n, ok := maxTextLength(s, from); ok && n <= limit {
		return
	}
	// On assignment an over-long value fails unless the excess is spaces,
	// which are cut (the output of a bpchar has its padding removed).
	v.MayFail = true
	v.misfit = func(col string) string {
		return "char_length(rtrim(" + col + "::text, ' ')) > " + strconv.Itoa(limit)
	}
}

// maxTextLength is the longest text a value of t can have, when known.
func maxTextLength(s *Schema, t TypeName) (int, bool) {
	if t.Array {
		return 0, false
	}
	switch t.Name {
	case "varchar", "bpchar":
		if len(t.Mods) > 0 {
			return int(t.Mods[0]), true
		}
	case "int2":
		return len("-32768"), true
	case "int4":
		return len("-2147483648"), true
	case "int8":
		return len("-9223372036854775808"), true
	case "bool":
		return len("false"), true
	case "uuid":
		return 36, true
	}
	return 0, false
}

// classifyTypmod handles a change of a type's modifiers only.
func classifyTypmod(v *TypeChangeVerdict) {
	from, to := v.From, v.To
	switch from.Name {
	case "varbit":
		if len(to.Mods) == 0 || len(from.Mods) > 0 && to.Mods[0] >= from.Mods[0] {
			v.Kind = TypeChangeCatalogOnly
			return
		}
		bitsAtMost(v, int(to.Mods[0]))
	case "bit":
		// bit(n) has no support function: any length change rewrites, and
		// every value of another length fails ("does not match type bit").
		bitsExactly(v, bitLength(to))
	case "numeric":
		if numericWidens(from, to) {
			v.Kind = TypeChangeCatalogOnly
			return
		}
		numericFits(v)
	case "timestamp", "timestamptz", "time", "timetz":
		if temporalWidens(from, to) {
			v.Kind = TypeChangeCatalogOnly
		}
	case "interval":
		if intervalWidens(from, to) {
			v.Kind = TypeChangeCatalogOnly
		}
	}
}

func bitLength(t TypeName) int {
	if len(t.Mods) == 0 {
		return 1 // bit means bit(1)
	}
	return int(t.Mods[0])
}

func bitsAtMost(v *TypeChangeVerdict, n int) {
	v.MayFail = true
	v.misfit = func(col string) string { return "length(" + col + ") > " + strconv.Itoa(n) }
}

func bitsExactly(v *TypeChangeVerdict, n int) {
	v.MayFail = true
	v.misfit = func(col string) string { return "length(" + col + ") <> " + strconv.Itoa(n) }
}

// autoCasts are the assignment and implicit casts of pg_catalog between
// the non-string built-in types (pg_cast castcontext 'a' or 'i' on
// PostgreSQL 15). A pair of built-in types missing here has none.
var autoCasts = map[string]bool{}

func init() {
	for from, tos := range map[string]string{
		"bit": "varbit", "varbit": "bit", "cidr": "inet", "inet": "cidr",
		"date":   "timestamp timestamptz",
		"float4": "float8 int2 int4 int8 numeric", "float8": "float4 int2 int4 int8 numeric",
		"int2": "float4 float8 int4 int8 numeric oid", "int4": "float4 float8 int2 int8 money numeric oid",
		"int8": "float4 float8 int2 int4 money numeric oid", "numeric": "float4 float8 int2 int4 int8 money",
		"money": "numeric", "oid": "int4 int8", "interval": "time", "json": "jsonb", "jsonb": "json",
		"time": "interval timetz", "timetz": "time", "timestamp": "date time timestamptz",
		"timestamptz": "date time timestamp timetz",
	} {
		for _, to := range strings.Fields(tos) {
			autoCasts[from+">"+to] = true
		}
	}
}

// intRange is the range of each integer type, as SQL literals.
var intRange = map[string][2]string{
	"int2": {"-32768", "32767"},
	"int4": {"-2147483648", "2147483647"},
	"int8": {"-9223372036854775808", "9223372036854775807"},
}

// intDigits is how many decimal digits the integer types need.
var intDigits = map[string]int{"int2": 5, "int4": 10, "int8": 19}

// classifyCast handles a cast between two different non-string types.
func classifyCast(v *TypeChangeVerdict) {
	from, to := v.From, v.To
	if !autoCasts[from.Name+">"+to.Name] {
		if builtinTypes[from.Name] && builtinTypes[to.Name] {
			v.Kind = TypeChangeNoAutoCast
		}
		return
	}
	switch {
	case from.Name == "cidr" && to.Name == "inet":
		v.Kind = TypeChangeCatalogOnly
	case from.Name == "bit" && to.Name == "varbit":
		// A relabel; with a length, varbit's length check runs and
		// rewrites even when every value fits.
		if len(to.Mods) == 0 {
			v.Kind = TypeChangeCatalogOnly
		} else if int(to.Mods[0]) < bitLength(from) {
			bitsAtMost(v, int(to.Mods[0]))
		}
	case from.Name == "varbit" && to.Name == "bit":
		bitsExactly(v, bitLength(to))
	case intRange[to.Name] != [2]string{}:
		intFits(v)
	case to.Name == "numeric":
		numericFits(v)
	case from.Name == "json" && to.Name == "jsonb":
		// jsonb rejects what json stores verbatim: \u0000, lone surrogates.
		v.MayFail = true
	case to.Name == "float4" && from.Name != "int2" && from.Name != "int4" && from.Name != "int8",
		to.Name == "float8" && from.Name == "numeric",
		to.Name == "money", from.Name == "oid", to.Name == "oid":
		// Overflow and underflow at the edges of the float range (and the
		// like for money and oid): no exact predicate is worth its risk.
		v.MayFail = true
	}
}

// intFits: an integer target fails on values out of its range; numeric and
// float sources are rounded first.
func intFits(v *TypeChangeVerdict) {
	from, to := v.From, v.To
	r := intRange[to.Name]
	if d, ok := intDigits[from.Name]; ok && d <= intDigits[to.Name] {
		return
	}
	if from.Name == "numeric" && len(from.Mods) > 0 && int(from.Mods[0])-numericScale(from) < intDigits[to.Name] {
		return
	}
	v.MayFail = true
	_, fromInt := intDigits[from.Name]
	v.misfit = func(col string) string {
		if fromInt {
			return col + " NOT BETWEEN " + r[0] + " AND " + r[1]
		}
		// round() rounds as the casts do (numeric half away from zero,
		// float to nearest even), and NaN sorts above every number.
		return "round(" + col + ") NOT BETWEEN " + r[0] + " AND " + r[1]
	}
}

// numericFits: numeric(p,s) holds values below 10^(p-s) after rounding to
// s places; NaN fits, infinity does not.
func numericFits(v *TypeChangeVerdict) {
	from, to := v.From, v.To
	if len(to.Mods) == 0 {
		return
	}
	p, s := int(to.Mods[0]), numericScale(to)
	if d, ok := intDigits[from.Name]; ok && d <= p-s {
		return
	}
	if from.Name == "numeric" && len(from.Mods) > 0 {
		// Rounding to fewer places can carry into a new digit: 99.95
		// becomes 100.0.
		fromDigits, fromScale := int(from.Mods[0])-numericScale(from), numericScale(from)
		if fromDigits < p-s || fromDigits == p-s && fromScale <= s {
			return
		}
	}
	v.MayFail = true
	v.misfit = func(col string) string {
		n := col + "::numeric"
		return "(" + n + " <> 'NaN' AND abs(round(" + n + ", " + strconv.Itoa(s) + ")) >= 1e" + strconv.Itoa(p-s) + ")"
	}
}

func numericScale(t TypeName) int {
	if len(t.Mods) > 1 {
		return int(t.Mods[1])
	}
	return 0
}

// numericWidens: precision may grow with the scale unchanged, or the
// typmod may go; a scale change alters every stored value.
func numericWidens(from, to TypeName) bool {
	if len(to.Mods) == 0 {
		return true
	}
	if len(from.Mods) == 0 {
		return false
	}
	return numericScale(from) == numericScale(to) && to.Mods[0] >= from.Mods[0]
}

// temporalWidens: fractional-second precision may grow or go; a precision
// of 6 or more is the same as none.
func temporalWidens(from, to TypeName) bool {
	if len(to.Mods) == 0 || to.Mods[0] >= maxTemporalPrecision {
		return true
	}
	return len(from.Mods) > 0 && to.Mods[0] >= from.Mods[0]
}

// intervalWidens follows interval_support: interval typmods are (field
// mask, precision); the change is a no-op when the finest field kept does
// not get coarser and, if seconds are kept, the precision does not drop.
func intervalWidens(from, to TypeName) bool {
	if len(to.Mods) == 0 {
		return true
	}
	oldLeast, oldPrec := 0, intervalFullPrecision
	if len(from.Mods) > 0 {
		oldLeast = intervalLeastField(from.Mods[0])
	}
	if len(from.Mods) > 1 {
		oldPrec = int(from.Mods[1])
	}
	newLeast, newPrec := intervalLeastField(to.Mods[0]), intervalFullPrecision
	if len(to.Mods) > 1 {
		newPrec = int(to.Mods[1])
	}
	return newLeast <= oldLeast && (oldLeast > 0 || newPrec >= maxTemporalPrecision || newPrec >= oldPrec)
}

// intervalFullPrecision is the precision of an interval typmod without one.
const intervalFullPrecision = 0xFFFF

// intervalLeastField ranks the finest field of an interval field mask:
// 0 second, 1 minute, 2 hour, 3 day, 4 month, 5 year (the bits are those
// of PostgreSQL's datetime.h: MONTH 1, YEAR 2, DAY 3, HOUR 10, MINUTE 11,
// SECOND 12).
func intervalLeastField(mask int32) int {
	for _, f := range []struct {
		bit  uint
		rank int
	}{{12, 0}, {11, 1}, {10, 2}, {3, 3}, {1, 4}, {2, 5}} {
		if mask&(1<<f.bit) != 0 {
			return f.rank
		}
	}
	return 0
}

func isString(t TypeName) bool {
	return !t.Array && (t.Name == "text" || t.Name == "varchar" || t.Name == "bpchar")
}

// isLengthType: types whose explicit cast cuts a value to length.
func isLengthType(t TypeName) bool {
	return !t.Array && (t.Name == "varchar" || t.Name == "bpchar" || t.Name == "bit" || t.Name == "varbit")
}

// baseElem is the type a value is finally stored as: the base of a
// domain, the element of an array.
func baseElem(s *Schema, t TypeName) TypeName {
	for i := 0; i < 8; i++ { // domains over domains, but never a cycle
		t.Array = false
		d := domainOf(s, t)
		if d == nil {
			break
		}
		t = d.Base
	}
	t.Array = false
	return t
}

func isEnum(s *Schema, t TypeName) bool {
	if s == nil || t.Array || builtinTypes[t.Name] {
		return false
	}
	e := s.Types[qualify(t.Name)]
	return e != nil && e.Kind == "enum"
}

// usingIsColumn: USING col converts exactly as no USING does.
func usingIsColumn(n *pg_query.Node, col string) bool {
	cr := n.GetColumnRef()
	return cr != nil && len(cr.Fields) == 1 && StringValue(cr.Fields[0]) == col
}

// usingIsCast: USING col::to, an explicit cast to exactly the new type.
func usingIsCast(n *pg_query.Node, col string, to TypeName) bool {
	tc := n.GetTypeCast()
	return tc != nil && usingIsColumn(tc.Arg, col) && sameType(nil, serialBase(TypeNameOf(tc.TypeName)), to)
}

// sameType compares two canonical type names, resolving an unqualified
// user type against the model so "money_t" and "public.money_t" match.
func sameType(s *Schema, a, b TypeName) bool {
	if a.Array != b.Array || len(a.Mods) != len(b.Mods) {
		return false
	}
	for i := range a.Mods {
		if a.Mods[i] != b.Mods[i] {
			return false
		}
	}
	return userTypeKey(a.Name) == userTypeKey(b.Name)
}

// userTypeKey qualifies a type name that is not a built-in one.
func userTypeKey(name string) string {
	if builtinTypes[name] {
		return name
	}
	return qualify(name)
}

// domainOf returns the model's domain for a type name, or nil.
func domainOf(s *Schema, tn TypeName) *Type {
	if s == nil || tn.Array || builtinTypes[tn.Name] {
		return nil
	}
	if t := s.Types[qualify(tn.Name)]; t != nil && t.Kind == "domain" {
		return t
	}
	return nil
}

// TimeZoneIsUTC reports whether a TimeZone setting is UTC by one of its
// names, under which PostgreSQL relabels timestamp <-> timestamptz (each
// verified; Europe/London, zero offset in winter, is not one).
func TimeZoneIsUTC(zone string) bool {
	switch strings.ToUpper(strings.Trim(zone, `'" `)) {
	case "UTC", "ETC/UTC", "GMT", "ETC/GMT", "ZULU", "ETC/ZULU", "UCT", "ETC/UCT", "UNIVERSAL", "ETC/UNIVERSAL", "GMT0", "ETC/GMT0":
		return true
	}
	return false
}

// builtinTypes are the pg_catalog names TypeNameOf produces for the types
// a migration commonly uses; anything else is looked up as a user type.
var builtinTypes = map[string]bool{
	"int2": true, "int4": true, "int8": true, "numeric": true, "float4": true, "float8": true,
	"varchar": true, "text": true, "bpchar": true, "bool": true, "date": true, "time": true,
	"timetz": true, "timestamp": true, "timestamptz": true, "interval": true, "uuid": true,
	"json": true, "jsonb": true, "bytea": true, "inet": true, "cidr": true, "macaddr": true,
	"bit": true, "varbit": true, "money": true, "xml": true, "oid": true, "tsvector": true,
	"serial": true, "bigserial": true, "smallserial": true,
}
