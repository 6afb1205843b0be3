package migrate

// Emit writes a plan as the migration files of a runner teams already use
// (golang-migrate, goose, dbmate, Flyway). Those runners know nothing of
// lock timeouts, CONCURRENTLY or batched backfills, so each file carries
// what the plan would otherwise enforce at run time: its timeouts, its
// transaction mode, and for a backfill the batching loop itself.
//
// How each runner executes a file decides the layout:
//
//   - golang-migrate sends the whole file as one query string. PostgreSQL
//     runs a multi-statement string as one implicit transaction, so a
//     transactional file needs no BEGIN (an explicit one would leave the
//     session in an aborted transaction on error), SET LOCAL holds for the
//     file, and a non-transactional statement must be alone in its file.
//   - dbmate executes the whole up (or down) block with one Exec, in a
//     transaction unless transaction:false: the same one-statement rule.
//   - goose splits the file into statements and runs them in a transaction
//     unless NO TRANSACTION, one by one otherwise.
//   - Flyway splits the file too and runs it in a transaction unless the
//     script's .conf file says executeInTransaction=false.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// EmitFormat names a migration runner whose file layout Emit writes.
type EmitFormat string

const (
	GolangMigrate EmitFormat = "golang-migrate"
	Goose         EmitFormat = "goose"
	Dbmate        EmitFormat = "dbmate"
	Flyway        EmitFormat = "flyway"
)

// EmitFormats lists the formats Emit accepts.
var EmitFormats = []EmitFormat{GolangMigrate, Goose, Dbmate, Flyway}

// Emit defaults for the SQL backfill procedure; they mirror apply's flags.
const (
	DefaultEmitBatch   = 1000
	DefaultEmitMaxLag  = 1500 * time.Millisecond
	DefaultEmitMaxWait = 30 * time.Minute
)

// EmitOptions tune Emit. Versions come from VersionPrefix, else
// StartVersion, else the numeric prefix of Source's file name, else Now.
type EmitOptions struct {
	Format EmitFormat
	// VersionPrefix is prepended to a two-digit (or wider) file number.
	VersionPrefix string
	// StartVersion is the first file's version; the next ones count up
	// from it, keeping its width.
	StartVersion string
	// Source is the migration file the plan came from.
	Source string
	// Now is the timestamp base when nothing else gives a version.
	Now time.Time
	// Key is the keyset a backfill procedure walks when the plan names
	// none (default "id").
	Key []string
	// Batch, MaxLag and MaxWait tune the backfill procedure: rows per
	// batch, the standby replay lag it waits out between batches, and how
	// long it waits before giving up.
	Batch           int
	MaxLag, MaxWait time.Duration
	// LockTimeout bounds each backfill batch's row-lock waits.
	LockTimeout time.Duration
}

// EmittedFile is one file to write into the output directory.
type EmittedFile struct {
	Name    string
	Content string
}

// Emission is what Emit produced.
type Emission struct {
	Files []EmittedFile
	// Note tells the user something about the versions chosen (empty when
	// there is nothing to say).
	Note string
}

// unitKind is what one emitted migration (one version) does.
type unitKind int

const (
	unitTx       unitKind = iota // transactional steps sharing a transaction
	unitNoTx                     // a statement that must run outside a transaction
	unitFill                     // create, call and drop the backfill procedure
	unitFillProc                 // create the backfill procedure
	unitFillCall                 // call it (alone: it commits)
	unitFillDrop                 // drop it
)

// unit is one migration version: its steps and what it runs.
type unit struct {
	kind  unitKind
	phase Phase
	steps []Step
	// stmts and undo are the statements of a non-transactional unit.
	stmts, undo []string
	proc        string // the backfill procedure's name
}

func (u *unit) breaking() bool {
	for _, s := range u.steps {
		if s.Breaking {
			return true
		}
	}
	return false
}

func (u *unit) unsafe() bool {
	for _, s := range u.steps {
		if s.Unsafe != "" {
			return true
		}
	}
	return false
}

// oneStatement reports whether the format runs a file as one query string,
// so that a statement refusing transaction blocks must be alone in it.
func (f EmitFormat) oneStatement() bool { return f == GolangMigrate || f == Dbmate }

