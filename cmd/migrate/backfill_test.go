package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/migrate-tool/migrate/backfill"
	"github.com/urfave/cli/v2"
)

func TestBackfillBadInputExits2(t *testing.T) {
	cases := [][]string{
		{"backfill", "--set", "a = 1"},
		{"backfill", "--table", "t"},
		{"backfill", "--table", "t", "--set", "a = 1", "extra"},
		{"backfill", "--table", "t", "--set", "a = 1", "--batch", "5"},
		{"backfill", "--table", "t", "--set", "a = 1", "--batch-min", "100", "--batch-max", "50"},
		{"backfill", "--table", "t", "--set", "a = 1", "--max-lag-bytes", "lots"},
		{"backfill", "--table", "t", "--set", "a = 1", "--resume-lag", "5s", "--max-lag", "1s"},
		{"backfill", "--table", "t", "--set", "a = 1", "--rate", "-3"},
		{"backfill", "--table", "t", "--set", "a = 1", "--no-such-flag"},
		{"backfill", "--table", "t", "--delete"},
		{"backfill", "--table", "t", "--delete", "--set", "a = 1", "--where", "a > 0"},
		{"backfill", "--table", "t", "--delete", "--all-rows", "--where", "a > 0"},
		{"backfill", "--table", "t", "--set", "a = 1", "--all-rows"},
	}
	for _, args := range cases {
		code, _, errOut := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, "backfill") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

func TestBackfillNeverPrintsPasswords(t *testing.T) {
	const secret = "s3cretPW"
	for _, c := range []struct {
		dsn  string
		code int
	}{
		{"postgres://u:" + secret + "@host:notaport/db", 2},
		{"host=127.0.0.1 port=1 user=u password=" + secret + " connect_timeout=2 dbname=x", 1},
		{"postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2", 1},
	} {
		code, out, errOut := runCLI(t, "--dsn", c.dsn, "backfill", "--table", "t", "--set", "a = 1")
		if code != c.code {
			t.Errorf("exit %d, want %d: %s", code, c.code, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("password printed: %s%s", out, errOut)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1234": 1234, "256MB": 256e6, "256MiB": 256 << 20, "1GiB": 1 << 30, "1.5 kB": 1500, "2gb": 2e9,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "12XB", "-1", "1..2"} {
		if got, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", bad, got)
		}
	}
}

func TestResumeCommandLeavesOutSecretsAndRestart(t *testing.T) {
	cmd := backfillCommand()
	var got string
	cmd.Action = func(c *cli.Context) error {
		got = resumeCommand(c, "users:abc")
		return nil
	}
	app := &cli.App{
		Flags:    []cli.Flag{&cli.StringFlag{Name: "dsn"}},
		Commands: []*cli.Command{cmd},
	}
	err := app.Run([]string{"migrate", "--dsn", "postgres://u:pw@db/x", "backfill",
		"--table", "users", "--set", "name = 'it''s'", "--restart", "--batch", "500",
		"--max-lag", "1s", "--replica-dsn", "postgres://u:pw@r1/x", "--batch-fixed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"migrate backfill --job users:abc", "--table users", `--set 'name = '\''it'\'''\''s'\'''`,
		"--batch 500", "--max-lag 1s", "--batch-fixed", "--replica-dsn ... (as before)"} {
		if !strings.Contains(got, want) {
			t.Errorf("resume command %q lacks %q", got, want)
		}
	}
	for _, bad := range []string{"--restart", "pw@", "--dsn postgres"} {
		if strings.Contains(got, bad) {
			t.Errorf("resume command %q contains %q", got, bad)
		}
	}
}

func TestStatusLinesEveryFewSeconds(t *testing.T) {
	var buf bytes.Buffer
	o := newProgressOutput(&buf, &buf)
	p := backfill.Progress{Table: "public.t", Done: 10, Total: 100, Fraction: 0.1, State: "running"}
	o.update(p)
	o.update(p)
	o.update(p)
	p.Final, p.State, p.Fraction = true, "done", 1
	o.update(p)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "backfill public.t: 10/100 10.0%") || !strings.Contains(lines[1], "state done") {
		t.Fatalf("want the first line and the final one, got:\n%s", buf.String())
	}
}
