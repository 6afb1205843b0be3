package lint

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Grading lock findings by the size of the tables they lock (--dsn). A
// statement that takes ACCESS EXCLUSIVE on a 200-row lookup table is over
// in milliseconds; the same statement on a 50 GB table is an outage. The
// rules cannot know which, so Grade runs after them with the catalog's
// estimates: small tables downgrade errors to warnings, and every lock
// finding says how big its tables are and, for rewrites and scans, roughly
// how long the lock is held.

// GradeOptions are the thresholds and throughput assumptions of Grade.
type GradeOptions struct {
	// A table is small when it has fewer than SmallRows rows AND fewer
	// than SmallBytes bytes (heap, TOAST and indexes).
	SmallRows  int64
	SmallBytes int64
	// ScanRate and RewriteRate are the assumed throughputs in bytes per
	// second. A sequential scan reads once; a rewrite reads, writes the
	// new heap and rebuilds every index, so it is assumed slower.
	ScanRate    float64
	RewriteRate float64
}

// Defaults: --small-table 10000 rows / 10 MB; ~200 MB/s sequential scan and
// ~100 MB/s rewrite, typical of an SSD-backed server with a cold cache and
// no competing load. They are deliberately round: the message calls the
// result an estimate.
const (
	DefaultSmallRows   = 10_000
	DefaultSmallBytes  = 10 << 20
	DefaultScanRate    = 200 << 20
	DefaultRewriteRate = 100 << 20
)

func (o *GradeOptions) defaults() {
	if o.SmallRows == 0 {
		o.SmallRows = DefaultSmallRows
	}
	if o.SmallBytes == 0 {
		o.SmallBytes = DefaultSmallBytes
	}
	if o.ScanRate == 0 {
		o.ScanRate = DefaultScanRate
	}
	if o.RewriteRate == 0 {
		o.RewriteRate = DefaultRewriteRate
	}
}

// IsLockFinding reports whether a finding is about a lock, a rewrite or a
// scan, the findings whose weight depends on table size.
func IsLockFinding(f *Finding) bool { return len(f.Locks) > 0 || f.Rewrite || f.Scan }

// Grade adjusts res's lock findings with cat's table sizes. It only ever
// lowers error to warning, and only when every table the finding locks is
// known to be small: a table without statistics might be huge.
func Grade(res *Result, cat *Catalog, o GradeOptions) {
	if cat == nil {
		return
	}
	o.defaults()
	for i := range res.Findings {
		f := &res.Findings[i]
		if !IsLockFinding(f) || len(f.Locks) == 0 {
			continue
		}
		var parts []string
		seen := map[string]bool{}
		allSmall, anyKnown := true, false
		var biggest int64
		for _, l := range f.Locks {
			size, table, ok := cat.Size(l.Relation)
			if !ok || seen[table] {
				if !ok {
					allSmall = false // not in the database: created by an earlier file of this run, size unknown
				}
				continue
			}
			seen[table] = true
			if !size.Known {
				allSmall = false
				parts = append(parts, DisplayName(table)+": size unknown (never analyzed)")
				continue
			}
			anyKnown = true
			biggest = max(biggest, size.Bytes)
			if size.Rows >= o.SmallRows || size.Bytes >= o.SmallBytes {
				allSmall = false
			}
			parts = append(parts, DisplayName(table)+": ~"+formatCount(size.Rows)+" rows, "+FormatBytes(size.Bytes))
		}
		if len(parts) == 0 {
			continue
		}
		msg := " [table size " + strings.Join(parts, "; ")
		if anyKnown && (f.Rewrite || f.Scan) {
			rate, what := o.ScanRate, "a full scan"
			if f.Rewrite {
				rate, what = o.RewriteRate, "a rewrite"
			}
			d := time.Duration(float64(biggest) / rate * float64(time.Second))
			msg += fmt.Sprintf("; estimate: %s of %s holds the lock for %s, assuming ~%s/s (a guess from size alone)",
				what, FormatBytes(biggest), formatEstimate(d), FormatBytes(int64(rate)))
		}
		if allSmall && anyKnown && f.Severity == SeverityError {
			f.Severity = SeverityWarning
			msg += fmt.Sprintf("; downgraded to warning: below --small-table (%s rows, %s)", formatCount(o.SmallRows), FormatBytes(o.SmallBytes))
		}
		f.Message += msg + "]"
	}
}

// FormatBytes renders a size the way pg_size_pretty does (1024-based).
func FormatBytes(b int64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB"}
	v := float64(b)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(b, 10) + " bytes"
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " " + units[i]
}

func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func formatEstimate(d time.Duration) string {
	switch {
	case d < time.Second:
		return "under a second"
	case d < time.Minute:
		return "~" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + " s"
	case d < time.Hour:
		return "~" + strconv.Itoa(int(d.Round(time.Minute)/time.Minute)) + " min"
	}
	return "~" + strconv.FormatFloat(d.Hours(), 'f', 1, 64) + " h"
}

// ParseSmallTable reads --small-table: "ROWS" or "ROWS,SIZE" (SIZE like
// 10MB, 512kB, 1GB or plain bytes).
func ParseSmallTable(s string) (rows, bytes int64, err error) {
	rowsPart, sizePart, hasSize := strings.Cut(strings.TrimSpace(s), ",")
	rows, err = strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(rowsPart), "_", ""), 10, 64)
	if err != nil || rows < 0 {
		return 0, 0, fmt.Errorf("%q: want ROWS or ROWS,SIZE (e.g. 10000,10MB)", s)
	}
	bytes = DefaultSmallBytes
	if hasSize {
		if bytes, err = parseSize(sizePart); err != nil {
			return 0, 0, fmt.Errorf("%q: %v", s, err)
		}
	}
	return rows, bytes, nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 10MB)", s)
	}
	return int64(n * float64(mult)), nil
}
