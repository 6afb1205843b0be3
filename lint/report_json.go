package lint

import (
	"bufio"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// JSONVersion is the "version" of the --format json document; bump it only
// for changes that break readers.
const JSONVersion = 1

// writeJSON streams the DESIGN.md document by hand. encoding/json with
// indentation spent seven times longer than the text reporter on 14,000
// findings (reflection, then a second pass to indent), a large share of a
// whole lint run. The layout puts each file, finding and error on one line:
// easy to grep and diff, still one JSON object. Arrays are never null and
// severity is a string, as the contract says.
func writeJSON(w *bufio.Writer, res *Result) error {
	pg := res.PGVersion
	if pg == 0 {
		pg = DefaultPGVersion
	}
	var b []byte
	b = append(b, "{\n  \"version\": "...)
	b = strconv.AppendInt(b, JSONVersion, 10)
	b = append(b, ",\n  \"pg_version\": "...)
	b = strconv.AppendInt(b, int64(pg), 10)
	b = append(b, ",\n  \"files\": ["...)
	for i, f := range res.Files {
		b = jsonItemStart(b, i)
		b = append(b, `{"path": `...)
		b = appendJSONString(b, f.Path)
		b = append(b, `, "format": `...)
		b = appendJSONString(b, f.Format)
		b = append(b, `, "statements": `...)
		b = strconv.AppendInt(b, int64(f.Statements), 10)
		b = append(b, '}')
	}
	b = jsonArrayEnd(b, len(res.Files))
	b = append(b, ",\n  \"findings\": ["...)
	i := 0
	for f := range res.AllFindings() {
		b = jsonItemStart(b, i)
		i++
		b = appendJSONFinding(b, f)
		// Flush as we go so memory stays bounded by one finding, not
		// by the report.
		if len(b) > 32<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = jsonArrayEnd(b, res.NumFindings())
	b = append(b, ",\n  \"errors\": ["...)
	for i, e := range res.Errors {
		b = jsonItemStart(b, i)
		b = append(b, `{"file": `...)
		b = appendJSONString(b, e.File)
		b = append(b, `, "line": `...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, `, "column": `...)
		b = strconv.AppendInt(b, int64(e.Column), 10)
		b = append(b, `, "message": `...)
		b = appendJSONString(b, e.Message)
		b = append(b, '}')
	}
	b = jsonArrayEnd(b, len(res.Errors))
	b = append(b, "\n}\n"...)
	_, err := w.Write(b)
	return err
}

func jsonItemStart(b []byte, i int) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	return append(b, "\n    "...)
}

func jsonArrayEnd(b []byte, n int) []byte {
	if n > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, ']')
}

func appendJSONFinding(b []byte, f *Finding) []byte {
	b = append(b, `{"file": `...)
	b = appendJSONString(b, f.File)
	b = append(b, `, "line": `...)
	b = strconv.AppendInt(b, int64(f.Line), 10)
	b = append(b, `, "column": `...)
	b = strconv.AppendInt(b, int64(f.Column), 10)
	b = append(b, `, "end_line": `...)
	b = strconv.AppendInt(b, int64(f.EndLine), 10)
	b = append(b, `, "end_column": `...)
	b = strconv.AppendInt(b, int64(f.EndColumn), 10)
	b = append(b, `, "rule": `...)
	b = appendJSONString(b, f.Rule)
	b = append(b, `, "severity": `...)
	b = appendJSONString(b, f.Severity.String())
	b = append(b, `, "message": `...)
	b = appendJSONString(b, f.Message)
	b = append(b, `, "statement": `...)
	b = appendJSONString(b, f.Statement)
	b = append(b, `, "locks": [`...)
	for i, l := range f.Locks {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"relation": `...)
		b = appendJSONString(b, l.Relation)
		b = append(b, `, "mode": `...)
		b = appendJSONString(b, l.Mode)
		b = append(b, `, "blocks": [`...)
		for j, s := range l.Blocks {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, s)
		}
		b = append(b, "]}"...)
	}
	b = append(b, `], "rewrite": `...)
	b = strconv.AppendBool(b, f.Rewrite)
	b = append(b, `, "scan": `...)
	b = strconv.AppendBool(b, f.Scan)
	b = append(b, `, "fix": `...)
	b = appendJSONString(b, f.Fix)
	b = append(b, `, "doc": `...)
	b = appendJSONString(b, docOf(f))
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does without HTML escaping
// (SQL is full of <, > and &): control characters escaped, invalid UTF-8
// replaced by U+FFFD, and U+2028/U+2029 escaped for JavaScript readers.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// encodeJSON writes v compact, without HTML escaping, for the formats that
// CI tools read (sarif, gitlab). Not indented: encoding/json's indenting
// pass made the SARIF report four times slower (1.2 s instead of 0.3 s for
// 14,000 findings) and a third larger.
func encodeJSON(w *bufio.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
