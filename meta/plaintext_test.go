package meta_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
	"github.com/palisade-db/palisade/meta"
)

// TestNoPlaintextPasswordsAnywhere: passwords given to CREATE USER and SET
// PASSWORD (on the leader, on followers, through the gRPC client, accepted or
// refused) appear in no file of any node — Raft log, snapshots, anything
// else — nor in any log line, nor in an error; the files are private.
func TestNoPlaintextPasswordsAnywhere(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, LogWriter: logs})
	cl := c.Client(testSecret)
	ctx := testContext(t)
	f := c.Follower()

	passwords := []string{
		"Plaintext-Leader-7f3a9c", "Plaintext-Follower-2b8e41", "Plaintext-Client-9d04aa",
		"Plaintext-Changed-5c17e2", "Plaintext-ClientChange-e61b03", "Plaintext-Refused-44f2d0",
	}
	mustExecute(t, c, runningIndex(c), createUser("leaderuser", passwords[0], true))
	mustExecute(t, c, f, createUser("followeruser", passwords[1], false))
	if _, err := cl.Execute(ctx, createUser("clientuser", passwords[2], false)); err != nil {
		t.Fatal(err)
	}
	mustExecute(t, c, f, setPassword("leaderuser", passwords[3]))
	if _, err := cl.Execute(ctx, setPassword("followeruser", passwords[4])); err != nil {
		t.Fatal(err)
	}
	// Idempotent CREATE USER again, and refused ones.
	mustExecute(t, c, f, createUser("clientuser", passwords[2], false))
	for _, err := range []error{
		func() error { _, err := c.Execute(f, createUser("clientuser", passwords[5], false)); return err }(),
		func() error { _, err := cl.Execute(ctx, createUser("clientuser", passwords[5], true)); return err }(),
		func() error { _, err := c.Execute(f, setPassword("nosuchuser", passwords[5])); return err }(),
	} {
		if err == nil {
			t.Fatalf("a refused command succeeded")
		}
		for _, pw := range passwords {
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error %q contains a password", err)
			}
		}
	}
	d := waitConverged(t, c)
	if u := meta.FindUser(d, "leaderuser"); u == nil || !bytes.HasPrefix(u.Hash, []byte("$2")) {
		t.Fatalf("leaderuser = %v, want a bcrypt hash", u)
	}
	for _, n := range c.Nodes {
		if err := n.Store.Snapshot(); err != nil {
			t.Fatalf("snapshot on %s: %v", n.RaftAddr, err)
		}
	}
	for i := range c.Nodes {
		c.Kill(i)
	}

	files := 0
	// Control: the user names, which are not secret, are found in the files,
	// so the scan does see what the commands carried.
	names := map[string]bool{}
	for _, n := range c.Nodes {
		snapshots := 0
		err := filepath.WalkDir(n.Dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			mode := info.Mode().Perm()
			if e.IsDir() {
				if mode != 0o700 {
					t.Errorf("%s: directory mode %v, want 0700", path, mode)
				}
				return nil
			}
			if mode != 0o600 {
				t.Errorf("%s: file mode %v, want 0600", path, mode)
			}
			if filepath.Base(filepath.Dir(filepath.Dir(path))) == "snapshots" {
				snapshots++
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			for _, u := range []string{"leaderuser", "followeruser", "clientuser"} {
				if bytes.Contains(b, []byte(u)) {
					names[u] = true
				}
			}
			for _, pw := range passwords {
				if bytes.Contains(b, []byte(pw)) {
					t.Errorf("%s contains the password %q", path, pw)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(n.Dir, "raft.db")); err != nil {
			t.Fatalf("node %s: no raft.db: %v", n.RaftAddr, err)
		}
		if snapshots == 0 {
			t.Fatalf("node %s: no snapshot file was checked", n.RaftAddr)
		}
	}
	if len(names) != 3 {
		t.Fatalf("user names found in the files: %v; want all 3 (the scan reads the wrong bytes)", names)
	}
	logBytes := logs.Bytes()
	if len(logBytes) == 0 {
		t.Fatalf("no log output captured: the log check would prove nothing")
	}
	for _, pw := range passwords {
		if bytes.Contains(logBytes, []byte(pw)) {
			t.Errorf("the logs contain the password %q", pw)
		}
	}
	t.Logf("checked %d files and %d bytes of logs", files, len(logBytes))
}
