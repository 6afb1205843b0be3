package lint

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// ReservedPrefix starts the name of every temporary object that a fix or
// a plan creates, so a runner (or a person) can tell them from the user's.
const ReservedPrefix = "_migrate_"

// MaxIdentLen is PostgreSQL's NAMEDATALEN - 1: the server silently cuts
// longer names, which could make two generated names collide.
const MaxIdentLen = 63

// FitName shortens a name over 63 bytes to a prefix plus a hash of the
// full name, cut on a character boundary, so distinct long names stay
// distinct and PostgreSQL keeps them as written.
func FitName(name string) string {
	if len(name) <= MaxIdentLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "_" + hex.EncodeToString(sum[:4])
	cut := MaxIdentLen - len(suffix)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + suffix
}

// NotNullCheckName names the CHECK (col IS NOT NULL) that proves a column
// NOT NULL before SET NOT NULL (R3), in lint's fixes and the planner's
// steps alike. rel is the table's unqualified name.
func NotNullCheckName(rel, col string) string {
	return FitName(ReservedPrefix + "nn_" + rel + "_" + col)
}
