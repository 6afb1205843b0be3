package lint

// The type-change verdict of locks.md §1.10. PostgreSQL skips the table
// rewrite of ALTER COLUMN ... TYPE only when the conversion is a relabel or
// a length coercion that a type's support function proves to be a no-op;
// everything else rewrites the table and rebuilds its indexes. The list
// below is deliberately an allow-list: an unknown pair counts as a rewrite.

type typeChange int

const (
	// changeRewrites: the table and every index are rewritten.
	changeRewrites typeChange = iota
	// changeCatalogOnly: binary-coercible, no rewrite (but see B3: CHECK
	// constraints on the column are re-checked with a scan).
	changeCatalogOnly
	// changeNeedsUTC: timestamp <-> timestamptz, which PostgreSQL 12+ does
	// without a rewrite only when the session TimeZone is UTC.
	changeNeedsUTC
)

func (c typeChange) String() string {
	switch c {
	case changeCatalogOnly:
		return "catalog-only"
	case changeNeedsUTC:
		return "needs-utc"
	}
	return "rewrite"
}

// Typmod limits of the temporal types: a precision at or above the limit
// is the same as no precision.
const (
	maxTemporalPrecision = 6
	intervalFullRange    = 0x7FFF
)

// classifyTypeChange says what ALTER COLUMN ... TYPE to does to a column of
// type from. s resolves domains (may be nil); pgVersion gates the
// timestamp/timestamptz relabel.
func classifyTypeChange(s *Schema, from, to TypeName, pgVersion int) typeChange {
	from, to = serialBase(from), serialBase(to)
	if d := domainOf(s, to); d != nil {
		// Converting into a domain runs its constraints on every row; only a
		// constraint-free domain over a coercible base avoids the rewrite.
		if d.HasCheck {
			return changeRewrites
		}
		to = d.Base
	}
	if d := domainOf(s, from); d != nil {
		from = d.Base // a domain relabels to its base type
	}
	if sameType(s, from, to) {
		return changeCatalogOnly
	}
	if from.Array || to.Array {
		return changeRewrites // array coercions run per element
	}
	switch {
	case from.Name == "varchar" && to.Name == "varchar":
		return widens(from, to)
	case from.Name == "varchar" && to.Name == "text":
		return changeCatalogOnly
	case from.Name == "text" && to.Name == "varchar":
		if len(to.Mods) == 0 {
			return changeCatalogOnly
		}
		return changeRewrites
	case from.Name == "varbit" && to.Name == "varbit":
		return widens(from, to)
	case from.Name == "numeric" && to.Name == "numeric":
		return numericWidens(from, to)
	case from.Name == "cidr" && to.Name == "inet":
		return changeCatalogOnly
	case from.Name == to.Name && (from.Name == "timestamp" || from.Name == "timestamptz" || from.Name == "time"):
		return temporalWidens(from, to)
	case from.Name == "interval" && to.Name == "interval":
		return intervalWidens(from, to)
	case (from.Name == "timestamp" && to.Name == "timestamptz") || (from.Name == "timestamptz" && to.Name == "timestamp"):
		if pgVersion != 0 && pgVersion < 12 {
			return changeRewrites
		}
		if temporalWidens(TypeName{Name: "timestamp", Mods: from.Mods}, TypeName{Name: "timestamp", Mods: to.Mods}) != changeCatalogOnly {
			return changeRewrites
		}
		return changeNeedsUTC
	}
	return changeRewrites
}

// widens is the rule of varchar and varbit: a length limit may grow or go.
func widens(from, to TypeName) typeChange {
	if len(to.Mods) == 0 {
		return changeCatalogOnly
	}
	if len(from.Mods) == 0 || to.Mods[0] < from.Mods[0] {
		return changeRewrites
	}
	return changeCatalogOnly
}

// numericWidens: precision may grow with the scale unchanged, or the
// typmod may go; a scale change alters every stored value.
func numericWidens(from, to TypeName) typeChange {
	if len(to.Mods) == 0 {
		return changeCatalogOnly
	}
	if len(from.Mods) == 0 {
		return changeRewrites
	}
	fromScale, toScale := int32(0), int32(0)
	if len(from.Mods) > 1 {
		fromScale = from.Mods[1]
	}
	if len(to.Mods) > 1 {
		toScale = to.Mods[1]
	}
	if fromScale != toScale || to.Mods[0] < from.Mods[0] {
		return changeRewrites
	}
	return changeCatalogOnly
}

// temporalWidens: fractional-second precision may grow or go; a precision
// of 6 or more is the same as none.
func temporalWidens(from, to TypeName) typeChange {
	if len(to.Mods) == 0 || to.Mods[0] >= maxTemporalPrecision {
		return changeCatalogOnly
	}
	if len(from.Mods) == 0 || to.Mods[0] < from.Mods[0] {
		return changeRewrites
	}
	return changeCatalogOnly
}

// intervalWidens: interval typmods are (field mask, precision). The same
// fields with more precision, or no typmod at all, keep the stored values.
func intervalWidens(from, to TypeName) typeChange {
	if len(to.Mods) == 0 {
		return changeCatalogOnly
	}
	fromFields, fromPrec := int32(intervalFullRange), int32(maxTemporalPrecision)
	if len(from.Mods) > 0 {
		fromFields = from.Mods[0]
	}
	if len(from.Mods) > 1 {
		fromPrec = from.Mods[1]
	}
	toFields, toPrec := to.Mods[0], int32(maxTemporalPrecision)
	if len(to.Mods) > 1 {
		toPrec = to.Mods[1]
	}
	if toFields != fromFields || toPrec < fromPrec {
		return changeRewrites
	}
	return changeCatalogOnly
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
