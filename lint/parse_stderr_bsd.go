//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package lint

import "syscall"

func dupStderr() (int, bool) {
	fd, err := syscall.Dup(2)
	return fd, err == nil
}

func restoreStderr(fd int) {
	_ = syscall.Dup2(fd, 2)
	_ = syscall.Close(fd)
}
