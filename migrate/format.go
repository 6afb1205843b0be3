package migrate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/migrate-tool/migrate/lint"
)

// WriteText prints the plan for people: steps grouped by phase, each with
// its lock, timeouts, transaction mode and undo; refusals last.
func (p *Plan) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	counts := map[Phase]int{}
	for _, s := range p.Steps {
		counts[s.Phase]++
	}
	fmt.Fprintf(bw, "%d steps: %d expand, %d backfill, %d contract", len(p.Steps), counts[Expand], counts[Backfill], counts[Contract])
	if len(p.Refused) > 0 {
		fmt.Fprintf(bw, "; %d refused", len(p.Refused))
	}
	bw.WriteString("\n")
	if n := p.assuming(); n > 0 {
		fmt.Fprintf(bw, "%d of these steps depend on facts the files do not give (marked 'assumes'); plan with --dsn to read them from the database\n", n)
	}
	for _, ph := range []Phase{Expand, Backfill, Contract} {
		if counts[ph] == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n%s\n", ph)
		for _, s := range p.Steps {
			if s.Phase != ph {
				continue
			}
			var marks []string
			if s.Breaking {
				marks = append(marks, "BREAKING: waits for 'migrate complete'")
			}
			if s.Unsafe != "" {
				marks = append(marks, "UNSAFE: outage accepted ("+s.Unsafe+")")
			}
			if !s.InTransaction && s.Backfill == nil {
				marks = append(marks, "no transaction")
			}
			mark := ""
			if len(marks) > 0 {
				mark = " [" + strings.Join(marks, "; ") + "]"
			}
			fmt.Fprintf(bw, "  %d. %s%s\n", s.ID, s.Description, mark)
			fmt.Fprintf(bw, "     from %s\n", s.Source)
			if s.Split != "" {
				fmt.Fprintf(bw, "     transaction %d: split out: %s\n", s.Group, s.Split)
			}
			fmt.Fprintf(bw, "     lock: %s\n", lockText(s.Locks))
			if s.Assumes != "" {
				fmt.Fprintf(bw, "     assumes: %s\n", s.Assumes)
			}
			if s.Backfill == nil {
				fmt.Fprintf(bw, "     timeouts: lock %s, statement %s\n", durText(s.LockTimeout), durText(s.StatementTimeout))
				bw.WriteString(indent(s.SQL, "     | "))
			} else {
				bw.WriteString(indent(s.Backfill.Command(), "     $ "))
			}
			if s.Undo != "" {
				bw.WriteString(indent(s.Undo, "     undo: "))
			} else {
				bw.WriteString("     undo: none\n")
			}
		}
	}
	p.writeGroupsText(bw)
	if len(p.Refused) > 0 {
		bw.WriteString("\nrefused (nothing runs; --allow-unsafe RULE keeps a statement as written and accepts its outage)\n")
		for _, r := range p.Refused {
			fmt.Fprintf(bw, "  %s: %s: %s\n", r.Source, r.Rule, r.Reason)
		}
	}
	return bw.Flush()
}

// assuming counts the steps that depend on facts the plan does not know.
func (p *Plan) assuming() int {
	n := 0
	for _, s := range p.Steps {
		if s.Assumes != "" {
			n++
		}
	}
	return n
}

