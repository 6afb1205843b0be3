package lint

import (
	"bytes"
	"fmt"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Severity grades a finding. The zero value is invalid so that a rule that
// forgets to set one is caught by tests.
type Severity int

const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityError
)

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// ParseSeverity is the inverse of Severity.String.
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "info":
		return SeverityInfo, nil
	case "warning":
		return SeverityWarning, nil
	case "error":
		return SeverityError, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want error, warning or info)", s)
}

// TxMode says how the runner sends a chunk of SQL to the server.
type TxMode int

const (
	// TxAutocommit: each statement runs on its own unless the SQL itself
	// opens a transaction with BEGIN (psql -f, goose NO TRANSACTION,
	// dbmate transaction:false, a plain .sql file).
	TxAutocommit TxMode = iota
	// TxWrapped: the runner wraps the whole chunk in one transaction
	// (goose and dbmate by default, diesel, Flyway, --assume-in-transaction).
	TxWrapped
	// TxImplicit: the chunk is sent as one multi-statement simple-query
	// string, which PostgreSQL runs as one implicit transaction unless the
	// SQL has explicit BEGIN/COMMIT (golang-migrate). A single statement
	// runs on its own.
	TxImplicit
)

func (m TxMode) String() string {
	switch m {
	case TxAutocommit:
		return "autocommit"
	case TxWrapped:
		return "wrapped"
	case TxImplicit:
		return "implicit"
	}
	return fmt.Sprintf("TxMode(%d)", int(m))
}

// Source is one migration input (a file or stdin) split into chunks.
type Source struct {
	Path   string // as given by the user; "-" or "<stdin>" for standard input
	Format string // "sql", "golang-migrate", "goose", "dbmate", "flyway", "diesel", "sqitch", "markdown"
	Text   []byte // the whole input, unmodified
	Chunks []Chunk
	// Down is true when the whole file is down/revert code (golang-migrate
	// .down.sql, diesel down.sql, Flyway U, sqitch revert/).
	Down bool

	lines []int32 // byte offset of each line start, built lazily by Position
}

// text is Text as a string without a copy. The parser and the rules work
// on strings; a second copy of a large migration was a tenth of a lint
// run's memory. Text is never written after reading (see its comment), so
// sharing its bytes is safe.
func (s *Source) text() string {
	return unsafe.String(unsafe.SliceData(s.Text), len(s.Text))
}

// Chunk is a byte range of Source.Text that the runner sends to the server
// as one unit, with its direction and transaction mode. A goose
// StatementBegin/End block, a Markdown ```sql fence, the Up section of a
// dbmate file and a whole plain .sql file are each one chunk.
type Chunk struct {
	Start, End int // byte offsets into Source.Text, End exclusive
	Down       bool
	Tx         TxMode
	// Group numbers the runner's transaction units: chunks with the same
	// Group and Tx == TxWrapped share one transaction (the goose file's
	// StatementBegin blocks, for instance).
	Group int
}

// Position is a 1-based line and column (in bytes) within a source.
type Position struct {
	Line, Column int
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Position maps a byte offset of s.Text to a 1-based line:column.
func (s *Source) Position(offset int) Position {
	if s.lines == nil {
		s.lines = make([]int32, 1, 1+bytes.Count(s.Text, []byte{'\n'}))
		for i, b := range s.Text {
			if b == '\n' {
				s.lines = append(s.lines, int32(i+1))
			}
		}
	}
	if offset < 0 {
		offset = 0
	}
	if offset > len(s.Text) {
		offset = len(s.Text)
	}
	// Binary search for the last line start <= offset.
	lo, hi := 0, len(s.lines)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if int(s.lines[mid]) <= offset {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Position{Line: lo + 1, Column: offset - int(s.lines[lo]) + 1}
}

// Statement is one parsed top-level statement, or one statement found inside
// a DO block or a PL/pgSQL function body.
type Statement struct {
	Source *Source
	Node   *pg_query.Node // RawStmt.Stmt (or the parsed SQL of a PL/pgSQL statement)
	Start  int            // byte offset of the first token in Source.Text
	End    int            // byte offset just past the last token (before the ';')
	Down   bool

	// Tx is the transaction the statement runs in: 0 when it runs on its
	// own (autocommit), otherwise an id shared by every statement of the
	// same transaction within the source.
	Tx int
	// InTxBlock is true when the statement runs inside a transaction block
	// (explicit BEGIN, the runner's wrapping transaction, or a
	// multi-statement implicit transaction): CONCURRENTLY fails there.
	InTxBlock bool
	// Explicit is true when the transaction was opened by BEGIN in the SQL.
	Explicit bool

	// Context is empty for top-level statements; for statements found in a
	// body it says where ("DO block", "function public.f()").
	Context string
	// Dynamic is set for a PL/pgSQL EXECUTE whose SQL cannot be read.
	Dynamic bool

	// Ignores are the rule names of -- migrate:ignore comments that apply
	// to this statement (on the statement's lines or the line above).
	Ignores []Ignore
}

// Ignore is one rule named in a -- migrate:ignore or migrate:ignore-file comment.
type Ignore struct {
	Rule   string
	Offset int  // where the comment is, for "ignore matched nothing" findings
	File   bool // migrate:ignore-file
	used   bool
}

// Text returns the statement's SQL as written.
func (st *Statement) Text() string {
	if st.Source == nil || st.Start < 0 || st.End > len(st.Source.Text) || st.Start > st.End {
		return ""
	}
	return st.Source.text()[st.Start:st.End]
}

// Pos and EndPos are the 1-based positions of the statement's first byte and
// of its last byte.
func (st *Statement) Pos() Position { return st.Source.Position(st.Start) }
func (st *Statement) EndPos() Position {
	if st.End > st.Start {
		return st.Source.Position(st.End - 1)
	}
	return st.Source.Position(st.Start)
}

// Lock is one lock a statement takes.
type Lock struct {
	Relation string   `json:"relation"`
	Mode     string   `json:"mode"`   // "ACCESS EXCLUSIVE", "SHARE", ...
	Blocks   []string `json:"blocks"` // subset of "reads", "writes"
}

// Finding is one reported problem. Field names and JSON tags are the
// contract in DESIGN.md.
type Finding struct {
	File      string   `json:"file"`
	Line      int      `json:"line"`
	Column    int      `json:"column"`
	EndLine   int      `json:"end_line"`
	EndColumn int      `json:"end_column"`
	Rule      string   `json:"rule"`
	Severity  Severity `json:"-"`
	Message   string   `json:"message"`
	Statement string   `json:"statement"`
	Locks     []Lock   `json:"locks"`
	Rewrite   bool     `json:"rewrite"`
	Scan      bool     `json:"scan"`
	Fix       string   `json:"fix"`
	Doc       string   `json:"doc"`
}

// Error is an input that could not be linted (unreadable, unparsable).
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
}
