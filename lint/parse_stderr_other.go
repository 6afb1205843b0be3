//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package lint

// Without dup2 the process's stderr cannot be put back after concurrent
// pg_query calls, so parsing stays serial.
func dupStderr() (int, bool) { return 0, false }

func restoreStderr(int) {}