// writeGroupsText describes the source transactions the plan split.
func (p *Plan) writeGroupsText(bw *bufio.Writer) {
	header := false
	for i := range p.Groups {
		g := &p.Groups[i]
		if !g.shown() {
			continue
		}
		if !header {
			bw.WriteString("\ntransactions of the source\n")
			header = true
		}
		fmt.Fprintf(bw, "  %s\n", g.summary(undoByApply))
		if note := g.irreversibleNote(); note != "" {
			fmt.Fprintf(bw, "    WARNING: %s\n", note)
		}
	}
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	var b strings.Builder
	pad := strings.Repeat(" ", len(prefix))
	for i, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if i == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(pad)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func lockText(locks []lint.Lock) string {
	if len(locks) == 0 {
		return "none on existing tables"
	}
	parts := make([]string, len(locks))
	for i, l := range locks {
		blocks := "blocks nothing"
		if len(l.Blocks) > 0 {
			blocks = "blocks " + strings.Join(l.Blocks, ", ")
		}
		parts[i] = l.Mode + " on " + l.Relation + " (" + blocks + ")"
	}
	return strings.Join(parts, "; ")
}

func durText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

// Command is the `migrate backfill` invocation that runs the spec.
func (b *BackfillSpec) Command() string {
	var args []string
	args = append(args, "migrate backfill --table "+shellQuote(b.Table))
	if b.Delete {
		args = append(args, "--delete")
	} else {
		args = append(args, "--set "+shellQuote(b.Set))
	}
	if b.Where != "" {
		args = append(args, "--where "+shellQuote(b.Where))
	} else if b.Delete {
		args = append(args, "--all-rows") // the CLI demands it for an unfiltered delete
	}
	if len(b.Key) > 0 {
		args = append(args, "--key "+shellQuote(strings.Join(b.Key, ",")))
	}
	return strings.Join(args, " ")
}

// shellQuote quotes for POSIX shells, leaving plain words alone.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// jsonPlan is the --format json contract: snake_case keys, durations in
// milliseconds, empty lists rather than null.
type jsonPlan struct {
	Version int           `json:"version"`
	Steps   []jsonStep    `json:"steps"`
	Refused []jsonRefusal `json:"refused"`
	// Groups was added after version 1 shipped: absent when the sources
	// have no transactions, so older consumers see the same objects.
	Groups []jsonGroup `json:"groups,omitempty"`
}

type jsonGroup struct {
	ID           int        `json:"id"`
	Kind         string     `json:"kind"`
	Source       jsonSource `json:"source"`
	Steps        []int      `json:"steps"`
	Irreversible []int      `json:"irreversible"`
	RolledBack   bool       `json:"rolled_back,omitempty"`
}

type jsonStep struct {
	ID                 int           `json:"id"`
	Phase              Phase         `json:"phase"`
	Description        string        `json:"description"`
	SQL                string        `json:"sql"`
	Backfill           *jsonBackfill `json:"backfill"`
	InTransaction      bool          `json:"in_transaction"`
	Locks              []lint.Lock   `json:"locks"`
	LockTimeoutMS      int64         `json:"lock_timeout_ms"`
	StatementTimeoutMS int64         `json:"statement_timeout_ms"`
	Breaking           bool          `json:"breaking"`
	Unsafe             string        `json:"unsafe,omitempty"`
	Undo               string        `json:"undo"`
	Source             jsonSource    `json:"source"`
	Assumes            string        `json:"assumes,omitempty"`
	Group              int           `json:"group,omitempty"`
	Split              string        `json:"split,omitempty"`
}

type jsonBackfill struct {
	Table     string         `json:"table"`
	Set       string         `json:"set"`
	Where     string         `json:"where"`
	Key       []string       `json:"key"`
	Delete    bool           `json:"delete"`
	KeyRanges []jsonKeyRange `json:"key_ranges,omitempty"`
	Internal  bool           `json:"internal,omitempty"`
}

// jsonKeyRange is one bound of a backfill's walk; empty lower or upper:
// open on that side.
type jsonKeyRange struct {
	Column         string `json:"column"`
	Lower          string `json:"lower,omitempty"`
	LowerInclusive bool   `json:"lower_inclusive"`
	Upper          string `json:"upper,omitempty"`
	UpperInclusive bool   `json:"upper_inclusive"`
}

type jsonSource struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Statement string `json:"statement"`
}

