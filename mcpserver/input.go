package mcpserver

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/migrate-tool/migrate/lint"
)

// PGVersion is a PostgreSQL major version. Models write it as a number (15,
// 9.6) about as often as a string ("15", "9.6"); rejecting either would
// just cost a round trip, so both are accepted, as in .migrate.toml.
type PGVersion string

// UnmarshalJSON keeps a number's literal text: 9.6 must stay "9.6", which
// a float64 round trip would not guarantee.
func (v *PGVersion) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == "null":
		*v = ""
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*v = PGVersion(str)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("pg_version: %s is not a version number", s)
		}
		*v = PGVersion(n.String())
	}
	return nil
}

// Format is the caller's hint of what the SQL text is.
type Format string

// formats are the values of Format. Auto-detection already tells these
// apart in most inputs; the hint is for the rest (a Markdown answer that
// opens with a code fence, a goose file whose annotation was cut off).
var formats = []any{"sql", "markdown", "goose", "dbmate"}

// schemaFor infers T's JSON schema, with the two types whose Go kind says
// less than the protocol should.
func schemaFor[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[PGVersion](): {Types: []string{"string", "number"}},
		reflect.TypeFor[Format]():    {Type: "string", Enum: formats},
	}})
	if err != nil {
		// The input types are fixed at compile time: failing here is a
		// programming error that every test run would catch.
		panic(err)
	}
	return s
}

// pgVersion resolves a per-call version against the configured default.
func pgVersion(v PGVersion, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := lint.ParsePGVersion(string(v))
	if err != nil {
		return 0, fmt.Errorf("pg_version: %v", err)
	}
	return n, nil
}

// Names the input goes by in findings and errors. A file name reads better
// in "input.sql:3:14: syntax error" than the CLI's "<stdin>", and the
// extension tells the assistant which lines the positions count.
const (
	sqlName      = "input.sql"
	markdownName = "input.md"
)

// readSource splits text the way `migrate lint -` splits standard input,
// steered by the format hint.
func readSource(text string, format Format, opts lint.ReadOptions) (*lint.Source, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("sql is empty: pass the SQL statements (or the Markdown answer) to check")
	}
	var src *lint.Source
	switch format {
	case "":
		// The stdin path turns on the prose test that recognises a
		// Markdown answer, exactly as for `migrate lint -`.
		src = lint.ReadSource(lint.StdinPath, []byte(text), opts)
	case "markdown":
		src = lint.ReadSource(markdownName, []byte(text), opts)
	default:
		// A .sql name turns the prose test off: the caller says this is
		// SQL, even if it opens with a long comment.
		src = lint.ReadSource(sqlName, []byte(text), opts)
		if format != "sql" && src.Format != string(format) {
			return nil, fmt.Errorf("format %s: no %s annotation found; %s", format, format, annotationHint(format))
		}
	}
	src.Path = sqlName
	if src.Format == "markdown" {
		src.Path = markdownName
	}
	return src, nil
}

func annotationHint(format Format) string {
	if format == "goose" {
		return "a goose migration starts its up section with the line `-- +goose Up`"
	}
	return "a dbmate migration starts its up section with the line `-- migrate:up`"
}
