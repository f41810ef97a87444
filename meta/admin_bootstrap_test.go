package meta_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// bootstrapAdmin is what a data node proposes for an unauthenticated
// CREATE USER ... WITH ALL PRIVILEGES while it sees no admin.
func bootstrapAdmin(name, password string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
		Name: name, Password: password, Admin: true, Bootstrap: true,
	}}}
}

func bootstrapHashedAdmin(name string, hash []byte) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
		Name: name, Hash: hash, Admin: true, Bootstrap: true,
	}}}
}

func admins(d *metapb.Data) []string {
	var out []string
	for _, u := range d.Users {
		if u.Admin {
			out = append(out, u.Name)
		}
	}
	return out
}

// TestRacingAdminBootstrapsOnlyOneWins (issue 6, point 2b): data nodes that
// have not yet seen the first admin each let an unauthenticated client
// bootstrap one, under different names, at the same time and through
// different meta nodes. Exactly one becomes admin; the others are refused
// with ErrAdminExists.
func TestRacingAdminBootstrapsOnlyOneWins(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	for round := range 4 {
		names := make([]string, len(c.Nodes))
		errs := make([]error, len(c.Nodes))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range c.Nodes {
			names[i] = fmt.Sprintf("admin%d-%d", round, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = c.Execute(i, bootstrapAdmin(names[i], "pw-"+names[i]))
			}()
		}
		close(start)
		wg.Wait()

		var winners []string
		for i, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, names[i])
			case !errors.Is(err, meta.ErrAdminExists):
				t.Fatalf("round %d: bootstrap of %s through node %d: %v, want success or ErrAdminExists", round, names[i], i, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d bootstraps succeeded (%v), want exactly one", round, len(winners), winners)
		}
		d := waitConverged(t, c)
		if got := admins(d); !slices.Equal(got, winners) || len(d.Users) != 1 {
			t.Fatalf("round %d: users %v, admins %v; want only %v", round, userNames(d), got, winners)
		}
		// Dropping the only user opens the bootstrap again for the next round.
		resp := mustExecute(t, c, 0, dropUser(winners[0]))
		c.WaitForIndex(resp.Index)
	}
}

// TestAdminBootstrapIsNoPasswordOracle (issue 6, point 2b): once an admin
// exists, a bootstrap is refused with the same error whatever its
// password, the admin's own included: the idempotent-CREATE USER shortcut
// would otherwise tell an unauthenticated caller that it guessed the
// admin's password. Nothing changes.
func TestAdminBootstrapIsNoPasswordOracle(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	mustExecute(t, c, 0, createUser("admin", "admin-pw", true))
	mustExecute(t, c, 0, createUser("bob", "bob-pw", false))
	before := states(t, c)
	cl := c.Client(testSecret)
	for _, tc := range []struct {
		name string
		cmd  *metapb.Command
	}{
		{"the admin's own password", bootstrapAdmin("admin", "admin-pw")},
		{"a wrong password for the admin", bootstrapAdmin("admin", "not-the-pw")},
		{"a non-admin's own password", bootstrapAdmin("bob", "bob-pw")},
		{"a new user", bootstrapAdmin("mallory", "mallory-pw")},
		{"a new user, pre-hashed", bootstrapHashedAdmin("mallory", testHash)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			check := func(via string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: bootstrap succeeded with an admin present", via)
				}
				if !errors.Is(err, meta.ErrAdminExists) {
					t.Fatalf("%s: got %v, want ErrAdminExists", via, err)
				}
			}
			_, err := c.WaitForLeader().Store.Execute(ctx, tc.cmd)
			check("leader", err)
			_, err = c.Nodes[c.Follower()].Store.Execute(ctx, tc.cmd)
			check("follower", err)
			_, err = cl.Execute(ctx, tc.cmd)
			check("client", err)
			mc, derr := cl.Node(c.Nodes[c.Follower()].RPCAddr)
			if derr != nil {
				t.Fatal(derr)
			}
			_, err = mc.Execute(ctx, &metapb.ExecuteRequest{Command: tc.cmd})
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("gRPC status %v, want FailedPrecondition", err)
			}
		})
	}
	assertUnchanged(t, c, before)
}

// TestRetriedAdminBootstrapSucceedsOnlyByItsOwnHash: a bootstrap whose
// first attempt committed but whose answer was lost is retried with the
// same (hashed) command; the retry is refused in the log because its own
// admin now exists, and is then recognised as a success by its hash. The
// same name with any other hash stays refused.
func TestRetriedAdminBootstrapSucceedsOnlyByItsOwnHash(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	cmd := bootstrapHashedAdmin("root", testHash)
	first := mustExecute(t, c, c.Follower(), cmd)
	for _, i := range []int{c.LeaderIndex(), c.Follower()} {
		resp, err := c.Execute(i, cmd)
		if err != nil {
			t.Fatalf("retry through node %d: %v", i, err)
		}
		if resp.Index < first.Index {
			t.Fatalf("retry answered index %d, before the bootstrap's %d", resp.Index, first.Index)
		}
	}
	other := bootstrapHashedAdmin("root", []byte(string(testHash[:len(testHash)-1])+"x"))
	if _, err := c.Execute(c.Follower(), other); !errors.Is(err, meta.ErrAdminExists) {
		t.Fatalf("bootstrap of the same name with another hash: %v, want ErrAdminExists", err)
	}
	if _, err := c.Execute(c.Follower(), bootstrapAdmin("root", "pre-hashed-password")); !errors.Is(err, meta.ErrAdminExists) {
		t.Fatalf("bootstrap of the same name with its password: %v, want ErrAdminExists", err)
	}
	if got := admins(waitConverged(t, c)); !slices.Equal(got, []string{"root"}) {
		t.Fatalf("admins %v, want [root]", got)
	}
}
