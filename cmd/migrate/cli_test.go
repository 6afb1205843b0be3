package main

import (
	"bytes"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"migrate"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestEverySubcommandHasHelp(t *testing.T) {
	for _, cmd := range newApp(nil, nil, nil).Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			code, out, errOut := runCLI(t, cmd.Name, "--help")
			if code != 0 {
				t.Fatalf("%s --help exited %d: %s", cmd.Name, code, errOut)
			}
			if !strings.Contains(out, "migrate "+cmd.Name) || !strings.Contains(out, "Example") {
				t.Errorf("%s --help lacks usage or examples:\n%s", cmd.Name, out)
			}
		})
	}
}

func TestUnknownFlagExits2(t *testing.T) {
	for _, cmd := range newApp(nil, nil, nil).Commands {
		code, _, errOut := runCLI(t, cmd.Name, "--no-such-flag")
		if code != exitUsage {
			t.Errorf("%s --no-such-flag exited %d, want %d", cmd.Name, code, exitUsage)
		}
		if !strings.Contains(errOut, "no-such-flag") {
			t.Errorf("%s: error does not name the flag: %q", cmd.Name, errOut)
		}
	}
	code, _, errOut := runCLI(t, "--no-such-global")
	if code != exitUsage || !strings.Contains(errOut, "no-such-global") {
		t.Errorf("global unknown flag: exit %d, %q", code, errOut)
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestBadLogFormatExits2(t *testing.T) {
	code, _, errOut := runCLI(t, "--log-format", "xml", "status")
	if code != exitUsage || !strings.Contains(errOut, "log-format") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != 0 || !strings.Contains(out, "migrate version") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

// --dsn works after the command name as well as before it, and the
// command's own value wins over the global one.
func TestDSNBeforeOrAfterCommand(t *testing.T) {
	bad := "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	for _, args := range [][]string{
		{"status", "--dsn", bad},
		{"--dsn", bad, "status"},
		{"--dsn", "postgres://other@127.0.0.1:2/x", "status", "--dsn", bad},
	} {
		code, _, errOut := runCLI(t, args...)
		if code == 0 || strings.Contains(errOut, "not defined") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
		if strings.Contains(errOut, ":2") && !strings.Contains(errOut, ":1") {
			t.Errorf("%v: used the global DSN over the command's: %q", args, errOut)
		}
	}
}
