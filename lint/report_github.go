package lint

import (
	"bufio"
	"strconv"
	"strings"
)

// writeGitHub prints GitHub Actions workflow commands, one per finding and
// per input error, which the runner turns into annotations on the diff.
// Pieces are escaped straight into the buffer: no per-finding strings.
func writeGitHub(w *bufio.Writer, res *Result, opts ReportOptions) error {
	for f := range res.AllFindings() {
		cmd := "notice"
		switch f.Severity {
		case SeverityError:
			cmd = "error"
		case SeverityWarning:
			cmd = "warning"
		}
		writeGitHubHead(w, cmd, opts.repoPath(f.File), f.Line, f.Column, f.EndLine, f.EndColumn, f.Rule)
		githubData.WriteString(w, f.Message)
		for _, l := range lockLines(f) {
			w.WriteString("%0ALock: ")
			githubData.WriteString(w, l)
		}
		if fix := strings.TrimSpace(f.Fix); fix != "" {
			w.WriteString("%0AFix:%0A")
			githubData.WriteString(w, fix)
		}
		if doc := DocURL(docOf(f)); doc != "" {
			w.WriteString("%0ASee ")
			githubData.WriteString(w, doc)
		}
		w.WriteByte('\n')
	}
	for _, e := range res.Errors {
		writeGitHubHead(w, "error", opts.repoPath(e.File), e.Line, e.Column, 0, 0, ParseErrorRule)
		githubData.WriteString(w, e.Message)
		w.WriteByte('\n')
	}
	return nil
}

// writeGitHubHead writes "::cmd file=F,line=L,...,title=T::".
func writeGitHubHead(w *bufio.Writer, cmd, file string, line, col, endLine, endCol int, title string) {
	w.WriteString("::")
	w.WriteString(cmd)
	w.WriteString(" file=")
	githubProperty.WriteString(w, file)
	// Zero means unknown (an unreadable file): GitHub then annotates the
	// file as a whole, which beats pointing at a made-up line.
	prop := func(name string, v int) {
		if v > 0 {
			w.WriteByte(',')
			w.WriteString(name)
			w.WriteByte('=')
			w.WriteString(strconv.Itoa(v))
		}
	}
	prop("line", line)
	prop("col", col)
	prop("endLine", endLine)
	// GitHub ignores col/endColumn on multi-line annotations; sending them
	// anyway keeps the one-line case precise.
	prop("endColumn", endCol)
	w.WriteString(",title=")
	githubProperty.WriteString(w, title)
	w.WriteString("::")
}

// GitHub's escaping rules (actions/toolkit command.ts): data escapes %, CR
// and LF; property values additionally escape : and , which would
// otherwise end the value.
var (
	githubData     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	githubProperty = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)