type jsonRefusal struct {
	jsonSource
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// WriteJSON prints the plan as one JSON object (version 1).
func (p *Plan) WriteJSON(w io.Writer) error {
	out := jsonPlan{Version: 1, Steps: []jsonStep{}, Refused: []jsonRefusal{}}
	for _, s := range p.Steps {
		js := jsonStep{ID: s.ID, Phase: s.Phase, Description: s.Description, SQL: s.SQL,
			InTransaction: s.InTransaction, Locks: s.Locks, LockTimeoutMS: s.LockTimeout.Milliseconds(),
			StatementTimeoutMS: s.StatementTimeout.Milliseconds(), Breaking: s.Breaking, Unsafe: s.Unsafe,
			Undo: s.Undo, Source: jsonSource{s.Source.File, s.Source.Line, s.Source.Column, s.Source.Statement},
			Assumes: s.Assumes, Group: s.Group, Split: s.Split}
		if js.Locks == nil {
			js.Locks = []lint.Lock{}
		}
		if b := s.Backfill; b != nil {
			js.Backfill = &jsonBackfill{Table: b.Table, Set: b.Set, Where: b.Where, Key: b.Key, Delete: b.Delete, Internal: b.Internal}
			if js.Backfill.Key == nil {
				js.Backfill.Key = []string{}
			}
			for _, kr := range b.Ranges {
				js.Backfill.KeyRanges = append(js.Backfill.KeyRanges, jsonKeyRange{Column: kr.Column,
					Lower: kr.Lower, LowerInclusive: kr.LowerInclusive, Upper: kr.Upper, UpperInclusive: kr.UpperInclusive})
			}
		}
		out.Steps = append(out.Steps, js)
	}
	for _, g := range p.Groups {
		jg := jsonGroup{ID: g.ID, Kind: g.Kind, Source: jsonSource{g.Source.File, g.Source.Line, g.Source.Column, g.Source.Statement},
			Steps: g.Steps, Irreversible: g.Irreversible, RolledBack: g.RolledBack}
		if jg.Steps == nil {
			jg.Steps = []int{}
		}
		if jg.Irreversible == nil {
			jg.Irreversible = []int{}
		}
		out.Groups = append(out.Groups, jg)
	}
	for _, r := range p.Refused {
		out.Refused = append(out.Refused, jsonRefusal{
			jsonSource: jsonSource{r.Source.File, r.Source.Line, r.Source.Column, r.Source.Statement},
			Rule:       r.Rule, Reason: r.Reason})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// WriteSQL prints the plan as a script psql can run: phase markers, a
// comment per step (lock, undo), the step's timeouts, BEGIN/COMMIT around
// transactional steps and none around CONCURRENTLY ones. Backfill steps
// are comments showing the `migrate backfill` command to run there.
// Breaking steps are included; stop before them until the application no
// longer uses what they drop.
func (p *Plan) WriteSQL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("-- Generated by migrate plan. Run it step by step: each step is its own transaction.\n")
	for _, r := range p.Refused {
		fmt.Fprintf(bw, "-- REFUSED %s (%s): %s\n", r.Source, r.Rule, r.Reason)
	}
	for i := range p.Groups {
		if g := &p.Groups[i]; g.shown() {
			fmt.Fprintf(bw, "-- %s.\n", g.summary(undoByHand))
			if note := g.irreversibleNote(); note != "" {
				fmt.Fprintf(bw, "-- WARNING: %s.\n", note)
			}
		}
	}
	var phase Phase
	for _, s := range p.Steps {
		if s.Phase != phase {
			phase = s.Phase
			fmt.Fprintf(bw, "\n-- === %s ===\n", phase)
		}
		fmt.Fprintf(bw, "\n-- step %d: %s\n", s.ID, oneLine(s.Description))
		if s.Breaking {
			bw.WriteString("-- BREAKING: run only after every application instance stopped using what this drops ('migrate complete').\n")
		}
		if s.Unsafe != "" {
			fmt.Fprintf(bw, "-- UNSAFE: blocks the table while it runs (--allow-unsafe %s).\n", s.Unsafe)
		}
		fmt.Fprintf(bw, "-- from %s\n", s.Source)
		if s.Assumes != "" {
			fmt.Fprintf(bw, "-- ASSUMES: %s\n", s.Assumes)
		}
		if s.Split != "" {
			fmt.Fprintf(bw, "-- transaction %d: split out: %s\n", s.Group, s.Split)
		}
		fmt.Fprintf(bw, "-- lock: %s\n", lockText(s.Locks))
		if s.Undo != "" {
			bw.WriteString(indent(s.Undo, "-- undo: "))
		} else {
			bw.WriteString("-- undo: none\n")
		}
		if s.Backfill != nil {
			bw.WriteString(indent(s.Backfill.Command(), "-- run: "))
			continue
		}
		if s.InTransaction {
			bw.WriteString("BEGIN;\n")
			fmt.Fprintf(bw, "SET LOCAL lock_timeout = %s;\n", durSQL(s.LockTimeout))
			fmt.Fprintf(bw, "SET LOCAL statement_timeout = %s;\n", durSQL(s.StatementTimeout))
			bw.WriteString(strings.TrimSpace(s.SQL) + "\n")
			bw.WriteString("COMMIT;\n")
			continue
		}
		fmt.Fprintf(bw, "SET lock_timeout = %s;\n", durSQL(s.LockTimeout))
		fmt.Fprintf(bw, "SET statement_timeout = %s;\n", durSQL(s.StatementTimeout))
		bw.WriteString(strings.TrimSpace(s.SQL) + "\n")
	}
	return bw.Flush()
}

func durSQL(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%time.Second == 0 {
		return fmt.Sprintf("'%ds'", d/time.Second)
	}
	return fmt.Sprintf("'%dms'", d.Milliseconds())
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
