package lint

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ProjectURL is where the tool and its rule documentation live; SARIF and
// the text report link rule pages under it.
const ProjectURL = "https://github.com/migrate-tool/migrate"

// ParseErrorRule is the rule id under which inputs that could not be linted
// appear in formats that only know rule results (sarif, gitlab), so that CI
// shows them instead of silently passing.
const ParseErrorRule = "parse-error"

// Formats lists the report formats WriteReport accepts, default first.
var Formats = []string{"text", "json", "sarif", "github", "gitlab"}

// ReportOptions tune a report without changing what it says.
type ReportOptions struct {
	// Color adds ANSI colours to the text format. The CLI sets it only
	// when stdout is a terminal and NO_COLOR is unset.
	Color bool
	// BaseDir, when set, rewrites file paths relative to it in the sarif,
	// github and gitlab formats: their consumers resolve paths from the
	// repository root, while the user typed paths relative to WorkDir.
	BaseDir string
	// WorkDir is the directory relative input paths are relative to
	// (the CLI's working directory). Empty means BaseDir.
	WorkDir string
	// ToolVersion goes into the SARIF driver.
	ToolVersion string
	// Rules describe rule ids in SARIF (descriptions, default levels).
	// Nil means every registered rule; tests pass their own so that golden
	// files do not change whenever a rule is added.
	Rules []*Rule
}

// WriteReport writes res to w in the given format. Output is buffered and
// flushed before returning.
func WriteReport(w io.Writer, res *Result, format string, opts ReportOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	// text, json and github stream one finding at a time from a compact
	// Result; sarif and gitlab build their document from the slice.
	switch format {
	case "text", "":
		err = writeText(bw, res, opts)
	case "json":
		err = writeJSON(bw, res)
	case "sarif":
		res.Materialize()
		err = writeSARIF(bw, res, opts)
	case "github":
		err = writeGitHub(bw, res, opts)
	case "gitlab":
		res.Materialize()
		err = writeGitLab(bw, res, opts)
	default:
		return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// DocURL turns a finding's doc path (docs/rules/<rule>.md, relative to the
// repository root) into a link a user can open from anywhere.
func DocURL(doc string) string {
	if doc == "" || strings.Contains(doc, "://") {
		return doc
	}
	return ProjectURL + "/blob/main/" + strings.TrimPrefix(doc, "/")
}

func docOf(f *Finding) string {
	if f.Doc != "" {
		return f.Doc
	}
	if f.Rule == "" {
		return ""
	}
	return "docs/rules/" + f.Rule + ".md"
}

// repoPath rewrites a user-given path for consumers that resolve paths from
// the repository root, always with forward slashes.
func (o *ReportOptions) repoPath(p string) string {
	if p == "-" || p == "" {
		return "<stdin>"
	}
	if o.BaseDir != "" {
		abs := p
		if !filepath.IsAbs(abs) {
			wd := o.WorkDir
			if wd == "" {
				wd = o.BaseDir
			}
			abs = filepath.Join(wd, abs)
		}
		if rel, err := filepath.Rel(o.BaseDir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			p = rel
		}
	}
	p = filepath.ToSlash(filepath.Clean(p))
	return strings.TrimPrefix(p, "./")
}

// lockSentence says what one lock blocks, e.g.
// "ACCESS EXCLUSIVE on public.users — blocks reads and writes".
func lockSentence(l Lock) string {
	var b strings.Builder
	b.WriteString(l.Mode)
	if l.Relation != "" {
		b.WriteString(" on ")
		b.WriteString(l.Relation)
	}
	b.WriteString(" — ")
	switch len(l.Blocks) {
	case 0:
		b.WriteString("does not block reads or writes")
	case 1:
		b.WriteString("blocks ")
		b.WriteString(l.Blocks[0])
	default:
		b.WriteString("blocks ")
		b.WriteString(strings.Join(l.Blocks[:len(l.Blocks)-1], ", "))
		b.WriteString(" and ")
		b.WriteString(l.Blocks[len(l.Blocks)-1])
	}
	return b.String()
}

// lockLines renders a finding's locks, one line each, with the rewrite and
// scan facts added to the first so that the worst news is on one line.
func lockLines(f *Finding) []string {
	var extra []string
	if f.Rewrite {
		extra = append(extra, "rewrites the table")
	}
	if f.Scan {
		extra = append(extra, "scans the table")
	}
	var out []string
	for i, l := range f.Locks {
		s := lockSentence(l)
		if i == 0 && len(extra) > 0 {
			s += "; " + strings.Join(extra, "; ")
		}
		out = append(out, s)
	}
	if len(out) == 0 && len(extra) > 0 {
		out = append(out, strings.Join(extra, "; "))
	}
	return out
}

// fingerprints gives each finding a hash of what it is about (rule, file,
// statement text with whitespace collapsed) rather than where it is, so
// that an unrelated edit above a statement does not turn an old finding
// into a new one in GitLab or GitHub code scanning. Identical statements
// are told apart by their occurrence number within the file.
type fingerprinter struct {
	seen map[string]int
}

func (fp *fingerprinter) next(rule, path, statement string) (hash string, occurrence int) {
	h := sha256.New()
	h.Write([]byte("migrate/v1\x00"))
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	writeCollapsed(h, statement)
	hash = hex.EncodeToString(h.Sum(nil))
	if fp.seen == nil {
		fp.seen = map[string]int{}
	}
	occurrence = fp.seen[hash]
	fp.seen[hash] = occurrence + 1
	if occurrence > 0 {
		sum := sha256.Sum256([]byte(hash + ":" + strconv.Itoa(occurrence)))
		hash = hex.EncodeToString(sum[:])
	}
	return hash, occurrence
}

// writeCollapsed writes s with every run of whitespace turned into one
// space and leading and trailing whitespace dropped, so that re-indenting a
// statement keeps its fingerprint.
func writeCollapsed(w io.Writer, s string) {
	var buf []byte
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			space = len(buf) > 0
			continue
		}
		if space {
			buf = append(buf, ' ')
			space = false
		}
		buf = append(buf, c)
	}
	w.Write(buf)
}

