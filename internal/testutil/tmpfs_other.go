//go:build !linux

package testutil

import "testing"

// SmallTmpfs skips the test: mount namespaces are Linux's (see
// tmpfs_linux.go).
func SmallTmpfs(t *testing.T, size string) (dir string, child bool) {
	t.Helper()
	t.Skip("a tmpfs in a mount namespace of the test's own needs Linux")
	return "", false
}
