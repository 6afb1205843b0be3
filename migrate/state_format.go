package migrate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteStatusText prints migrations and their steps for people.
func WriteStatusText(w io.Writer, ms []*Migration) error {
	bw := bufio.NewWriter(w)
	if len(ms) == 0 {
		bw.WriteString("no migrations in the journal\n")
	}
	for i, m := range ms {
		if i > 0 {
			bw.WriteString("\n")
		}
		counts := map[string]int{}
		for _, s := range m.Steps {
			counts[s.Status]++
		}
		fmt.Fprintf(bw, "migration %s  %s  (%s)\n", m.ID, strings.ToUpper(m.Status), strings.Join(m.Files, ", "))
		fmt.Fprintf(bw, "  started %s, updated %s", m.CreatedAt.Format(time.RFC3339), m.UpdatedAt.Format(time.RFC3339))
		if m.FinishedAt != nil {
			fmt.Fprintf(bw, ", finished %s", m.FinishedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(bw, "\n  steps: %d done, %d pending, %d running, %d failed, %d undone\n",
			counts[StepDone], counts[StepPending], counts[StepRunning], counts[StepFailed], counts[StepUndone])
		if m.Error != "" {
			fmt.Fprintf(bw, "  error: %s\n", oneLine(m.Error))
		}
		for _, s := range m.Steps {
			mark := ""
			if s.Breaking {
				mark = " [BREAKING]"
			}
			fmt.Fprintf(bw, "  %3d  %-8s %-8s %s%s", s.ID, s.Phase, s.Status, s.Description, mark)
			if s.Attempts > 1 {
				fmt.Fprintf(bw, " (%d attempts)", s.Attempts)
			}
			if s.StartedAt != nil && s.FinishedAt != nil && !s.FinishedAt.Before(*s.StartedAt) {
				fmt.Fprintf(bw, " %s", s.FinishedAt.Sub(*s.StartedAt).Round(time.Millisecond))
			}
			bw.WriteString(undoText(s))
			bw.WriteString("\n")
			if s.Error != "" && s.Status != StepDone {
				fmt.Fprintf(bw, "       error: %s\n", oneLine(s.Error))
			}
			if s.UndoError != "" && s.Status != StepUndone {
				fmt.Fprintf(bw, "       undo error: %s\n", oneLine(s.UndoError))
			}
		}
	}
	return bw.Flush()
}

// undoText describes a step's undo beside its run: how long the undo took
// and in how many attempts, or that the step needed none.
func undoText(s *StepState) string {
	if s.Status != StepUndone || s.UndoneAt == nil {
		return ""
	}
	if s.UndoStartedAt == nil || s.UndoAttempts == 0 {
		return ", undone (nothing to undo)"
	}
	out := ", undone in " + s.UndoneAt.Sub(*s.UndoStartedAt).Round(time.Millisecond).String()
	if s.UndoAttempts > 1 {
		out += fmt.Sprintf(" (%d undo attempts)", s.UndoAttempts)
	}
	return out
}

// WriteStatusJSON prints {"version":1,"migrations":[...]}.
func WriteStatusJSON(w io.Writer, ms []*Migration) error {
	type jsonStep struct {
		ID          int        `json:"id"`
		Phase       Phase      `json:"phase"`
		Description string     `json:"description"`
		SQL         string     `json:"sql"`
		Undo        string     `json:"undo"`
		Breaking    bool       `json:"breaking"`
		Backfill    bool       `json:"backfill"`
		Status      string     `json:"status"`
		Attempts    int        `json:"attempts"`
		Error       string     `json:"error,omitempty"`
		StartedAt   *time.Time `json:"started_at,omitempty"`
		FinishedAt  *time.Time `json:"finished_at,omitempty"`
		// Added after version 1: the undo, journaled beside the run.
		UndoAttempts  int        `json:"undo_attempts"`
		UndoStartedAt *time.Time `json:"undo_started_at,omitempty"`
		UndoneAt      *time.Time `json:"undone_at,omitempty"`
		UndoError     string     `json:"undo_error,omitempty"`
		Group         int        `json:"group,omitempty"`
	}
	type jsonMigration struct {
		ID         string     `json:"id"`
		Files      []string   `json:"files"`
		Status     string     `json:"status"`
		Error      string     `json:"error,omitempty"`
		CreatedAt  time.Time  `json:"created_at"`
		UpdatedAt  time.Time  `json:"updated_at"`
		FinishedAt *time.Time `json:"finished_at,omitempty"`
		Steps      []jsonStep `json:"steps"`
	}
	out := struct {
		Version    int             `json:"version"`
		Migrations []jsonMigration `json:"migrations"`
	}{Version: 1, Migrations: []jsonMigration{}}
	for _, m := range ms {
		jm := jsonMigration{ID: m.ID, Files: m.Files, Status: m.Status, Error: m.Error, CreatedAt: m.CreatedAt,
			UpdatedAt: m.UpdatedAt, FinishedAt: m.FinishedAt, Steps: []jsonStep{}}
		for _, s := range m.Steps {
			jm.Steps = append(jm.Steps, jsonStep{ID: s.ID, Phase: s.Phase, Description: s.Description, SQL: s.SQL, Undo: s.Undo,
				Breaking: s.Breaking, Backfill: s.Backfill != nil, Status: s.Status, Attempts: s.Attempts, Error: s.Error,
				StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, UndoAttempts: s.UndoAttempts, UndoStartedAt: s.UndoStartedAt,
				UndoneAt: s.UndoneAt, UndoError: s.UndoError, Group: s.Group})
		}
		out.Migrations = append(out.Migrations, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
