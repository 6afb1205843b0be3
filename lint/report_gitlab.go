package lint

import (
	"bufio"
	"strings"
)

// GitLab Code Quality report: a JSON array of CodeClimate-style issues.
// GitLab matches issues between the base and head pipelines by
// fingerprint, so it must not depend on line numbers (squawk hashes with
// Rust's DefaultHasher, which is not even stable between its builds).
type gitlabIssue struct {
	Description string         `json:"description"`
	CheckName   string         `json:"check_name"`
	Fingerprint string         `json:"fingerprint"`
	Severity    string         `json:"severity"`
	Location    gitlabLocation `json:"location"`
}

type gitlabLocation struct {
	Path  string      `json:"path"`
	Lines gitlabLines `json:"lines"`
}

type gitlabLines struct {
	Begin int `json:"begin"`
	End   int `json:"end,omitempty"`
}

// gitlabSeverity maps ours onto GitLab's five levels: an error blocks an
// existing table, which is what "critical" means to a reviewer; "blocker"
// is kept for input that cannot be linted at all.
func gitlabSeverity(s Severity) string {
	switch s {
	case SeverityError:
		return "critical"
	case SeverityWarning:
		return "major"
	}
	return "info"
}

func writeGitLab(w *bufio.Writer, res *Result, opts ReportOptions) error {
	issues := make([]gitlabIssue, 0, len(res.Findings)+len(res.Errors))
	var fp fingerprinter
	for i := range res.Findings {
		f := &res.Findings[i]
		path := opts.repoPath(f.File)
		hash, _ := fp.next(f.Rule, path, f.Statement)
		desc := f.Message
		if ls := lockLines(f); len(ls) > 0 {
			desc += " (" + strings.Join(ls, "; ") + ")"
		}
		issues = append(issues, gitlabIssue{
			Description: desc,
			CheckName:   f.Rule,
			Fingerprint: hash,
			Severity:    gitlabSeverity(f.Severity),
			Location:    gitlabLocation{Path: path, Lines: gitlabLines{Begin: max(f.Line, 1), End: f.EndLine}},
		})
	}
	for _, e := range res.Errors {
		path := opts.repoPath(e.File)
		hash, _ := fp.next(ParseErrorRule, path, e.Message)
		issues = append(issues, gitlabIssue{
			Description: e.Message,
			CheckName:   ParseErrorRule,
			Fingerprint: hash,
			Severity:    "blocker",
			Location:    gitlabLocation{Path: path, Lines: gitlabLines{Begin: max(e.Line, 1)}},
		})
	}
	return encodeJSON(w, issues)
}
