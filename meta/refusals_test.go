package meta_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestBadCommandsRefused: invalid commands, sent to the leader, to a
// follower and through the gRPC client, fail with the matching sentinel
// error (also after crossing the wire) and change no node's state.
func TestBadCommandsRefused(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	mustExecute(t, c, 0, createUser("existing", "existing-pw", false))
	mustExecute(t, c, 0, createDatabase("db"))
	mustExecute(t, c, 0, addSecret("k1", secretOne))
	before := states(t, c)
	cl := c.Client(testSecret)

	zero := int64(0)
	for _, tc := range []struct {
		name string
		cmd  *metapb.Command
		want error
		code codes.Code
	}{
		{"nil command", nil, meta.ErrInvalidCommand, codes.InvalidArgument},
		{"empty command", &metapb.Command{}, meta.ErrInvalidCommand, codes.InvalidArgument},
		{"empty user name", createUser("", "pw", false), meta.ErrUsernameRequired, codes.InvalidArgument},
		{"empty user name, pre-hashed", createHashedUser("", testHash), meta.ErrUsernameRequired, codes.InvalidArgument},
		{"no password", createUser("nopw", "", false), meta.ErrPasswordRequired, codes.InvalidArgument},
		{"user exists", createUser("existing", "other-pw", false), meta.ErrUserExists, codes.AlreadyExists},
		{"user exists, pre-hashed", createHashedUser("existing", testHash), meta.ErrUserExists, codes.AlreadyExists},
		{"invalid hash", createHashedUser("badhash", []byte("not-a-bcrypt-hash")), meta.ErrInvalidHash, codes.InvalidArgument},
		{"invalid hash in set password", &metapb.Command{Op: &metapb.Command_SetPassword{SetPassword: &metapb.SetPassword{Name: "existing", Hash: []byte("$2a$nope")}}}, meta.ErrInvalidHash, codes.InvalidArgument},
		{"set password of missing user", setPassword("ghost", "pw"), meta.ErrUserNotFound, codes.NotFound},
		{"drop missing user", dropUser("ghost"), meta.ErrUserNotFound, codes.NotFound},
		{"retention policy on missing database", createRP("nodb", "rp", time.Hour, false), meta.ErrDatabaseNotFound, codes.NotFound},
		{"retention policy too short", createRP("db", "rp", time.Minute, false), meta.ErrRetentionPolicyDuration, codes.InvalidArgument},
		{"update missing retention policy", &metapb.Command{Op: &metapb.Command_UpdateRetentionPolicy{UpdateRetentionPolicy: &metapb.UpdateRetentionPolicy{Database: "db", Name: "nope", Duration: &zero}}}, meta.ErrRetentionPolicyNotFound, codes.NotFound},
		{"shard group on missing database", createShardGroup("nodb", "autogen", sgTime), meta.ErrDatabaseNotFound, codes.NotFound},
		{"shard group on missing policy", createShardGroup("db", "nope", sgTime), meta.ErrRetentionPolicyNotFound, codes.NotFound},
		{"privilege on missing database", setPrivilege("existing", "nodb", metapb.Privilege_PRIVILEGE_READ), meta.ErrDatabaseNotFound, codes.NotFound},
		{"privilege for missing user", setPrivilege("ghost", "db", metapb.Privilege_PRIVILEGE_READ), meta.ErrUserNotFound, codes.NotFound},
		{"invalid privilege", setPrivilege("existing", "db", metapb.Privilege(42)), meta.ErrInvalidPrivilege, codes.InvalidArgument},
		{"duplicate secret", addSecret("k1", secretTwo), meta.ErrSecretExists, codes.AlreadyExists},
		{"too-short secret", addSecret("k2", []byte("short")), meta.ErrSecretTooShort, codes.InvalidArgument},
		{"secret without id", addSecret("", secretOne), meta.ErrSecretIDRequired, codes.InvalidArgument},
		{"remove missing secret", &metapb.Command{Op: &metapb.Command_RemoveJwtSecret{RemoveJwtSecret: &metapb.RemoveJWTSecret{Id: "nope"}}}, meta.ErrSecretNotFound, codes.NotFound},
		{"remove missing data node", &metapb.Command{Op: &metapb.Command_RemoveDataNode{RemoveDataNode: &metapb.RemoveDataNode{Id: 99}}}, meta.ErrNodeNotFound, codes.NotFound},
		{"data node without address", &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{HttpAddr: "h:1"}}}, meta.ErrInvalidCommand, codes.InvalidArgument},
		{"settings missing", &metapb.Command{Op: &metapb.Command_SetSettings{SetSettings: &metapb.SetSettings{}}}, meta.ErrInvalidCommand, codes.InvalidArgument},
		{"request ID only", &metapb.Command{RequestId: []byte("id")}, meta.ErrInvalidCommand, codes.InvalidArgument},
		{"request ID too long", withRequestID(dropUser("ghost"), string(bytes.Repeat([]byte{'x'}, 65))), meta.ErrInvalidCommand, codes.InvalidArgument},
		// From a newer client: refused before the log, where every replica
		// of this version would halt on it.
		{"operation from a newer version", futureOp(), meta.ErrFeatureLevel, codes.FailedPrecondition},
		{"feature level above every node's", setFeatureLevel(meta.FeatureLevel + 1), meta.ErrFeatureLevel, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			check := func(via string, err error) {
				t.Helper()
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", via, err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.want.Error()) {
					t.Fatalf("%s: message %q does not say %q", via, err, tc.want)
				}
			}
			_, err := c.WaitForLeader().Store.Execute(ctx, tc.cmd)
			check("leader", err)
			_, err = c.Nodes[c.Follower()].Store.Execute(ctx, tc.cmd)
			check("follower", err)
			_, err = cl.Execute(ctx, tc.cmd)
			check("client", err)
			// The code of the status on the wire, straight from a follower.
			mc, derr := cl.Node(c.Nodes[c.Follower()].RPCAddr)
			if derr != nil {
				t.Fatal(derr)
			}
			_, err = mc.Execute(ctx, &metapb.ExecuteRequest{Command: tc.cmd})
			if status.Code(err) != tc.code {
				t.Fatalf("gRPC status %v, want code %v", err, tc.code)
			}
			assertUnchanged(t, c, before)
		})
	}
}

// TestRemoveLastMetaNode: the only meta node cannot be removed.
func TestRemoveLastMetaNode(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 1, Secret: testSecret})
	before := states(t, c)
	n := c.Nodes[0]
	ctx := testContext(t)
	if _, err := n.Store.RemoveMetaNode(ctx, n.RaftAddr, true); !errors.Is(err, meta.ErrLastMetaNode) {
		t.Fatalf("Store.RemoveMetaNode: got %v, want ErrLastMetaNode", err)
	}
	_, err := c.Client(testSecret).RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: n.RaftAddr}})
	if !errors.Is(err, meta.ErrLastMetaNode) || !strings.Contains(err.Error(), meta.ErrLastMetaNode.Error()) {
		t.Fatalf("Client.RemoveNode: got %v, want ErrLastMetaNode", err)
	}
	if _, err := n.Store.RemoveMetaNode(ctx, "127.0.0.1:1", true); !errors.Is(err, meta.ErrNodeNotFound) {
		t.Fatalf("removing an unknown node: got %v, want ErrNodeNotFound", err)
	}
	assertUnchanged(t, c, before)
	st := n.Store.Status()
	if !n.Store.IsLeader() || len(st.Servers) != 1 || !st.Servers[0].Voter {
		t.Fatalf("after refused removals: status %v, want the node to lead as the only voter", st)
	}
}
