package lint

// Lock modes, strongest last.
const (
	AccessShare          = "ACCESS SHARE"
	RowShare             = "ROW SHARE"
	RowExclusive         = "ROW EXCLUSIVE"
	ShareUpdateExclusive = "SHARE UPDATE EXCLUSIVE"
	Share                = "SHARE"
	ShareRowExclusive    = "SHARE ROW EXCLUSIVE"
	Exclusive            = "EXCLUSIVE"
	AccessExclusive      = "ACCESS EXCLUSIVE"
)

// Blocks returns what a lock mode blocks for application traffic
// (locks.md §0): ACCESS EXCLUSIVE blocks reads and writes; SHARE and
// stronger block writes; weaker modes block neither.
func Blocks(mode string) []string {
	switch mode {
	case AccessExclusive:
		return []string{"reads", "writes"}
	case Share, ShareRowExclusive, Exclusive:
		return []string{"writes"}
	}
	return []string{}
}

// NewLock builds a Lock on a qualified relation.
func NewLock(relation, mode string) Lock {
	return Lock{Relation: DisplayName(relation), Mode: mode, Blocks: Blocks(mode)}
}

// IsStrong reports whether a mode is "dangerous" for the linter: SHARE,
// SHARE ROW EXCLUSIVE, EXCLUSIVE or ACCESS EXCLUSIVE (the same cut as eugene).
func IsStrong(mode string) bool {
	switch mode {
	case Share, ShareRowExclusive, Exclusive, AccessExclusive:
		return true
	}
	return false
}
