package meta_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

type createResult struct {
	node     int
	password string
	resp     *metapb.ExecuteResponse
	err      error
}

// createAtOnce creates user on nodes a and b at the same moment, with the
// given passwords and admin flags, and returns both results.
func createAtOnce(c *testcluster.Cluster, user string, a, b int, pwA, pwB string, adminA, adminB bool) [2]createResult {
	var out [2]createResult
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k, arg := range []struct {
		node  int
		pw    string
		admin bool
	}{{a, pwA, adminA}, {b, pwB, adminB}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.Execute(arg.node, createUser(user, arg.pw, arg.admin))
			out[k] = createResult{arg.node, arg.pw, resp, err}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// refusedInLog reports whether the last entry the leader applied was refused
// (the second of two racing CREATE USERs reached the state machine).
func refusedInLog(c *testcluster.Cluster) bool {
	st := c.WaitForLeader().Store.State()
	return st.Applied > st.Data.Index
}

// TestConcurrentCreateSameUser: two nodes creating the same user at once.
// Same password and admin flag: both succeed and one user exists. Different
// passwords (or admin flags): exactly one succeeds, the other gets
// ErrUserExists, and the stored user is the winner's.
//
// A bcrypt cost of 8 makes hashing (done before proposing) take long enough
// that both requests pass the local "user exists?" check and the race is
// decided in the Raft log.
func TestConcurrentCreateSameUser(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, HashCost: 8})
	f := c.Follower()
	others := []int{}
	for i := range c.Nodes {
		if i != f {
			others = append(others, i)
		}
	}
	const rounds = 4

	t.Run("same password", func(t *testing.T) {
		decidedInLog := 0
		for r := range rounds {
			user := fmt.Sprintf("same%d", r)
			// Follower against leader, then follower against follower.
			b := others[r%2]
			res := createAtOnce(c, user, f, b, "same-pw", "same-pw", true, true)
			if refusedInLog(c) {
				decidedInLog++
			}
			for _, r := range res {
				if r.err != nil {
					t.Fatalf("%s on node %d: %v, want success (same password and admin flag)", user, r.node, r.err)
				}
				// The returned index is one the node's state has reached.
				if got := c.Nodes[r.node].Store.Data().Index; got < r.resp.Index {
					t.Fatalf("%s on node %d: returned index %d, but the node's state is at %d", user, r.node, r.resp.Index, got)
				}
			}
			d := waitConverged(t, c)
			n := 0
			for _, u := range d.Users {
				if u.Name == user {
					n++
				}
			}
			u := meta.FindUser(d, user)
			if n != 1 || !u.Admin || !auth.CheckPassword(u.Hash, "same-pw") {
				t.Fatalf("%s: %d users, stored %v; want one admin with the password", user, n, u)
			}
		}
		t.Logf("%d of %d races decided in the Raft log", decidedInLog, rounds)
		if decidedInLog == 0 {
			t.Fatalf("no race reached the Raft log: the concurrent path was not exercised")
		}
	})

	for _, tc := range []struct {
		name           string
		pwB            string
		adminA, adminB bool
	}{
		{"different passwords", "pw-of-b", false, false},
		{"different admin flags", "pw-of-a", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for r := range rounds {
				user := fmt.Sprintf("%s-%d", tc.name, r)
				res := createAtOnce(c, user, f, others[r%2], "pw-of-a", tc.pwB, tc.adminA, tc.adminB)
				var winner, loser *createResult
				for k := range res {
					if res[k].err == nil {
						winner = &res[k]
					} else {
						loser = &res[k]
					}
				}
				if winner == nil || loser == nil {
					t.Fatalf("%s: results %v and %v, want exactly one success", user, res[0].err, res[1].err)
				}
				if !errors.Is(loser.err, meta.ErrUserExists) {
					t.Fatalf("%s: loser got %v, want ErrUserExists", user, loser.err)
				}
				wantAdmin := tc.adminA
				if winner == &res[1] {
					wantAdmin = tc.adminB
				}
				d := waitConverged(t, c)
				u := meta.FindUser(d, user)
				if u == nil || !auth.CheckPassword(u.Hash, winner.password) || u.Admin != wantAdmin {
					t.Fatalf("%s: stored user %v is not the winner's (password %q, admin %v)", user, u, winner.password, wantAdmin)
				}
				if winner.password != loser.password && auth.CheckPassword(u.Hash, loser.password) {
					t.Fatalf("%s: stored hash verifies the loser's password", user)
				}
			}
		})
	}
}

// A CreateUser that is proposed again after its first attempt committed (the
// leader was lost or unreachable while answering) succeeds: the stored hash is
// the one the command carries. Another command for the same name, with its own
// hash, is still refused.
func TestRetriedCreateUserSucceeds(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3})
	ctx := testContext(t)
	leader := c.WaitForLeader()
	cmd := createHashedUser("retried", testHash)
	first, err := leader.Store.Execute(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	again, err := leader.Store.Execute(ctx, cmd)
	if err != nil {
		t.Fatalf("the same command again: %v", err)
	}
	if again.Index < first.Index {
		t.Fatalf("index %d after retry, want >= %d", again.Index, first.Index)
	}
	other, err := auth.HashPassword("another password", 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Store.Execute(ctx, createHashedUser("retried", other)); !errors.Is(err, meta.ErrUserExists) {
		t.Fatalf("a different hash for the same name: %v, want ErrUserExists", err)
	}
}
