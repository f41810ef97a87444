package testutil

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// tmpfsEnv carries the mount point, and the parent's mount namespace, to the
// child process of SmallTmpfs.
const (
	tmpfsDirEnv      = "PALISADE_TEST_TMPFS_DIR"
	tmpfsParentNSEnv = "PALISADE_TEST_TMPFS_PARENT_NS"
)

// SmallTmpfs gives a test a small filesystem of its own, to see what fills
// it up. The test runs again in a child process inside a mount namespace of
// its own (`unshare --mount --propagation private`), where a tmpfs of size
// (mount's syntax: "6m") is mounted on a fresh directory: nothing is mounted
// in the host's namespace, and the mount ends with the child.
//
// In the child it returns the mount point and true: the test goes on there.
// In the parent it runs the child, fails t when the child failed (with its
// output), and returns "" and false: the test should return. It skips the
// test when it is not root or unshare is missing (CI runs as root).
func SmallTmpfs(t *testing.T, size string) (dir string, child bool) {
	t.Helper()
	if dir := os.Getenv(tmpfsDirEnv); dir != "" {
		// Mount only where the namespace is not the parent's.
		if ns, _ := os.Readlink("/proc/self/ns/mnt"); ns == "" || ns == os.Getenv(tmpfsParentNSEnv) {
			t.Fatalf("testutil: not in a mount namespace of its own (%q): refusing to mount", ns)
		}
		if err := syscall.Mount("palisade-test", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
			t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
		return dir, true
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs in a mount namespace of its own needs root (CI runs the tests as root)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Skipf("mount namespaces unavailable: %v", err)
	}
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	mnt := t.TempDir()
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), tmpfsDirEnv+"="+mnt, tmpfsParentNSEnv+"="+ns)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test in its own mount namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test did not run in its own mount namespace:\n%s", out)
	}
	t.Logf("in its own mount namespace, with a %s tmpfs:\n%s", size, out)
	return "", false
}
