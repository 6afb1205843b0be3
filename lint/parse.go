package lint

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// Parse parses every chunk of src with the PostgreSQL parser and returns its
// statements in source order: each top-level statement followed by the
// statements found in its DO or function body. It also decides the
// transaction each statement runs in and which ignore comments apply to it.
// A syntax error is returned as an Error at the parser's cursor; Parse does
// not panic.
func Parse(src *Source, opts Options) (stmts []*Statement, perr *Error) {
	defer func() {
		if r := recover(); r != nil {
			stmts = nil
			perr = &Error{File: src.Path, Line: 1, Column: 1, Message: fmt.Sprintf("internal error while parsing: %v", r)}
		}
	}()
	text := src.text()
	top, perr := parseChunks(src, text, opts)
	if perr != nil {
		return nil, perr
	}
	assignTx(src, top)
	assignIgnores(src, text, top)
	bodies := make([][]*Statement, len(top))
	var withBody []int
	for i, ps := range top {
		if hasBody(ps.st.Node) {
			withBody = append(withBody, i)
		}
	}
	src.Position(0) // build the shared line table before the workers read it
	runParallel(len(withBody), func(k int) {
		i := withBody[k]
		defer func() {
			// A body that trips something is left unread rather than
			// failing the file: the top-level statement still counts.
			if recover() != nil {
				bodies[i] = nil
			}
		}()
		bodies[i] = extractBody(text, top[i].st, 0)
	})
	n := len(top)
	for _, b := range bodies {
		n += len(b)
	}
	stmts = make([]*Statement, 0, n)
	for i, ps := range top {
		stmts = append(stmts, ps.st)
		for _, b := range bodies[i] {
			b.Source = src
			b.Tx, b.InTxBlock, b.Explicit, b.Down = ps.st.Tx, ps.st.InTxBlock, ps.st.Explicit, ps.st.Down
			b.Ignores = append(append([]Ignore(nil), ps.st.Ignores...), b.Ignores...)
			stmts = append(stmts, b)
		}
	}
	return stmts, nil
}

// parsedStmt is a top-level statement with the chunk it came from.
type parsedStmt struct {
	st    *Statement
	chunk int
}

// parseJob is one contiguous piece of a chunk handed to pg_query.Parse.
type parseJob struct {
	chunk      int
	start, end int
	raw        []*pg_query.RawStmt
	err        error
}

// Chunks larger than this are cut at statement boundaries into batches that
// are parsed in parallel: pg_query's protobuf round trip costs about ten
// times the parse itself, and it is the bulk of linting a large file.
const batchBytes = 64 << 10

