//go:build !(linux || darwin || freebsd || dragonfly)

package hh

import (
	"errors"
	"syscall"
)

// freeSpace: this platform's free space is not asked.
func freeSpace(string) (int64, bool) { return 0, false }

func noSpace(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno == syscall.ENOSPC {
		return errno, true
	}
	return 0, false
}