// Emit renders the plan as the format's migration files, in the order the
// runner applies them. A plan with refused statements is not emitted: the
// runner would apply the rest and skip what was refused without a trace.
func (p *Plan) Emit(opts EmitOptions) (*Emission, error) {
	if len(p.Refused) > 0 {
		return nil, fmt.Errorf("%d statement(s) have no online path; nothing emitted", len(p.Refused))
	}
	known := false
	for _, f := range EmitFormats {
		known = known || f == opts.Format
	}
	if !known {
		return nil, fmt.Errorf("unknown format %q", opts.Format)
	}
	if len(opts.Key) == 0 {
		opts.Key = []string{"id"}
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultEmitBatch
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultEmitMaxLag
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultEmitMaxWait
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	units, err := p.units(opts.Format)
	if err != nil {
		return nil, err
	}
	versions, note, err := emitVersions(opts, len(units))
	if err != nil {
		return nil, err
	}
	e := &emitter{opts: opts}
	out := &Emission{Note: note}
	for i, u := range units {
		out.Files = append(out.Files, e.render(u, versions[i], unitName(u))...)
	}
	return out, nil
}

// units groups the steps into migrations. Consecutive transactional steps
// of one phase share a transaction until one takes a strong lock: that one
// ends the file, so no strong lock is held while later statements run.
// Breaking and unsafe steps get files of their own, so they can be held
// back or reviewed by name.
func (p *Plan) units(f EmitFormat) ([]*unit, error) {
	var out []*unit
	var cur *unit
	flush := func() {
		if cur != nil {
			out = append(out, cur)
			cur = nil
		}
	}
	for _, s := range p.Steps {
		switch {
		case s.Backfill != nil:
			flush()
			proc := fitName(reservedPrefix + "backfill_" + strconv.Itoa(s.ID) + "_" + slug(relName(unquoteName(s.Backfill.Table)), 30))
			if f.oneStatement() {
				for _, k := range []unitKind{unitFillProc, unitFillCall, unitFillDrop} {
					out = append(out, &unit{kind: k, phase: s.Phase, steps: []Step{s}, proc: proc})
				}
			} else {
				out = append(out, &unit{kind: unitFill, phase: s.Phase, steps: []Step{s}, proc: proc})
			}
		case !s.InTransaction:
			flush()
			stmts, err := splitSQL(s.SQL)
			if err != nil {
				return nil, fmt.Errorf("step %d: %v", s.ID, err)
			}
			undo, err := splitSQL(s.Undo)
			if err != nil {
				return nil, fmt.Errorf("step %d undo: %v", s.ID, err)
			}
			if !f.oneStatement() || len(stmts) <= 1 {
				out = append(out, &unit{kind: unitNoTx, phase: s.Phase, steps: []Step{s}, stmts: stmts, undo: undo})
				continue
			}
			// Down files run in reverse: the whole undo goes with the
			// first statement's file, which is undone last.
			for i, st := range stmts {
				u := &unit{kind: unitNoTx, phase: s.Phase, steps: []Step{s}, stmts: []string{st}}
				if i == 0 {
					u.undo = undo
				}
				out = append(out, u)
			}
		default:
			separate := s.Breaking || s.Unsafe != ""
			if cur != nil && (cur.phase != s.Phase || separate || cur.breaking() || cur.unsafe()) {
				flush()
			}
			if cur == nil {
				cur = &unit{kind: unitTx, phase: s.Phase}
			}
			cur.steps = append(cur.steps, s)
			if strongLock(s) || separate {
				flush()
			}
		}
	}
	flush()
	return out, nil
}

// strongLock reports whether the step takes a lock that blocks the
// application's reads or writes (SHARE or stronger).
func strongLock(s Step) bool {
	for _, l := range s.Locks {
		if modeRank(l.Mode) >= modeRank("SHARE") {
			return true
		}
	}
	return false
}

// splitSQL cuts SQL into statements, each ending with a semicolon.
func splitSQL(sql string) ([]string, error) {
	if strings.TrimSpace(sql) == "" {
		return nil, nil
	}
	parts, err := pg_query.SplitWithParser(sql, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range parts {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
		if s != "" {
			out = append(out, s+";")
		}
	}
	return out, nil
}

// unitName is the descriptive part of a file name: the phase first, so
// that a contract file says so wherever it is listed.
func unitName(u *unit) string {
	parts := []string{string(u.phase)}
	if u.breaking() {
		parts = []string{"contract"}
	}
	if u.unsafe() {
		parts = append(parts, "unsafe")
	}
	switch u.kind {
	case unitFill, unitFillProc, unitFillCall, unitFillDrop:
		b := u.steps[0].Backfill
		parts = append(parts, slug(relName(unquoteName(b.Table)), 30))
		if cols := setColumns(b.Set); cols != "" {
			parts = append(parts, slug(cols, 30))
		}
		switch u.kind {
		case unitFillProc:
			parts = append(parts, "prepare")
		case unitFillDrop:
			parts = append(parts, "cleanup")
		}
	default:
		first := slug(shortDescription(u.steps[0].Description), 40)
		parts = append(parts, first)
		if n := len(u.steps); n > 1 {
			if last := slug(shortDescription(u.steps[n-1].Description), 30); last != first {
				parts = append(parts, "then", last)
			}
		}
	}
	return strings.Join(parts, "_")
}

// shortDescription is a description up to its first clause break: the
// rest explains, and would make file names unreadably long.
func shortDescription(d string) string {
	if i := strings.IndexAny(d, ",;:("); i > 0 {
		d = d[:i]
	}
	return d
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// slug turns text into a file-name word list of at most max bytes, cut at
// a word boundary.
func slug(s string, max int) string {
	s = strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "_"), "_")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	if i := strings.LastIndexByte(s, '_'); i > 0 {
		s = s[:i]
	}
	return s
}

// unquoteName drops the double quotes of an SQL name, for file names.
func unquoteName(s string) string { return strings.ReplaceAll(s, `"`, "") }

// setColumns lists the columns a backfill's SET list assigns ("a, b").
func setColumns(set string) string {
	if set == "" {
		return "delete"
	}
	r, err := pg_query.Parse("UPDATE t SET " + set)
	if err != nil || len(r.Stmts) != 1 || r.Stmts[0].Stmt.GetUpdateStmt() == nil {
		return ""
	}
	var cols []string
	for _, t := range r.Stmts[0].Stmt.GetUpdateStmt().TargetList {
		if rt := t.GetResTarget(); rt != nil {
			cols = append(cols, rt.Name)
		}
	}
	return strings.Join(cols, "_")
}

var digitsRE = regexp.MustCompile(`^[0-9]+`)

// emitVersions picks n versions that sort in order, as numbers and as
// strings, for the runner (see EmitOptions).
func emitVersions(opts EmitOptions, n int) ([]string, string, error) {
	out := make([]string, n)
	width := len(strconv.Itoa(n))
	if width < 2 {
		width = 2
	}
	if opts.VersionPrefix != "" {
		ok := regexp.MustCompile(`^[0-9]+$`)
		if opts.Format == Flyway {
			ok = regexp.MustCompile(`^[0-9]+([._][0-9]+)*[._]?$`)
		}
		if !ok.MatchString(opts.VersionPrefix) {
			return nil, "", fmt.Errorf("version prefix %q: want digits (Flyway: digits and dots)", opts.VersionPrefix)
		}
		for i := range out {
			out[i] = fmt.Sprintf("%s%0*d", opts.VersionPrefix, width, i+1)
		}
		return out, "", nil
	}
	start := opts.StartVersion
	fromSource := false
	if start == "" && opts.Source != "" && opts.Source != "-" {
		start = digitsRE.FindString(filepath.Base(opts.Source))
		fromSource = start != ""
	}
	if start != "" && digitsRE.FindString(start) != start {
		return nil, "", fmt.Errorf("start version %q: want digits", start)
	}
	if start == "" || (fromSource && len(start) == 14) {
		// A timestamp version (the runners' own `create` default): count
		// up in seconds, which keeps the width and so the order against
		// the timestamps of other files.
		base := opts.Now.UTC()
		if start != "" {
			t, err := time.Parse("20060102150405", start)
			if err != nil {
				return nil, "", fmt.Errorf("version %s of %s looks like a timestamp but is not one: %v", start, opts.Source, err)
			}
			base = t
		}
		for i := range out {
			out[i] = base.Add(time.Duration(i) * time.Second).Format("20060102150405")
		}
		return out, "", nil
	}
	if fromSource && opts.Format == Flyway {
		// Flyway orders dotted versions part by part: 42.1 .. 42.n sit
		// between 42 and 43, where the migration was.
		for i := range out {
			out[i] = fmt.Sprintf("%s.%d", start, i+1)
		}
		return out, "", nil
	}
	v, err := strconv.ParseUint(start, 10, 63)
	if err != nil {
		return nil, "", fmt.Errorf("start version %q: %v", start, err)
	}
	for i := range out {
		out[i] = fmt.Sprintf("%0*d", len(start), v+uint64(i))
	}
	note := ""
	if fromSource && n > 1 {
		note = fmt.Sprintf("versions %s to %s continue from %s's number: renumber the migrations after it, or pick others with --start-version or --version-prefix",
			out[0], out[n-1], filepath.Base(opts.Source))
	}
	return out, note, nil
}
