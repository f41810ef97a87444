//go:build linux || darwin || freebsd || dragonfly

package hh

import (
	"errors"
	"syscall"
)

// freeSpace returns the bytes that an unprivileged process may still write
// on the filesystem of dir (ok false when the filesystem does not say).
// Blocks reserved for root are not counted: a node running as root keeps
// them for the rest of the system too.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true // the field types differ by platform
}

// noSpace reports whether err is the filesystem saying it has no room:
// no space left, or a disk quota reached.
func noSpace(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOSPC || errno == syscall.EDQUOT) {
		return errno, true
	}
	return 0, false
}
