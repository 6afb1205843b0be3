package lint

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ReadOptions control how migration files are found and read.
type ReadOptions struct {
	// AssumeInTransaction treats plain SQL files as wrapped in one
	// transaction by whatever runs them.
	AssumeInTransaction bool
	// Exclude lists path globs (`*`, `?`, `**` for any number of
	// directories) matched against each path and its base name.
	Exclude []string
}

// StdinPath is the Source.Path of standard input.
const StdinPath = "<stdin>"

// ReadPaths reads files, directories (their migration files in version
// order) and "-" (stdin). Unreadable inputs are reported and skipped so that
// the rest can still be linted.
func ReadPaths(paths []string, stdin io.Reader, opts ReadOptions) ([]*Source, []Error) {
	var (
		out  []*Source
		errs []Error
	)
	excl := compileGlobs(opts.Exclude)
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				errs = append(errs, Error{File: StdinPath, Line: 1, Column: 1, Message: "no standard input"})
				continue
			}
			text, err := io.ReadAll(stdin)
			out, errs = appendRead(out, errs, StdinPath, text, err, opts)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, Error{File: p, Line: 1, Column: 1, Message: errMessage(err)})
			continue
		}
		if !fi.IsDir() {
			if excl.match(p) {
				continue
			}
			text, err := os.ReadFile(p)
			out, errs = appendRead(out, errs, p, text, err, opts)
			continue
		}
		files, werrs := migrationFiles(p, excl)
		errs = append(errs, werrs...)
		for _, f := range files {
			text, err := os.ReadFile(f)
			out, errs = appendRead(out, errs, f, text, err, opts)
		}
	}
	return out, errs
}

// MaxSourceBytes is the largest input lint reads: positions are kept as
// 32-bit offsets, and a migration this size is a data dump, not a schema
// change.
const MaxSourceBytes = 1 << 30

// appendRead adds what reading path gave: its Source, or the Error that
// says why it cannot be linted.
func appendRead(out []*Source, errs []Error, path string, text []byte, err error, opts ReadOptions) ([]*Source, []Error) {
	switch {
	case err != nil:
		return out, append(errs, Error{File: path, Line: 1, Column: 1, Message: errMessage(err)})
	case len(text) > MaxSourceBytes:
		return out, append(errs, Error{File: path, Line: 1, Column: 1,
			Message: fmt.Sprintf("%d bytes is more than lint reads (%d): split the file", len(text), MaxSourceBytes)})
	}
	return append(out, ReadSource(path, text, opts)), errs
}

func errMessage(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// migrationFiles lists the SQL files under dir in the order a runner
// applies them.
func migrationFiles(dir string, excl globSet) ([]string, []Error) {
	var (
		files []string
		errs  []Error
		plans = map[string][]string{} // sqitch project dir -> change names in plan order
	)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, Error{File: p, Line: 1, Column: 1, Message: errMessage(err)})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "verify" || excl.match(p)) {
				return filepath.SkipDir
			}
			return nil
		}
		if name == "sqitch.plan" {
			if b, err := os.ReadFile(p); err == nil {
				plans[filepath.Dir(p)] = sqitchPlan(b)
			}
			return nil
		}
		if !isSQLFile(name) || excl.match(p) {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		errs = append(errs, Error{File: dir, Line: 1, Column: 1, Message: errMessage(err)})
	}
	keys := make(map[string]versionKey, len(files))
	for _, f := range files {
		keys[f] = fileVersion(f, plans)
	}
	sort.SliceStable(files, func(i, j int) bool {
		return keys[files[i]].less(keys[files[j]])
	})
	return files, errs
}

func isSQLFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".sql" || ext == ".psql" || ext == ".pgsql"
}

