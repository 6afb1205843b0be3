package lint

import (
	"bufio"
	"strconv"
	"strings"
)

// snippetLines caps the statement excerpt under a finding: enough to
// recognise the statement, short enough that a CREATE TABLE with fifty
// columns does not bury the next finding.
const snippetLines = 4

type palette struct {
	bold, dim, red, yellow, cyan, green, reset string
}

func newPalette(color bool) palette {
	if !color {
		return palette{}
	}
	return palette{
		bold:   "\x1b[1m",
		dim:    "\x1b[2m",
		red:    "\x1b[1;31m",
		yellow: "\x1b[1;33m",
		cyan:   "\x1b[1;36m",
		green:  "\x1b[32m",
		reset:  "\x1b[0m",
	}
}

func (p palette) severity(s Severity) string {
	switch s {
	case SeverityError:
		return p.red
	case SeverityWarning:
		return p.yellow
	}
	return p.cyan
}

// writeText renders findings for a person. It works from the finding's own
// fields (the statement text travels with it) and never goes back to the
// source file, so its cost is linear in the size of the findings: squawk's
// terminal reporter re-reads the whole file for every diagnostic.
func writeText(w *bufio.Writer, res *Result, opts ReportOptions) error {
	p := newPalette(opts.Color)
	eachByFile(res, func(f *Finding) {
		writeTextFinding(w, p, f)
		w.WriteByte('\n')
	})
	w.WriteString(textSummary(res, p))
	w.WriteByte('\n')
	return nil
}

func writeTextFinding(w *bufio.Writer, p palette, f *Finding) {
	w.WriteString(p.bold)
	w.WriteString(f.File)
	w.WriteByte(':')
	w.WriteString(strconv.Itoa(f.Line))
	w.WriteByte(':')
	w.WriteString(strconv.Itoa(f.Column))
	w.WriteString(":")
	w.WriteString(p.reset)
	w.WriteByte(' ')
	w.WriteString(p.severity(f.Severity))
	w.WriteString(f.Severity.String())
	w.WriteString(p.reset)
	w.WriteString(": ")
	w.WriteString(p.bold)
	w.WriteString(f.Rule)
	w.WriteString(p.reset)
	w.WriteString(": ")
	writeIndented(w, f.Message, "    ")
	w.WriteByte('\n')

	writeSnippet(w, p, f)
	for _, l := range lockLines(f) {
		w.WriteString("    ")
		w.WriteString(p.yellow)
		w.WriteString("lock: ")
		w.WriteString(p.reset)
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if fix := strings.TrimSpace(f.Fix); fix != "" {
		w.WriteString("    ")
		w.WriteString(p.green)
		w.WriteString("fix:")
		w.WriteString(p.reset)
		w.WriteString("\n        ")
		writeIndented(w, fix, "        ")
		w.WriteByte('\n')
	}
	if doc := DocURL(docOf(f)); doc != "" {
		w.WriteString("    ")
		w.WriteString(p.dim)
		w.WriteString("see: ")
		w.WriteString(doc)
		w.WriteString(p.reset)
		w.WriteByte('\n')
	}
}

// writeSnippet prints the first lines of the statement with their line
// numbers, counted from the finding's line: the statement is the only
// source text the reporter ever looks at.
func writeSnippet(w *bufio.Writer, p palette, f *Finding) {
	text := strings.TrimRight(f.Statement, " \t\r\n")
	if text == "" {
		return
	}
	lines := 1 + strings.Count(text, "\n")
	shown := min(lines, snippetLines)
	width := len(strconv.Itoa(f.Line + shown - 1))
	rest := text
	for i := 0; i < shown; i++ {
		line := rest
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = ""
		}
		num := strconv.Itoa(f.Line + i)
		w.WriteString("    ")
		w.WriteString(p.dim)
		w.WriteString(strings.Repeat(" ", width-len(num)))
		w.WriteString(num)
		w.WriteString(" | ")
		w.WriteString(p.reset)
		w.WriteString(strings.TrimRight(line, "\r"))
		w.WriteByte('\n')
	}
	if lines > shown {
		w.WriteString("    ")
		w.WriteString(p.dim)
		w.WriteString(strings.Repeat(" ", width))
		w.WriteString(" | … ")
		w.WriteString(plural(lines-shown, "more line", "more lines"))
		w.WriteString(p.reset)
		w.WriteByte('\n')
	}
}

// writeIndented writes s, indenting every line after the first so that a
// multi-line message or fix stays under its heading.
func writeIndented(w *bufio.Writer, s, indent string) {
	for {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			w.WriteString(strings.TrimRight(s, "\r"))
			return
		}
		w.WriteString(strings.TrimRight(s[:nl], "\r"))
		w.WriteByte('\n')
		w.WriteString(indent)
		s = s[nl+1:]
	}
}

// textSummary is the closing line, e.g.
// "3 errors, 1 warning in 2 files (12 statements)".
func textSummary(res *Result, p palette) string {
	errs, warns, infos := res.SeverityCounts()
	var parts []string
	if errs > 0 {
		parts = append(parts, p.red+plural(errs, "error", "errors")+p.reset)
	}
	if warns > 0 {
		parts = append(parts, p.yellow+plural(warns, "warning", "warnings")+p.reset)
	}
	if infos > 0 {
		parts = append(parts, p.cyan+strconv.Itoa(infos)+" info"+p.reset)
	}
	head := "no problems"
	if len(res.Errors) > 0 {
		// Not "no problems": part of the input was never looked at.
		head = "no findings"
	}
	if len(parts) > 0 {
		head = strings.Join(parts, ", ")
	}
	stmts := 0
	for _, f := range res.Files {
		stmts += f.Statements
	}
	s := head + " in " + plural(len(res.Files), "file", "files") + " (" + plural(stmts, "statement", "statements") + ")"
	if len(res.Errors) > 0 {
		failed := map[string]bool{}
		for _, e := range res.Errors {
			failed[e.File] = true
		}
		s += "; " + p.red + plural(len(failed), "file", "files") + " could not be linted" + p.reset
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
