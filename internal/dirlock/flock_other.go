//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dirlock

import "os"

// tryLock: this platform has no flock; directories are not locked.
func tryLock(*os.File) (bool, error) { return true, nil }

type fileKey struct{ name string }

func keyOf(f *os.File) (fileKey, error) { return fileKey{name: f.Name()}, nil }
