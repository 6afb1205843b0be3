package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/time/rate"
)

func TestSizerPanicCutGrowthAndStaleSamples(t *testing.T) {
	target := 250 * time.Millisecond
	s := newSizer(1000, 10, 50000, target, false)

	// One batch slower than 5 × target cuts tenfold at once: 1000 → 100 → 10.
	s.Feedback(1000, 6*target)
	if got := s.Size(); got != 100 {
		t.Fatalf("after a very slow batch: size %d, want 100", got)
	}
	s.Feedback(100, 6*target)
	if got := s.Size(); got != 10 {
		t.Fatalf("after a second very slow batch: size %d, want 10 (the minimum)", got)
	}

	// Feedback from a batch run at an older size says nothing about the new one.
	for range 20 {
		s.Feedback(1000, time.Millisecond)
	}
	if got := s.Size(); got != 10 {
		t.Fatalf("stale samples changed the size to %d", got)
	}

	// Ten very fast batches would allow 2500×, but growth is capped at 1.5×.
	for i := range 9 {
		s.Feedback(10, time.Millisecond)
		if s.Size() != 10 {
			t.Fatalf("size changed after %d samples, want after 10", i+1)
		}
	}
	s.Feedback(10, time.Millisecond)
	if got := s.Size(); got != 15 {
		t.Fatalf("after ten fast batches: size %d, want 15", got)
	}
}

func TestSizerUsesP90(t *testing.T) {
	target := 100 * time.Millisecond
	s := newSizer(1000, 10, 50000, target, false)
	// Nine batches at 50ms and one at 400ms: p90 of ten is the second
	// largest, 50ms, so the size grows (capped at 1.5×).
	for range 9 {
		s.Feedback(1000, 50*time.Millisecond)
	}
	s.Feedback(1000, 400*time.Millisecond)
	if got := s.Size(); got != 1500 {
		t.Fatalf("size %d, want 1500", got)
	}
	// Two slow ones make p90 200ms: the size halves.
	for range 8 {
		s.Feedback(1500, 50*time.Millisecond)
	}
	s.Feedback(1500, 200*time.Millisecond)
	s.Feedback(1500, 200*time.Millisecond)
	if got := s.Size(); got != 750 {
		t.Fatalf("size %d, want 750", got)
	}
}

func TestSizerClampCutAndFixed(t *testing.T) {
	s := newSizer(40000, 10, 50000, 250*time.Millisecond, false)
	for range 10 {
		s.Feedback(40000, time.Millisecond)
	}
	if got := s.Size(); got != 50000 {
		t.Fatalf("size %d, want the maximum 50000", got)
	}
	s.Cut(2)
	if got := s.Size(); got != 25000 {
		t.Fatalf("after halving: %d", got)
	}

	f := newSizer(1000, 10, 50000, 250*time.Millisecond, true)
	f.Feedback(1000, time.Hour)
	f.Cut(2)
	for range 10 {
		f.Feedback(1000, time.Millisecond)
	}
	if got := f.Size(); got != 1000 {
		t.Fatalf("fixed sizer moved to %d", got)
	}
}