func parseChunks(src *Source, text string, opts Options) ([]parsedStmt, *Error) {
	var jobs []*parseJob
	jobsOf := make([][]int, len(src.Chunks))
	total := 0
	for ci, c := range src.Chunks {
		start, end := clampRange(c.Start, c.End, len(text))
		total += end - start
		for _, r := range cutBatches(text, start, end) {
			jobsOf[ci] = append(jobsOf[ci], len(jobs))
			jobs = append(jobs, &parseJob{chunk: ci, start: r[0], end: r[1]})
		}
	}
	run := runParallel
	if total < batchBytes {
		run = runSerial
	}
	run(len(jobs), func(i int) { jobs[i].parse(text) })

	var out []parsedStmt
	var firstErr *Error
	for ci, c := range src.Chunks {
		failed := false
		for _, ji := range jobsOf[ci] {
			if jobs[ji].err != nil {
				failed = true
				break
			}
		}
		if failed && len(jobsOf[ci]) > 1 {
			// The cut may have been wrong; the chunk as a whole decides.
			start, end := clampRange(c.Start, c.End, len(text))
			whole := &parseJob{chunk: ci, start: start, end: end}
			whole.parse(text)
			jobsOf[ci] = []int{len(jobs)}
			jobs = append(jobs, whole)
			failed = whole.err != nil
		}
		if failed && (c.Down || src.Down) && !opts.IncludeDown {
			// Down code is not linted unless asked for; SQL the parser does
			// not know there (newer syntax, another database's dialect)
			// must not stop the up migration from being checked.
			continue
		}
		if failed {
			for _, ji := range jobsOf[ci] {
				if j := jobs[ji]; j.err != nil {
					e := syntaxError(src, text, j)
					if firstErr == nil || e.Line < firstErr.Line || e.Line == firstErr.Line && e.Column < firstErr.Column {
						firstErr = e
					}
					break
				}
			}
			continue
		}
		for _, ji := range jobsOf[ci] {
			for _, st := range jobs[ji].statements(src, text) {
				out = append(out, parsedStmt{st: st, chunk: ci})
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// statements positions the job's parsed statements in the source.
func (j *parseJob) statements(src *Source, text string) []*Statement {
	down := src.Chunks[j.chunk].Down || src.Down
	out := make([]*Statement, 0, len(j.raw))
	for _, rs := range j.raw {
		lo := j.start + int(rs.StmtLocation)
		hi := j.end
		if rs.StmtLen > 0 {
			hi = lo + int(rs.StmtLen)
		}
		lo, hi = clampRange(lo, hi, j.end)
		if lo < j.start {
			lo = j.start
		}
		s, e := trimSpan(text, lo, hi)
		out = append(out, &Statement{Source: src, Node: rs.Stmt, Start: s, End: e, Down: down})
	}
	return out
}

func clampRange(lo, hi, n int) (int, int) {
	if lo < 0 {
		lo = 0
	}
	if hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

func (j *parseJob) parse(text string) {
	defer func() {
		if r := recover(); r != nil {
			j.raw, j.err = nil, fmt.Errorf("internal error in the parser: %v", r)
		}
	}()
	res, err := pg_query.Parse(text[j.start:j.end])
	if err != nil {
		j.err = err
		return
	}
	j.raw = res.Stmts
}

// syntaxError maps the parser's cursor (1-based, counted in characters of
// the piece it was given) to a line and column of the file.
func syntaxError(src *Source, text string, j *parseJob) *Error {
	msg := j.err.Error()
	off := j.start
	var pe *pgparser.Error
	if errors.As(j.err, &pe) {
		msg = pe.Message
		if pe.Cursorpos > 0 {
			off = advanceChars(text, j.start, j.end, pe.Cursorpos-1)
		} else {
			off, _ = trimSpan(text, j.start, j.end)
		}
	}
	pos := src.Position(off)
	return &Error{File: src.Path, Line: pos.Line, Column: pos.Column, Message: msg}
}

// advanceChars moves n characters forward from off, counting as
// PostgreSQL's UTF-8 pg_mblen does (by the lead byte).
func advanceChars(s string, off, limit, n int) int {
	for n > 0 && off < limit {
		c := s[off]
		switch {
		case c < 0x80:
			off++
		case c&0xe0 == 0xc0:
			off += 2
		case c&0xf0 == 0xe0:
			off += 3
		case c&0xf8 == 0xf0:
			off += 4
		default:
			off++
		}
		n--
	}
	if off > limit {
		off = limit
	}
	return off
}

// cutBatches splits [start, end) after top-level semicolons into pieces of
// about batchBytes. Small chunks stay whole.
func cutBatches(text string, start, end int) [][2]int {
	if end-start <= batchBytes {
		return [][2]int{{start, end}}
	}
	size := batchBytes
	if per := (end - start) / (4 * runtime.GOMAXPROCS(0)); per > size {
		size = per
	}
	return cutWindows(text, start, end, size)
}

func runSerial(n int, fn func(int)) {
	for i := 0; i < n; i++ {
		fn(i)
	}
}

// runParallel calls fn(0..n-1) on GOMAXPROCS workers. fn must not panic.
// Every pg_query call briefly points the process's stderr (fd 2) at a pipe
// and back, which is racy between threads; the guard restores fd 2 after
// the workers are done. Where it cannot, the calls stay serial.
func runParallel(n int, fn func(int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		runSerial(n, fn)
		return
	}
	release, ok := guardStderr()
	if !ok {
		runSerial(n, fn)
		return
	}
	defer release()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

var stderrGuard struct {
	sync.Mutex
	users int
	saved int
}

// guardStderr saves fd 2 when the first parallel section starts and puts
// it back when the last one ends.
func guardStderr() (func(), bool) {
	g := &stderrGuard
	g.Lock()
	defer g.Unlock()
	if g.users == 0 {
		fd, ok := dupStderr()
		if !ok {
			return nil, false
		}
		g.saved = fd
	}
	g.users++
	return func() {
		g.Lock()
		defer g.Unlock()
		g.users--
		if g.users == 0 {
			restoreStderr(g.saved)
		}
	}, true
}

// txKind classifies transaction-control statements.
func txKind(n *pg_query.Node) (kind string, chain bool) {
	ts := n.GetTransactionStmt()
	if ts == nil {
		return "", false
	}
	switch ts.Kind {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		return "begin", false
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
		pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "end", ts.Chain
	}
	return "", false
}

// assignTx simulates the session the runner opens for the file: its
// wrapping transaction per chunk group, PostgreSQL's implicit transaction
// for a multi-statement string, and BEGIN/COMMIT in the SQL itself.
func assignTx(src *Source, top []parsedStmt) {
	counts := make([]int, len(src.Chunks))
	byChunk := make([][]*Statement, len(src.Chunks))
	for _, ps := range top {
		counts[ps.chunk]++
		byChunk[ps.chunk] = append(byChunk[ps.chunk], ps.st)
	}
	tx := txAssigner{src: src}
	for ci := range src.Chunks {
		tx.beginChunk(ci, counts[ci])
		for _, st := range byChunk[ci] {
			tx.assign(st)
		}
		tx.endChunk()
	}
}

// txAssigner is assignTx one statement at a time: every chunk, in order,
// gets beginChunk, then assign for each of its top-level statements, then
// endChunk.
type txAssigner struct {
	src      *Source
	nextID   int
	cur      int
	explicit bool
	ci       int
	multi    bool
}

// beginChunk starts chunk ci, which has count top-level statements (only
// an implicit-transaction chunk needs the count, and only whether it is
// more than one).
func (a *txAssigner) beginChunk(ci, count int) {
	chunks := a.src.Chunks
	c := chunks[ci]
	a.ci = ci
	if ci > 0 && chunks[ci-1].Down != c.Down {
		// Up and down code never run in one session.
		a.cur, a.explicit = 0, false
	}
	sameGroupAsPrev := ci > 0 && chunks[ci-1].Tx == TxWrapped && chunks[ci-1].Group == c.Group && chunks[ci-1].Down == c.Down
	if c.Tx == TxWrapped && !sameGroupAsPrev && a.cur == 0 {
		a.cur = a.open()
	}
	a.multi = c.Tx == TxImplicit && count > 1
}

func (a *txAssigner) open() int { a.nextID++; return a.nextID }

func (a *txAssigner) assign(st *Statement) {
	kind, chain := txKind(st.Node)
	switch kind {
	case "begin":
		if a.cur == 0 {
			a.cur = a.open()
		}
		a.explicit = true
		st.Tx, st.InTxBlock, st.Explicit = a.cur, true, true
	case "end":
		st.Tx, st.InTxBlock, st.Explicit = a.cur, a.cur != 0, a.explicit && a.cur != 0
		if chain && a.cur != 0 {
			a.cur = a.open()
		} else {
			a.cur, a.explicit = 0, false
		}
	default:
		if a.cur == 0 && a.multi {
			a.cur = a.open()
		}
		st.Tx, st.InTxBlock, st.Explicit = a.cur, a.cur != 0, a.explicit && a.cur != 0
	}
}

func (a *txAssigner) endChunk() {
	chunks := a.src.Chunks
	ci, c := a.ci, a.src.Chunks[a.ci]
	if a.multi && !a.explicit {
		a.cur = 0 // the implicit block commits at the end of the string
	}
	endsGroup := ci+1 >= len(chunks) || chunks[ci+1].Tx != TxWrapped || chunks[ci+1].Group != c.Group || chunks[ci+1].Down != c.Down
	if c.Tx == TxWrapped && endsGroup {
		a.cur, a.explicit = 0, false // the runner commits
	}
}

// ignoreComment is one -- migrate:ignore[-file] comment.
type ignoreComment struct {
	start, end int
	file       bool
	rules      []string
}

// parseIgnore reads the directive of a comment token, if it has one. Rule
// names are comma separated; words after a name without a comma are a
// reason and end the list ("-- migrate:ignore rule-a, rule-b tiny table").
func parseIgnore(s string, t token) (ignoreComment, bool) {
	body := s[t.start:t.end]
	if t.kind == tokLineComment {
		body = body[2:]
	} else {
		body = strings.TrimSuffix(body[2:], "*/")
	}
	body = strings.TrimSpace(body)
	const kw = "migrate:ignore"
	if len(body) < len(kw) || !strings.EqualFold(body[:len(kw)], kw) {
		return ignoreComment{}, false
	}
	rest := body[len(kw):]
	ic := ignoreComment{start: t.start, end: t.end}
	if len(rest) >= 5 && strings.EqualFold(rest[:5], "-file") {
		ic.file = true
		rest = rest[5:]
	}
	if rest != "" && !isSpace(rest[0]) && rest[0] != ',' && rest[0] != ':' {
		return ignoreComment{}, false // migrate:ignored, migrate:ignore-files ...
	}
	rest = strings.TrimLeft(rest, ":")
	for _, part := range strings.Split(rest, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || !isRuleName(words[0]) {
			break
		}
		ic.rules = append(ic.rules, words[0])
		if len(words) > 1 {
			break
		}
	}
	return ic, true
}

func isRuleName(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return w != "" && w[0] != '-'
}

// findIgnores lexes [lo, hi) for ignore comments.
func findIgnores(text string, lo, hi int) []ignoreComment {
	if !containsFold(text[lo:hi], "migrate:ignore") {
		return nil
	}
	var out []ignoreComment
	s := text[:hi]
	for i := lo; i < hi; {
		t := lexAt(s, i)
		if t.end <= i {
			break
		}
		if t.kind == tokLineComment || t.kind == tokBlockComment {
			if ic, ok := parseIgnore(s, t); ok {
				out = append(out, ic)
			}
		}
		i = t.end
	}
	return out
}

// assignIgnores attaches ignore comments to top-level statements: a
// comment on a line the statement spans applies to it; otherwise to the
// next statement below (normally the comment is right above it), or, at
// the end of a file, to the last one, so that an ignore that matches
// nothing can still be reported.
func assignIgnores(src *Source, text string, top []parsedStmt) {
	if len(top) == 0 {
		return
	}
	var comments []ignoreComment
	if src.Format == "markdown" {
		for _, c := range src.Chunks {
			lo, hi := clampRange(c.Start, c.End, len(text))
			comments = append(comments, findIgnores(text, lo, hi)...)
		}
	} else {
		comments = findIgnores(text, 0, len(text))
	}
	if len(comments) == 0 {
		return
	}
	stmts := make([]*Statement, len(top))
	for i, ps := range top {
		stmts[i] = ps.st
	}
	attachIgnores(src, stmts, comments)
}

func attachIgnores(src *Source, stmts []*Statement, comments []ignoreComment) {
	add := func(st *Statement, ic ignoreComment) {
		if len(ic.rules) == 0 {
			st.Ignores = append(st.Ignores, Ignore{Offset: ic.start, File: ic.file})
			return
		}
		for _, r := range ic.rules {
			st.Ignores = append(st.Ignores, Ignore{Rule: r, Offset: ic.start, File: ic.file})
		}
	}
	for _, ic := range comments {
		if ic.file {
			for _, st := range stmts {
				add(st, ic)
			}
			continue
		}
		line := src.Position(ic.start).Line
		matched := false
		// Statements are in source order; those spanning the line are few
		// and adjacent to the first one starting after the comment.
		k := sort.Search(len(stmts), func(i int) bool { return stmts[i].Start >= ic.start })
		for i := k - 1; i >= 0; i-- {
			st := stmts[i]
			endLine := src.Position(st.End).Line
			if endLine < line {
				break
			}
			if src.Position(st.Start).Line <= line {
				add(st, ic)
				matched = true
			}
		}
		for i := k; i < len(stmts) && src.Position(stmts[i].Start).Line == line; i++ {
			add(stmts[i], ic)
			matched = true
		}
		if matched {
			continue
		}
		if k < len(stmts) {
			add(stmts[k], ic)
		} else {
			add(stmts[len(stmts)-1], ic)
		}
	}
}
