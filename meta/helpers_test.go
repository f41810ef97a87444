package meta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// testSecret is the internal shared secret of the clusters that use one.
const testSecret = "internal-secret-for-tests"

// testHash is a valid bcrypt hash (of "pre-hashed-password", cost 4): commands
// that carry it skip hashing, which keeps large states cheap to build.
var testHash = func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("pre-hashed-password"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
}()

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// --- commands ------------------------------------------------------------------

func createUser(name, password string, admin bool) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: name, Password: password, Admin: admin}}}
}

func createHashedUser(name string, hash []byte) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: name, Hash: hash}}}
}

func setPassword(name, password string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_SetPassword{SetPassword: &metapb.SetPassword{Name: name, Password: password}}}
}

func setAdmin(name string, admin bool) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_SetAdmin{SetAdmin: &metapb.SetAdmin{Name: name, Admin: admin}}}
}

func dropUser(name string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_DropUser{DropUser: &metapb.DropUser{Name: name}}}
}

func setPrivilege(user, db string, p metapb.Privilege) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_SetPrivilege{SetPrivilege: &metapb.SetPrivilege{Name: user, Database: db, Privilege: p}}}
}

func createDatabase(name string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: name}}}
}

func createRP(db, name string, d time.Duration, makeDefault bool) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateRetentionPolicy{CreateRetentionPolicy: &metapb.CreateRetentionPolicy{
		Database: db, Spec: &metapb.RetentionPolicySpec{Name: name, Duration: int64(d)}, MakeDefault: makeDefault,
	}}}
}

func createShardGroup(db, rp string, ts time.Time) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateShardGroup{CreateShardGroup: &metapb.CreateShardGroup{
		Database: db, RetentionPolicy: rp, Timestamp: ts.UnixNano(),
	}}}
}

func addSecret(id string, value []byte) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_AddJwtSecret{AddJwtSecret: &metapb.AddJWTSecret{Id: id, Value: value, Created: 1}}}
}

// --- execution and waiting ----------------------------------------------------------

// mustExecute runs cmd on node i and fails the test on error.
func mustExecute(t testing.TB, c *testcluster.Cluster, i int, cmd *metapb.Command) *metapb.ExecuteResponse {
	t.Helper()
	resp, err := c.Execute(i, cmd)
	if err != nil {
		t.Fatalf("execute %v on node %d: %v", cmd, i, err)
	}
	return resp
}

// waitConverged waits until every running node has applied the leader's
// latest state, then checks that all their states are equal, and returns it.
func waitConverged(t testing.TB, c *testcluster.Cluster) *metapb.Data {
	t.Helper()
	leader := c.WaitForLeader()
	c.WaitFor("every node to reach the leader's state", func() bool {
		want := leader.Store.Data().Index
		for _, n := range c.Running() {
			if n.Store.Data().Index != want {
				return false
			}
		}
		return true
	})
	want := leader.Store.Data()
	for _, n := range c.Running() {
		if got := n.Store.Data(); !proto.Equal(got, want) {
			t.Fatalf("node %s state differs from the leader's at index %d:\n got %v\nwant %v", n.RaftAddr, want.Index, got, want)
		}
	}
	return want
}

// states waits until the running nodes agree, then returns each one's state
// by Raft address.
func states(t testing.TB, c *testcluster.Cluster) map[string]*metapb.Data {
	t.Helper()
	barrier(t, c)
	waitConverged(t, c)
	out := map[string]*metapb.Data{}
	for _, n := range c.Running() {
		out[n.RaftAddr] = n.Store.Data()
	}
	return out
}

// barrier commits a command that the state machine refuses (dropping a user
// that does not exist) and waits until every running node has applied it:
// whatever was proposed before it has then been applied everywhere.
func barrier(t testing.TB, c *testcluster.Cluster) {
	t.Helper()
	_, err := c.Execute(runningIndex(c), dropUser("barrier: no such user"))
	var ce *meta.CommandError
	if !errors.As(err, &ce) || !errors.Is(err, meta.ErrUserNotFound) {
		t.Fatalf("barrier: got %v, want a refused command (user not found)", err)
	}
	c.WaitForIndex(ce.Index)
}

// assertUnchanged checks, after a barrier, that every node's state is still
// the one in before.
func assertUnchanged(t testing.TB, c *testcluster.Cluster, before map[string]*metapb.Data) {
	t.Helper()
	barrier(t, c)
	for addr, want := range before {
		var got *metapb.Data
		for _, n := range c.Running() {
			if n.RaftAddr == addr {
				got = n.Store.Data()
			}
		}
		if got == nil {
			t.Fatalf("node %s is not running", addr)
		}
		if got.Index != want.Index {
			t.Fatalf("node %s: state index %d, want %d (unchanged)", addr, got.Index, want.Index)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("node %s: state changed:\n got %v\nwant %v", addr, got, want)
		}
	}
}

// userNames returns the names of d's users.
func userNames(d *metapb.Data) []string {
	var out []string
	for _, u := range d.Users {
		out = append(out, u.Name)
	}
	return out
}

// runningIndex returns the index of a running node: the leader when there
// is one (Execute on any node works; followers forward).
func runningIndex(c *testcluster.Cluster) int {
	if i := c.LeaderIndex(); i >= 0 {
		return i
	}
	for i, n := range c.Nodes {
		if n.Node != nil {
			return i
		}
	}
	return 0
}

// crash stops node i without handing leadership over, as a killed process would.
func crash(t testing.TB, c *testcluster.Cluster, i int) {
	t.Helper()
	if err := c.Nodes[i].Node.Crash(); err != nil {
		t.Logf("crash node %d: %v", i, err)
	}
	c.Nodes[i].Node = nil
}

// withoutIndex returns a copy of d with Index cleared, to compare contents.
func withoutIndex(d *metapb.Data) *metapb.Data {
	out := proto.Clone(d).(*metapb.Data)
	out.Index = 0
	return out
}

func name(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }
