package meta_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

const (
	// seededUsers are in the state the cluster starts from.
	seededUsers = 100_000
	// executors create executedUsers more through the leader's
	// Store.Execute.
	executors = 16
)

// executedUsers: each one's command copies the 100,000 users' slice on
// every replica, which the race detector makes cost about 35 ms (the whole
// test runs in 3 s without it): 512 under the race detector starved the
// three in-process replicas' heartbeats on two cores until leadership
// flapped past the test's deadline.
var executedUsers = map[bool]int{false: 512, true: 32}[raceEnabled]

// checkAllUsers checks that d holds every seeded and executed user, each
// with the pre-computed hash, and nothing else.
func checkAllUsers(t *testing.T, who string, d *metapb.Data) {
	t.Helper()
	if got, want := len(d.Users), seededUsers+executedUsers; got != want {
		t.Fatalf("%s: %d users, want %d", who, got, want)
	}
	check := func(n string) {
		u := meta.FindUser(d, n)
		if u == nil {
			t.Fatalf("%s: user %s missing", who, n)
		}
		if !bytes.Equal(u.Hash, testHash) {
			t.Fatalf("%s: user %s has hash %q, want the one it was created with", who, n, u.Hash)
		}
	}
	for i := range seededUsers {
		check(name("seeded", i))
	}
	for i := range executedUsers {
		check(name("executed", i))
	}
}

// TestSnapshotRestore100kUsers: a state of 100,000 users survives Raft
// snapshots both ways a node gets one: a fresh node added at run time
// receives it through InstallSnapshot, and a restarted node restores it from
// its own snapshot file.
//
// Proposing 100,000 CreateUser commands costs O(n²) (every command copies
// the users slice: about 3 minutes per replica under -race), so the cluster
// starts from a seeded snapshot of 100,000 users, and executedUsers more
// are created through Execute by 16 goroutines.
func TestSnapshotRestore100kUsers(t *testing.T) {
	seed := &metapb.Data{Index: 10, ClusterId: "seeded-cluster"}
	for i := range seededUsers {
		seed.Users = append(seed.Users, &metapb.User{Name: name("seeded", i), Hash: testHash})
	}
	c := testcluster.New(t, testcluster.Options{Meta: 3, Seed: seed})
	for _, n := range c.Nodes {
		if got := len(n.Store.Data().Users); got != seededUsers {
			t.Fatalf("node %s restored %d seeded users, want %d", n.RaftAddr, got, seededUsers)
		}
	}

	leader := c.WaitForLeader()
	ctx := testContext(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		maxIndex uint64
	)
	errs := make(chan error, executors)
	for g := range executors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < executedUsers; i += executors {
				resp, err := leader.Store.Execute(ctx, createHashedUser(name("executed", i), testHash))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				maxIndex = max(maxIndex, resp.Index)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating users through Execute: %v", err)
	}
	c.WaitForIndex(maxIndex)
	for _, n := range c.Nodes {
		if err := n.Store.Snapshot(); err != nil {
			t.Fatalf("snapshot on %s: %v", n.RaftAddr, err)
		}
	}

	// A fresh node: the leader's log starts after the seed, so it can only
	// catch up through InstallSnapshot.
	i := c.AddNode()
	fresh := c.Nodes[i]
	if _, err := leader.Store.AddMetaNode(ctx, fresh.RaftAddr, fresh.RPCAddr, true); err != nil {
		t.Fatalf("AddMetaNode: %v", err)
	}
	c.WaitFor("the new node to catch up", func() bool {
		return fresh.Store.Data().Index == leader.Store.Data().Index
	})
	checkAllUsers(t, "new node", fresh.Store.Data())
	snaps, err := os.ReadDir(filepath.Join(fresh.Dir, "snapshots"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("new node has no snapshot (err %v): it did not catch up through InstallSnapshot", err)
	}
	// The installed snapshot holds password hashes: owner only.
	err = filepath.WalkDir(filepath.Join(fresh.Dir, "snapshots"), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if want := map[bool]fs.FileMode{true: 0o700, false: 0o600}[e.IsDir()]; info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every node down, then one alone: without a quorum it applies no log
	// entry, so what it has comes from its own snapshot file.
	for i := range c.Nodes {
		c.Kill(i)
	}
	c.Restart(0)
	checkAllUsers(t, "restarted node", c.Nodes[0].Store.Data())
	if got := c.Nodes[0].Store.Data().ClusterId; got != "seeded-cluster" {
		t.Fatalf("restarted node: cluster id %q", got)
	}
}
