//go:build linux

package lint

import "syscall"

func dupStderr() (int, bool) {
	fd, err := syscall.Dup(2)
	return fd, err == nil
}

func restoreStderr(fd int) {
	_ = syscall.Dup3(fd, 2, 0)
	_ = syscall.Close(fd)
}