// eachByFile calls fn for the findings grouped by file, in the order of
// res.Files and then of files only findings mention, each file's findings
// in report order.
func eachByFile(res *Result, fn func(*Finding)) {
	if res.compact != nil {
		// Lint orders compact findings by source, that is by res.Files.
		for f := range res.AllFindings() {
			fn(f)
		}
		return
	}
	for _, group := range findingsByFile(res) {
		for _, f := range group {
			fn(f)
		}
	}
}

// findingsByFile groups findings by file in the order of res.Files, then
// any files only findings mention, in first-seen order, keeping each
// file's findings in their given order. One pass, no re-sorting of text.
func findingsByFile(res *Result) [][]*Finding {
	index := map[string]int{}
	var groups [][]*Finding
	for _, f := range res.Files {
		if _, ok := index[f.Path]; !ok {
			index[f.Path] = len(groups)
			groups = append(groups, nil)
		}
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		g, ok := index[f.File]
		if !ok {
			g = len(groups)
			index[f.File] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], f)
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// ruleDescriptors returns the rules that res mentions, sorted by name,
// described from opts.Rules (or the registry) when known.
func (o *ReportOptions) ruleDescriptors(res *Result) []*Rule {
	known := o.Rules
	if known == nil {
		known = All()
	}
	byName := make(map[string]*Rule, len(known))
	for _, r := range known {
		byName[r.Name] = r
	}
	used := map[string]*Rule{}
	for f := range res.AllFindings() {
		if _, ok := used[f.Rule]; ok {
			continue
		}
		if r, ok := byName[f.Rule]; ok {
			used[f.Rule] = r
		} else {
			// A rule the registry does not know (a hand-built result, or
			// the unused-ignore check): describe it by what we have.
			used[f.Rule] = &Rule{Name: f.Rule, Severity: f.Severity}
		}
	}
	if len(res.Errors) > 0 {
		used[ParseErrorRule] = &Rule{
			Name:     ParseErrorRule,
			Doc:      "The input could not be read or parsed, so it was not linted.",
			Severity: SeverityError,
		}
	}
	out := make([]*Rule, 0, len(used))
	for _, r := range used {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