func TestClassify(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "x"})
	}
	cases := []struct {
		err   error
		act   action
		label string
	}{
		{pg("55P03"), actRetry, "55P03"},
		{pg("40P01"), actRetry, "40P01"},
		{pg("40001"), actRetry, "40001"},
		{pg("57014"), actShrink, "57014"},
		{pg("08006"), actReconnect, "08006"},
		{pg("08P01"), actReconnect, "08P01"},
		{pg("57P01"), actReconnect, "57P01"},
		{pg("25006"), actFailover, "25006"},
		{pg("23505"), actAbort, "23505"},
		{pg("22012"), actAbort, "22012"},
		{pg("42703"), actAbort, "42703"},
		{io.ErrUnexpectedEOF, actReconnect, connLost},
		{fmt.Errorf("read: %w", io.EOF), actReconnect, connLost},
		{&pgconn.ConnectError{}, actReconnect, connLost},
		{errors.New("conn closed"), actReconnect, connLost},
		{errors.New("cannot scan"), actAbort, ""},
		{context.Canceled, actAbort, ""},
	}
	for _, c := range cases {
		act, label := classify(c.err)
		if act != c.act || label != c.label {
			t.Errorf("classify(%v) = %v, %q; want %v, %q", c.err, act, label, c.act, c.label)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	maxRnd := func(n int64) int64 { return n - 1 }
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for i, w := range want {
		if got := backoff(i, backoffBase, backoffLimit, maxRnd); got != w*time.Millisecond {
			t.Errorf("attempt %d: ceiling %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := backoff(100, backoffBase, backoffLimit, maxRnd); got != 10*time.Second {
		t.Errorf("attempt 100: %v", got)
	}
	for range 1000 {
		if d := backoff(3, backoffBase, backoffLimit, nil); d < 0 || d > 800*time.Millisecond {
			t.Fatalf("jittered backoff %v out of [0, 800ms]", d)
		}
	}
}

func TestParseSet(t *testing.T) {
	cases := []struct {
		in   string
		want []assignment
	}{
		{"a = 1", []assignment{{"a", "a", "1"}}},
		{"Email = lower(email), n = coalesce(n, 0) + 1", []assignment{
			{"Email", "email", "lower(email)"}, {"n", "n", "coalesce(n, 0) + 1"}}},
		{`"Mixed ""Q""" = 'a, b', x = ARRAY[1, 2]`, []assignment{
			{`"Mixed ""Q"""`, `Mixed "Q"`, "'a, b'"}, {"x", "x", "ARRAY[1, 2]"}}},
		{"p = $$it's, fine$$, q = $t$a,b$t$", []assignment{
			{"p", "p", "$$it's, fine$$"}, {"q", "q", "$t$a,b$t$"}}},
		{"s = E'a\\', b', t = 1 -- note, here\n", []assignment{
			{"s", "s", "E'a\\', b'"}, {"t", "t", "1 -- note, here"}}},
		{"j = '{}' /* a, /* nested, */ b */", []assignment{{"j", "j", "'{}' /* a, /* nested, */ b */"}}},
		{"c = CASE WHEN a > 1 THEN 'x' ELSE 'y' END", []assignment{{"c", "c", "CASE WHEN a > 1 THEN 'x' ELSE 'y' END"}}},
		{"flag=a<=b", []assignment{{"flag", "flag", "a<=b"}}},
	}
	for _, c := range cases {
		got, err := parseSet(c.in)
		if err != nil {
			t.Errorf("parseSet(%q): %v", c.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("parseSet(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	bad := []string{
		"", "a", "a =", "= 1", "a[1] = 2", "r.f = 1", "(a, b) = (1, 2)", "a = 1, a = 2",
		"a = (1", "a = 1)", "a = 'x", "a = 1; DROP TABLE t", `"" = 1`, "a = DEFAULT", "a = $$x",
		"a = 1,", "1a = 2",
	}
	for _, in := range bad {
		if got, err := parseSet(in); err == nil {
			t.Errorf("parseSet(%q) = %q, want an error", in, got)
		}
	}
}

func TestIdempotencyPredicate(t *testing.T) {
	as, err := parseSet(`a = lower(b), "J" = '{}', n = 1.5`)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{"a": "text", "J": "json", "n": "integer"}
	got := idempotencyPredicate(as, types, map[string]bool{"J": true})
	want := "a IS DISTINCT FROM (lower(b)\n)::text OR \"J\"::text IS DISTINCT FROM (('{}'\n)::json)::text OR n IS DISTINCT FROM (1.5\n)::integer"
	if got != want {
		t.Fatalf("predicate\n got %s\nwant %s", got, want)
	}
}

func TestCheckFragment(t *testing.T) {
	for _, ok := range []string{"", "a IS NULL", "a = 'x;y' AND (b > 1 OR c)", "f(a, b)"} {
		if err := checkFragment(ok); err != nil {
			t.Errorf("checkFragment(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a; DELETE FROM t", "a) OR (true", "a = 'x", "a /* open"} {
		if err := checkFragment(bad); err == nil {
			t.Errorf("checkFragment(%q) accepted", bad)
		}
	}
}

func TestLimiterBurstCoversLargestBatch(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		rate float64
		max  int
	}{{100, 50000}, {1e6, 50000}, {0.5, 10}, {0, 50000}} {
		l := newLimiter(c.rate, c.max)
		if l.Burst() < c.max {
			t.Errorf("rate %v max %d: burst %d below the largest batch", c.rate, c.max, l.Burst())
		}
		if c.rate == 0 && l.Limit() != rate.Inf {
			t.Errorf("rate 0 should be unlimited, got %v", l.Limit())
		}
		// WaitN fails at once for more than the burst; a full batch must not.
		if c.rate == 0 || c.rate >= float64(c.max) {
			if err := l.WaitN(ctx, c.max); err != nil {
				t.Errorf("rate %v max %d: WaitN(max): %v", c.rate, c.max, err)
			}
		} else if r := l.ReserveN(time.Now(), c.max); !r.OK() {
			t.Errorf("rate %v max %d: a full batch can never be admitted", c.rate, c.max)
		}
	}
}

func TestStatusLine(t *testing.T) {
	p := Progress{
		Table: "public.users", Done: 123000, Rows: 123000, Total: 1000000, Fraction: 0.123, Rate: 8100,
		Lag: 420 * time.Millisecond, LagKnown: true, LagSource: "standby1",
		State: "running", ETA: 108 * time.Second, ETAKnown: true,
	}
	want := "backfill public.users: 123000/1000000 12.3% rate 8.1k rows/s lag 0.42s state running ETA 1m48s"
	if got := p.String(); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}

	p = Progress{
		Table: "s.t", Done: 500, Rows: 120, Fraction: 0.9999, Rate: 12.4,
		LagSource: "standby1", State: "throttled", Reason: "standby1 missing",
	}
	want = "backfill s.t: 500 rows 99.9% (120 changed) rate 12 rows/s lag unknown state throttled (standby1 missing) ETA N/A"
	if got := p.String(); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}

	// A total below the rows walked (a stale estimate) is never shown.
	p = Progress{Table: "t", Done: 2500000, Rows: 2500000, Total: 2400000, Fraction: 1, Rate: 1.25e6, State: "done"}
	want = "backfill t: 2500000/2500000 100.0% rate 1.2M rows/s lag - state done ETA due"
	if got := p.String(); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

func TestRateMeterIgnoresThrottledIntervals(t *testing.T) {
	m := rateMeter{window: 10 * time.Second}
	m.add(1000, time.Second, 0)
	if m.rate != 1000 {
		t.Fatalf("first sample: %v", m.rate)
	}
	m.add(0, time.Second, time.Second)
	if m.rate != 1000 {
		t.Fatalf("a throttled second moved the rate to %v", m.rate)
	}
	m.add(2000, time.Second, 0)
	if m.rate <= 1000 || m.rate >= 2000 {
		t.Fatalf("rate %v should move toward 2000", m.rate)
	}
}

func TestJobDefaultsAndValidation(t *testing.T) {
	j := Job{Table: "t", Set: "a = 1"}.withDefaults()
	if j.Batch != 1000 || j.BatchMin != 10 || j.BatchMax != 50000 || j.TargetBatchTime != 250*time.Millisecond ||
		j.LockTimeout != 2*time.Second || j.StatementTimeout != 5*time.Second || j.Retries != 10 ||
		j.StateSchema != "migrate" || !strings.HasPrefix(j.ID, "t:") {
		t.Fatalf("defaults: %+v", j)
	}
	if err := j.validate(); err != nil {
		t.Fatal(err)
	}
	if j2 := (Job{Table: "t", Set: "a = 1", TargetBatchTime: 2 * time.Second}).withDefaults(); j2.StatementTimeout != 10*time.Second {
		t.Fatalf("statement timeout %v, want 5 × target", j2.StatementTimeout)
	}
	if DefaultID("t", "a = 1", "") == DefaultID("t", "a = 2", "") || DefaultID("t", "a = 1", "") != DefaultID(" t", "a = 1 ", "") {
		t.Fatal("DefaultID should depend on what the job does, not on surrounding space")
	}
	for _, bad := range []Job{
		{Set: "a = 1"}, {Table: "t"}, {Table: "t", Set: "a = 1", Where: "x; DROP TABLE t"},
		{Table: "t", Set: "a = 1", Batch: 5, BatchMin: 10, BatchMax: 100},
		{Table: "t", Set: "a = 1", Rate: -1},
		{Table: "t", Set: "a = 1", Delete: true},
	} {
		if err := bad.withDefaults().validate(); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("%+v: %v, want ErrInvalidJob", bad, err)
		}
	}
}

func TestDeleteJobSpec(t *testing.T) {
	for _, ok := range []Job{{Table: "t", Delete: true}, {Table: "t", Delete: true, Where: "v % 3 = 0"}} {
		if err := ok.withDefaults().validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	// State rows of update jobs written before delete jobs existed must
	// keep resuming: the field may not change their hash.
	upd := spec{Table: "public.t", Key: []string{"id"}, Set: "v = 1", Where: "v IS NULL"}
	if got, want := upd.hash(), legacyHash(upd); got != want {
		t.Errorf("update spec hash changed: %s, was %s", got, want)
	}
	del := spec{Table: "public.t", Key: []string{"id"}, Where: "v IS NULL", Delete: true}
	if del.hash() == (spec{Table: "public.t", Key: []string{"id"}, Where: "v IS NULL"}).hash() {
		t.Error("the spec hash ignores Delete")
	}
	if s := del.String(); !strings.Contains(s, "delete") || strings.Contains(s, "set") {
		t.Errorf("delete spec described as %q", s)
	}
}

// legacyHash is spec.hash as it was before the Delete field.
func legacyHash(s spec) string {
	b, _ := json.Marshal(struct {
		Table string   `json:"table"`
		Key   []string `json:"key"`
		Set   string   `json:"set"`
		Where string   `json:"where,omitempty"`
	}{s.Table, s.Key, s.Set, s.Where})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestBatchErrorMessage(t *testing.T) {
	e := &BatchError{From: "1000", To: "2000", SQLState: "23505", Attempts: 1, Err: errors.New("duplicate key")}
	if got, want := e.Error(), "batch (1000, 2000] SQLSTATE 23505: duplicate key"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}
