package lint

import (
	"bufio"
	"net/url"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"
)

// sarifFingerprintKey is our own partial fingerprint, versioned so that a
// future change of the hash does not silently re-open every alert.
const sarifFingerprintKey = "migrateStatementHash/v1"

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// writeSARIF writes a SARIF 2.1.0 log with one run, in the shape GitHub code
// scanning ingests: the rules that results refer to, results with
// repository-relative URIs and 1-based regions, and partial fingerprints
// built from the statement rather than the line, so alerts survive edits
// above them.
func writeSARIF(w *bufio.Writer, res *Result, opts ReportOptions) error {
	report, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	driver := sarif.NewDriver("migrate").WithInformationURI(ProjectURL)
	if opts.ToolVersion != "" {
		driver.WithVersion(opts.ToolVersion)
	}
	ruleIndex := map[string]uint{}
	for _, r := range opts.ruleDescriptors(res) {
		ruleIndex[r.Name] = uint(len(driver.Rules))
		driver.Rules = append(driver.Rules, sarifRule(r))
	}
	run := sarif.NewRun(sarif.Tool{Driver: driver})

	var fp fingerprinter
	for i := range res.Findings {
		f := &res.Findings[i]
		uri := opts.repoPath(f.File)
		hash, occurrence := fp.next(f.Rule, uri, f.Statement)
		r := sarif.NewRuleResult(f.Rule).
			WithLevel(sarifLevel(f.Severity)).
			WithMessage(sarif.NewTextMessage(sarifMessage(f))).
			WithRuleIndex(int(ruleIndex[f.Rule])).
			WithPartialFingerPrints(map[string]any{
				sarifFingerprintKey: hash,
				// GitHub computes primaryLocationLineHash from the
				// line's text unless the log has one; ours follows the
				// statement instead, in GitHub's "hash:occurrence" shape.
				"primaryLocationLineHash": hash[:32] + ":" + strconv.Itoa(occurrence+1),
			})
		r.AddLocation(sarifLocation(uri, f.Line, f.Column, f.EndLine, f.EndColumn))
		props := sarif.Properties{
			"rewrite": f.Rewrite,
			"scan":    f.Scan,
		}
		if len(f.Locks) > 0 {
			props["locks"] = f.Locks
		}
		if f.Fix != "" {
			props["fix"] = f.Fix
		}
		r.Properties = props
		run.Results = append(run.Results, r)
	}

	ok := len(res.Errors) == 0
	inv := sarif.NewInvocation().WithExecutionSuccess(ok)
	for _, e := range res.Errors {
		uri := opts.repoPath(e.File)
		hash, occurrence := fp.next(ParseErrorRule, uri, e.Message)
		loc := sarifLocation(uri, e.Line, e.Column, 0, 0)
		// As a result, so that code scanning shows the file as failing
		// rather than clean; as a notification, so that the tool-status
		// page says the run was incomplete.
		r := sarif.NewRuleResult(ParseErrorRule).
			WithLevel("error").
			WithMessage(sarif.NewTextMessage(e.Message)).
			WithRuleIndex(int(ruleIndex[ParseErrorRule])).
			WithPartialFingerPrints(map[string]any{
				sarifFingerprintKey:       hash,
				"primaryLocationLineHash": hash[:32] + ":" + strconv.Itoa(occurrence+1),
			})
		r.AddLocation(loc)
		run.Results = append(run.Results, r)
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, &sarif.Notification{
			Level:     "error",
			Message:   sarif.NewTextMessage(e.Message),
			Locations: []*sarif.Location{loc},
		})
	}
	run.Invocations = []*sarif.Invocation{inv}
	report.AddRun(run)
	return encodeJSON(w, report)
}

func sarifRule(r *Rule) *sarif.ReportingDescriptor {
	d := sarif.NewRule(r.Name)
	short := r.Doc
	if short == "" {
		short = r.Name
	}
	d.WithShortDescription(sarif.NewMultiformatMessageString(short))
	d.WithFullDescription(sarif.NewMultiformatMessageString(short))
	if r.Name != ParseErrorRule {
		url := DocURL(r.DocPath())
		d.WithHelpURI(url)
		d.WithHelp(sarif.NewMultiformatMessageString(short + "\n\nSee " + url).
			WithMarkdown(short + "\n\nSee [" + r.DocPath() + "](" + url + ")."))
	}
	level := sarifLevel(SeverityError)
	if r.Severity != 0 {
		level = sarifLevel(r.Severity)
	}
	d.WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level))
	return d
}

// sarifMessage is the finding's message with the lock facts and the safe
// alternative appended: code scanning shows only the message text next to
// the code.
func sarifMessage(f *Finding) string {
	var b strings.Builder
	b.WriteString(f.Message)
	for _, l := range lockLines(f) {
		b.WriteString("\nLock: ")
		b.WriteString(l)
	}
	if fix := strings.TrimSpace(f.Fix); fix != "" {
		b.WriteString("\nFix:\n")
		b.WriteString(fix)
	}
	return b.String()
}

// sarifLocation builds a physical location. SARIF's endColumn points just
// past the region, ours at its last character, hence the +1. Unknown
// positions (zero) are left out rather than invented: the schema requires
// lines and columns of at least 1.
func sarifLocation(uri string, line, col, endLine, endCol int) *sarif.Location {
	// A path is not a URI: spaces, % and the like must be escaped, and
	// url.URL also guards a first segment with a colon from reading as a
	// scheme.
	ref := (&url.URL{Path: uri}).String()
	al := sarif.NewSimpleArtifactLocation(ref).WithUriBaseId("%SRCROOT%")
	pl := sarif.NewPhysicalLocation().WithArtifactLocation(al)
	if line > 0 {
		reg := sarif.NewRegion().WithStartLine(line)
		if col > 0 {
			reg.WithStartColumn(col)
		}
		if endLine >= line {
			reg.WithEndLine(endLine)
			if endCol > 0 && (endLine > line || endCol >= col) {
				reg.WithEndColumn(endCol + 1)
			}
		}
		pl.WithRegion(reg)
	}
	return sarif.NewLocationWithPhysicalLocation(pl)
}