// sqitchPlan returns the change names of a sqitch.plan in order.
func sqitchPlan(b []byte) []string {
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '%' || line[0] == '#' || line[0] == '@' {
			continue
		}
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// versionKey orders migration files: versioned files by their version
// (numeric parts compared as numbers), then unversioned ones (Flyway
// repeatables, helper scripts) by name; up before down for one version.
type versionKey struct {
	versioned bool
	parts     []string // numeric parts without leading zeros
	name      string   // tie breaker: the version's name (dir or file)
	down      bool
	path      string
}

func (a versionKey) less(b versionKey) bool {
	if a.versioned != b.versioned {
		return a.versioned
	}
	for i := 0; i < len(a.parts) && i < len(b.parts); i++ {
		if c := cmpNumeric(a.parts[i], b.parts[i]); c != 0 {
			return c < 0
		}
	}
	if len(a.parts) != len(b.parts) {
		return len(a.parts) < len(b.parts)
	}
	if a.name != b.name {
		return a.name < b.name
	}
	if a.down != b.down {
		return !a.down
	}
	return a.path < b.path
}

// cmpNumeric compares decimal strings without leading zeros, whatever
// their length (timestamps overflow nothing this way).
func cmpNumeric(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

var flywayName = regexp.MustCompile(`^([VUvu])([0-9][0-9._]*)__`)

func fileVersion(p string, plans map[string][]string) versionKey {
	base := filepath.Base(p)
	dir := filepath.Dir(p)
	parent := filepath.Base(dir)
	k := versionKey{path: p, name: base, down: isDownName(p)}
	if kind := sqitchKind(p); kind != "" {
		project := filepath.Dir(dir)
		change := strings.TrimSuffix(base, filepath.Ext(base))
		if plan, ok := plans[project]; ok {
			for i, n := range plan {
				if n == change {
					k.versioned = true
					k.parts = []string{trimZeros(fmt.Sprint(i))}
					break
				}
			}
		}
		k.name = change
		return k
	}
	name := base
	lower := strings.ToLower(base)
	if lower == "up.sql" || lower == "down.sql" {
		name = parent
	}
	k.name = stripDirection(name)
	if m := flywayName.FindStringSubmatch(name); m != nil {
		k.versioned = true
		for _, part := range strings.FieldsFunc(m[2], func(r rune) bool { return r == '.' || r == '_' }) {
			k.parts = append(k.parts, trimZeros(part))
		}
		return k
	}
	// Leading digits, with '-', '_' or '.' separated digit groups after
	// them (diesel's 2019-05-02-051656_name), are the version.
	i := 0
	for i < len(name) {
		j := i
		for j < len(name) && name[j] >= '0' && name[j] <= '9' {
			j++
		}
		if j == i {
			break
		}
		k.parts = append(k.parts, trimZeros(name[i:j]))
		if j+1 < len(name) && (name[j] == '-' || name[j] == '_' || name[j] == '.') && name[j+1] >= '0' && name[j+1] <= '9' {
			i = j + 1
			continue
		}
		break
	}
	k.versioned = len(k.parts) > 0
	return k
}

// stripDirection drops what tells an up file from its down twin, so that
// both sort under one name.
func stripDirection(name string) string {
	lower := strings.ToLower(name)
	for _, suf := range []string{".up.sql", ".down.sql", "_up.sql", "_down.sql"} {
		if strings.HasSuffix(lower, suf) {
			return name[:len(name)-len(suf)]
		}
	}
	if flywayName.MatchString(name) {
		return name[1:]
	}
	return name
}

func trimZeros(s string) string {
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

func isDownName(p string) bool {
	base := strings.ToLower(filepath.Base(p))
	if base == "down.sql" || strings.HasSuffix(base, ".down.sql") || strings.HasSuffix(base, "_down.sql") {
		return true
	}
	if len(base) > 1 && base[0] == 'u' && base[1] >= '0' && base[1] <= '9' && flywayName.MatchString(filepath.Base(p)) {
		return true
	}
	return sqitchKind(p) == "revert"
}

// sqitchKind is "deploy", "revert" or "verify" for a file directly in a
// sqitch script directory.
func sqitchKind(p string) string {
	switch d := filepath.Base(filepath.Dir(filepath.ToSlash(p))); d {
	case "deploy", "revert", "verify":
		return d
	}
	return ""
}

// globSet matches paths against exclude globs.
type globSet []*regexp.Regexp

func compileGlobs(globs []string) globSet {
	var out globSet
	for _, g := range globs {
		g = filepath.ToSlash(strings.TrimPrefix(g, "./"))
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(g); i++ {
			switch c := g[i]; c {
			case '*':
				if i+1 < len(g) && g[i+1] == '*' {
					i++
					if i+1 < len(g) && g[i+1] == '/' {
						i++
						b.WriteString("(?:.*/)?")
					} else {
						b.WriteString(".*")
					}
				} else {
					b.WriteString("[^/]*")
				}
			case '?':
				b.WriteString("[^/]")
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteString("/?$")
		if re, err := regexp.Compile(b.String()); err == nil {
			out = append(out, re)
		}
	}
	return out
}

// match tries the path as given, cleaned, and every suffix of it that
// starts at a directory boundary, so "migrations/old/**" and "*.down.sql"
// both work whatever directory the user linted from.
func (g globSet) match(p string) bool {
	if len(g) == 0 {
		return false
	}
	p = filepath.ToSlash(filepath.Clean(p))
	p = strings.TrimPrefix(p, "./")
	for _, re := range g {
		rest := p
		for {
			if re.MatchString(rest) {
				return true
			}
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
	}
	return false
}

// ReadSource detects the file's convention and splits it into chunks. It
// never fails: text that is not valid SQL is the parser's to report.
func ReadSource(path string, text []byte, opts ReadOptions) *Source {
	src := &Source{Path: path, Text: text}
	start := 0
	if bytes.HasPrefix(text, []byte("\xef\xbb\xbf")) {
		start = 3 // a UTF-8 byte order mark is not SQL
	}
	lowerPath := strings.ToLower(filepath.ToSlash(path))
	base := filepath.Base(lowerPath)
	isStdin := path == StdinPath || path == "-" || path == ""
	switch {
	case strings.HasSuffix(lowerPath, ".md") || strings.HasSuffix(lowerPath, ".markdown"):
		src.Format = "markdown"
		src.Chunks = markdownChunks(text)
		return src
	case hasGooseMarker(text):
		src.Format = "goose"
		src.Chunks = gooseChunks(text, start)
	case hasDbmateMarker(text):
		src.Format = "dbmate"
		src.Chunks = dbmateChunks(text, start)
	case isStdin && looksLikeProse(text[start:]):
		src.Format = "markdown"
		src.Chunks = markdownChunks(text)
		return src
	case base == "up.sql" || base == "down.sql":
		src.Format = "diesel"
		src.Down = base == "down.sql"
		tx := TxWrapped
		if !isStdin && dieselNoTransaction(filepath.Dir(path)) {
			tx = TxAutocommit
		}
		src.Chunks = []Chunk{{Start: start, End: len(text), Down: src.Down, Tx: tx, Group: 1}}
	case sqitchKind(lowerPath) != "":
		src.Format = "sqitch"
		switch sqitchKind(lowerPath) {
		case "verify":
			// Verify scripts check a deployment; they change nothing.
			return src
		case "revert":
			src.Down = true
		}
		// sqitch runs scripts through psql; they carry their own BEGIN/COMMIT.
		src.Chunks = []Chunk{{Start: start, End: len(text), Down: src.Down, Tx: TxAutocommit, Group: 1}}
	case golangMigrateName.MatchString(base):
		src.Format = "golang-migrate"
		src.Down = isDownName(lowerPath)
		src.Chunks = []Chunk{{Start: start, End: len(text), Down: src.Down, Tx: TxImplicit, Group: 1}}
	case flywayName.MatchString(filepath.Base(path)) || strings.HasPrefix(filepath.Base(path), "R__"):
		src.Format = "flyway"
		src.Down = isDownName(path)
		tx := TxWrapped
		if flywayNonTransactional(path, text[start:], isStdin) {
			tx = TxAutocommit
		}
		src.Chunks = []Chunk{{Start: start, End: len(text), Down: src.Down, Tx: tx, Group: 1}}
	default:
		src.Format = "sql"
		tx := TxAutocommit
		if opts.AssumeInTransaction {
			tx = TxWrapped
		}
		src.Chunks = []Chunk{{Start: start, End: len(text), Tx: tx, Group: 1}}
	}
	return src
}

// golang-migrate's own pattern is `^([0-9]+)_(.*)\.(down|up)\.(.*)$`; newer
// repositories drop the name (0161.up.sql), and the unescaped dot of some
// embedders also lets `_up.sql` through.
var golangMigrateName = regexp.MustCompile(`^[0-9]+([_.].*)?[._](up|down)\.sql$`)

// dieselNoTransaction reads run_in_transaction = false from a diesel
// migration's metadata.toml.
func dieselNoTransaction(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "metadata.toml"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "run_in_transaction" && strings.TrimSpace(v) == "false" {
			return true
		}
	}
	return false
}

// flywayNonTransactional: Flyway runs a migration outside a transaction
// when its V1__x.sql.conf says executeInTransaction=false, or when it
// detects statements PostgreSQL refuses inside one (it rejects files that
// mix both kinds, so either way they do not run wrapped).
func flywayNonTransactional(path string, text []byte, isStdin bool) bool {
	if !isStdin {
		if b, err := os.ReadFile(path + ".conf"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				k, v, ok := strings.Cut(line, "=")
				if ok && strings.TrimSpace(k) == "executeInTransaction" && strings.EqualFold(strings.TrimSpace(v), "false") {
					return true
				}
			}
		}
	}
	s := string(text)
	for i := 0; i < len(s); {
		t := lexAt(s, i)
		if t.end <= i {
			break
		}
		if wordIs(s, t, "concurrently") || wordIs(s, t, "vacuum") {
			return true
		}
		i = t.end
	}
	return false
}

// lineIter walks text line by line; each line excludes its terminator.
type lineIter struct {
	text       []byte
	pos        int
	start, end int // current line, end excludes "\r\n" / "\n"
	next       int // start of the following line
}

func (it *lineIter) scan() bool {
	if it.pos >= len(it.text) {
		return false
	}
	it.start = it.pos
	i := bytes.IndexByte(it.text[it.pos:], '\n')
	if i < 0 {
		it.end = len(it.text)
		it.next = len(it.text)
	} else {
		it.end = it.pos + i
		it.next = it.end + 1
	}
	if it.end > it.start && it.text[it.end-1] == '\r' {
		it.end--
	}
	it.pos = it.next
	return true
}

func (it *lineIter) line() []byte { return it.text[it.start:it.end] }

// gooseAnnotation returns the lower-cased annotation of a `-- +goose X`
// line, or "".
func gooseAnnotation(line []byte) string {
	l := bytes.TrimSpace(line)
	if !bytes.HasPrefix(l, []byte("--")) {
		return ""
	}
	l = bytes.TrimSpace(l[2:])
	if len(l) < 6 || !strings.EqualFold(string(l[:6]), "+goose") {
		return ""
	}
	return strings.ToLower(strings.Join(strings.Fields(string(l[6:])), " "))
}

func hasGooseMarker(text []byte) bool {
	if !containsFold(text, "+goose") {
		return false
	}
	it := lineIter{text: text}
	for it.scan() {
		switch gooseAnnotation(it.line()) {
		case "up", "down":
			return true
		}
	}
	return false
}

// gooseChunks follows goose's parser: statements after `+goose Up` (or
// Down), each StatementBegin/End block sent on its own; NO TRANSACTION
// anywhere in the file turns the wrapping transaction off for both
// directions.
func gooseChunks(text []byte, start int) []Chunk {
	noTx := false
	it := lineIter{text: text}
	for it.scan() {
		if gooseAnnotation(it.line()) == "no transaction" {
			noTx = true
		}
	}
	tx := TxWrapped
	if noTx {
		tx = TxAutocommit
	}
	var (
		chunks  []Chunk
		section = 0  // 0 before any marker, 1 up, 2 down
		from    = -1 // start of the pending chunk
	)
	flush := func(end int) {
		if from >= 0 && section != 0 && end > from {
			chunks = append(chunks, Chunk{Start: from, End: end, Down: section == 2, Tx: tx, Group: section})
		}
		from = -1
	}
	it = lineIter{text: text, pos: start}
	for it.scan() {
		switch gooseAnnotation(it.line()) {
		case "up":
			flush(it.start)
			section = 1
			from = it.next
		case "down":
			flush(it.start)
			section = 2
			from = it.next
		case "statementbegin":
			flush(it.start)
			from = it.next
		case "statementend":
			flush(it.start)
			from = it.next
		case "":
			if from < 0 {
				from = it.start
			}
		default:
			// NO TRANSACTION, ENVSUB ON/OFF: not SQL, keep them out of the chunk.
			if from == it.start || from < 0 {
				from = it.next
			}
		}
	}
	flush(len(text))
	return dropBlankChunks(text, chunks)
}

// containsFold reports whether text contains the lower-case ASCII word in
// any case, without copying a file that may be megabytes long.
func containsFold[T string | []byte](text T, word string) bool {
	lower := func(c byte) byte {
		if c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
outer:
	for i := 0; i+len(word) <= len(text); i++ {
		if lower(text[i]) != word[0] {
			continue
		}
		for k := 1; k < len(word); k++ {
			if lower(text[i+k]) != word[k] {
				continue outer
			}
		}
		return true
	}
	return false
}

// dropBlankChunks removes chunks holding only whitespace, which the
// marker-driven splitters produce between adjacent markers.
func dropBlankChunks(text []byte, chunks []Chunk) []Chunk {
	out := chunks[:0]
	for _, c := range chunks {
		if len(bytes.TrimSpace(text[c.Start:c.End])) > 0 {
			out = append(out, c)
		}
	}
	return out
}

var dbmateMarker = regexp.MustCompile(`(?i)^--\s*migrate:(up|down)\b(.*)$`)

func hasDbmateMarker(text []byte) bool {
	if !containsFold(text, "migrate:") {
		return false
	}
	it := lineIter{text: text}
	for it.scan() {
		if dbmateMarker.Match(bytes.TrimSpace(it.line())) {
			return true
		}
	}
	return false
}

// dbmateChunks: one chunk per `-- migrate:up` / `-- migrate:down` section,
// wrapped in a transaction unless the marker says transaction:false.
func dbmateChunks(text []byte, start int) []Chunk {
	var (
		chunks  []Chunk
		section int
		tx      TxMode
		from    = -1
	)
	flush := func(end int) {
		if from >= 0 && section != 0 && end > from {
			chunks = append(chunks, Chunk{Start: from, End: end, Down: section == 2, Tx: tx, Group: section})
		}
		from = -1
	}
	it := lineIter{text: text, pos: start}
	for it.scan() {
		m := dbmateMarker.FindSubmatch(bytes.TrimSpace(it.line()))
		if m == nil {
			continue
		}
		flush(it.start)
		section = 1
		if strings.EqualFold(string(m[1]), "down") {
			section = 2
		}
		tx = TxWrapped
		for _, opt := range strings.Fields(string(m[2])) {
			k, v, _ := strings.Cut(opt, ":")
			if strings.EqualFold(k, "transaction") && strings.EqualFold(v, "false") {
				tx = TxAutocommit
			}
		}
		from = it.next
	}
	flush(len(text))
	return dropBlankChunks(text, chunks)
}

// sqlFenceLangs are the info strings whose fences hold the migration.
var sqlFenceLangs = map[string]bool{"sql": true, "postgres": true, "postgresql": true, "psql": true, "pgsql": true, "plpgsql": true}

// markdownChunks returns one chunk per SQL fence of a Markdown document (an
// AI assistant's answer). Unlabeled fences count when they look like SQL.
// psql meta-command lines (\d, \c) split a fence, since they are not SQL.
func markdownChunks(text []byte) []Chunk {
	var (
		chunks   []Chunk
		group    int
		inFence  bool
		fenceCh  byte
		fenceLen int
		take     bool
		unlabel  bool
		body     int
		pieces   []Chunk
	)
	it := lineIter{text: text}
	emit := func(from, to int) {
		if to > from {
			pieces = append(pieces, Chunk{Start: from, End: to, Tx: TxAutocommit, Group: group})
		}
	}
	for it.scan() {
		line := it.line()
		trimmed := bytes.TrimLeft(line, " \t>")
		if !inFence {
			ch, n := fenceRun(trimmed)
			if n < 3 {
				continue
			}
			info := strings.TrimSpace(string(trimmed[n:]))
			if ch == '`' && strings.IndexByte(info, '`') >= 0 {
				continue // inline code, not a fence
			}
			lang := strings.ToLower(info)
			if i := strings.IndexAny(lang, " \t{,"); i >= 0 {
				lang = lang[:i]
			}
			inFence, fenceCh, fenceLen = true, ch, n
			take = sqlFenceLangs[lang] || lang == ""
			unlabel = lang == ""
			body = it.next
			group++
			pieces = pieces[:0]
			continue
		}
		if ch, n := fenceRun(trimmed); n >= fenceLen && ch == fenceCh && len(bytes.TrimSpace(trimmed[n:])) == 0 {
			inFence = false
			if take {
				emit(body, it.start)
				if !unlabel || looksLikeSQL(text, pieces) {
					chunks = append(chunks, pieces...)
				}
			}
			continue
		}
		if take && isPsqlMeta(line) {
			emit(body, it.start)
			body = it.next
		}
	}
	if inFence && take {
		emit(body, len(text))
		if !unlabel || looksLikeSQL(text, pieces) {
			chunks = append(chunks, pieces...)
		}
	}
	return dropBlankChunks(text, chunks)
}

func fenceRun(line []byte) (byte, int) {
	if len(line) == 0 || line[0] != '`' && line[0] != '~' {
		return 0, 0
	}
	n := 0
	for n < len(line) && line[n] == line[0] {
		n++
	}
	return line[0], n
}

func isPsqlMeta(line []byte) bool {
	l := bytes.TrimLeft(line, " \t")
	return len(l) >= 2 && l[0] == '\\' && (l[1] >= 'a' && l[1] <= 'z' || l[1] >= 'A' && l[1] <= 'Z' || l[1] == '!' || l[1] == '?')
}

// looksLikeSQL decides for an unlabeled fence: its first word must be a
// statement keyword (a shell session or JSON output is not a migration).
func looksLikeSQL(text []byte, pieces []Chunk) bool {
	for _, p := range pieces {
		s := string(text[p.Start:p.End])
		for i := 0; i < len(s); {
			t := lexAt(s, i)
			if t.end <= i {
				break
			}
			if t.kind.significant() {
				return t.kind == tokWord && sqlStartWords[strings.ToLower(s[t.start:t.end])]
			}
			i = t.end
		}
	}
	return false
}

var sqlStartWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`select insert update delete merge create alter drop begin start commit
		rollback end abort set reset with do grant revoke truncate vacuum reindex comment lock refresh
		cluster analyze analyse explain copy values call savepoint release prepare execute deallocate
		declare fetch move close listen notify unlisten load discard checkpoint security import table
		reassign`) {
		m[w] = true
	}
	return m
}()

// looksLikeProse is the stdin test for Markdown: the first non-blank line
// starts neither with SQL (a keyword, a comment, a psql command) nor with
// something a SQL file never starts with but Markdown does. A ``` fence
// line anywhere also makes it Markdown, whatever the answer starts with.
func looksLikeProse(text []byte) bool {
	it := lineIter{text: text}
	for it.scan() {
		if bytes.HasPrefix(bytes.TrimLeft(it.line(), " \t"), []byte("```")) {
			return true
		}
	}
	it = lineIter{text: text}
	for it.scan() {
		l := bytes.TrimSpace(it.line())
		if len(l) == 0 {
			continue
		}
		switch {
		case bytes.HasPrefix(l, []byte("--")), bytes.HasPrefix(l, []byte("/*")), l[0] == '\\', l[0] == ';', l[0] == '(':
			return false
		case bytes.HasPrefix(l, []byte("```")), bytes.HasPrefix(l, []byte("~~~")), l[0] == '#':
			return true
		}
		end := 0
		for end < len(l) && (isIdentCont(l[end]) && l[end] != '$') {
			end++
		}
		word := strings.ToLower(string(l[:end]))
		if !sqlStartWords[word] {
			return true
		}
		// "Create an index like this:" is prose that starts with a keyword;
		// SQL continues with a keyword or name, prose ends in ':' or '.'.
		rest := bytes.TrimSpace(l[end:])
		return bytes.HasSuffix(rest, []byte(":")) || bytes.HasSuffix(rest, []byte(".")) && !bytes.Contains(rest, []byte(";"))
	}
	return false
}
