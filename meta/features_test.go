package meta_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func setFeatureLevel(level uint32) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_SetFeatureLevel{SetFeatureLevel: &metapb.SetFeatureLevel{Level: level}}}
}

func withRequestID(cmd *metapb.Command, id string) *metapb.Command {
	cmd.RequestId = []byte(id)
	return cmd
}

// futureOp returns a command whose operation (field 19 of the op oneof) this
// binary does not know, as a newer client or meta node would send it.
func futureOp() *metapb.Command {
	cmd := &metapb.Command{}
	b := protowire.AppendTag(nil, 19, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0x0a, 0x03, 'n', 'e', 'w'})
	cmd.ProtoReflect().SetUnknown(b)
	return cmd
}

// olderNodes makes the nodes whose index is in old claim feature level 1
// (a version from before request IDs) each time they start.
func olderNodes(old map[int]bool) func(int, *meta.Config) {
	return func(i int, cfg *meta.Config) {
		if old[i] {
			meta.ClaimFeatureLevel(cfg, 1)
		}
	}
}

// TestFeatureLevelRisesOnlyWhenEveryNodeSupportsIt (issue 7, point 6): a
// rolling upgrade. While one meta node runs a version that supports only
// level 1, the cluster stays at 1 and a command that needs level 2 is
// refused with ErrFeatureLevel naming that node, before it reaches the log
// (where that node would halt). Once that node runs the new version too,
// the leader raises the level by itself, and request IDs take effect.
func TestFeatureLevelRisesOnlyWhenEveryNodeSupportsIt(t *testing.T) {
	old := map[int]bool{2: true}
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, Configure: olderNodes(old)})
	ctx := testContext(t)
	oldNode := c.Nodes[2]
	cl := c.Client(testSecret)
	st, err := cl.Status(ctx, oldNode.RPCAddr)
	if err != nil || st.SupportedFeatureLevel != 1 || st.ClusterFeatureLevel != 1 {
		t.Fatalf("older node's status: %v, %v; want it to support level 1 in a cluster at 1", st, err)
	}

	for i := range c.Nodes {
		// The older node refuses it itself (also when it leads and the
		// command was forwarded to it); a newer leader asks every member.
		want := oldNode.RaftAddr
		if i == 2 || c.LeaderIndex() == 2 {
			want = "this meta node supports 1"
		}
		_, err := c.Execute(i, setFeatureLevel(2))
		if !errors.Is(err, meta.ErrFeatureLevel) || !strings.Contains(err.Error(), want) {
			t.Fatalf("raise to level 2 through node %d: %v, want ErrFeatureLevel saying %q", i, err, want)
		}
		var ce *meta.CommandError
		if errors.As(err, &ce) {
			t.Fatalf("the refused raise reached the log (index %d)", ce.Index)
		}
	}
	mc, err := cl.Node(c.Nodes[0].RPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.Execute(ctx, &metapb.ExecuteRequest{Command: setFeatureLevel(2)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("gRPC status %v, want FailedPrecondition", err)
	}
	for addr, d := range states(t, c) {
		if meta.ClusterFeatureLevel(d) != 1 {
			t.Fatalf("node %s runs at level %d with a level-1 member", addr, meta.ClusterFeatureLevel(d))
		}
	}

	// The older node is upgraded: stopped, then started with this version.
	c.Kill(2)
	old[2] = false
	c.Restart(2)
	c.WaitFor("every node at feature level 2", func() bool {
		for _, n := range c.Running() {
			if meta.ClusterFeatureLevel(n.Store.Data()) != meta.FeatureLevel {
				return false
			}
		}
		return true
	})
	// Request IDs now count: a retry after a lost answer applies once.
	leader := c.WaitForLeader()
	leader.Store.LoseLeaderReplies(1)
	if _, err := leader.Store.Execute(ctx, addSecret("k1", secretOne)); err != nil {
		t.Fatalf("retried AddJWTSecret at level 2: %v", err)
	}
	if n := countSecrets(waitConverged(t, c), "k1"); n != 1 {
		t.Fatalf("%d secrets k1", n)
	}
	// The level never falls.
	if _, err := c.Execute(0, setFeatureLevel(1)); !errors.Is(err, meta.ErrInvalidCommand) {
		t.Fatalf("lowering the level: %v, want ErrInvalidCommand", err)
	}
}

// TestAddMetaNodeRefusesAnOlderVersion (issue 7, point 6): a node whose
// version supports less than the cluster's feature level cannot join: it
// could not apply the log. It stays out of the Raft configuration.
func TestAddMetaNodeRefusesAnOlderVersion(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, Configure: olderNodes(map[int]bool{3: true})})
	i := c.AddNode()
	n := c.Nodes[i]
	leader := c.WaitForLeader()
	_, err := leader.Store.AddMetaNode(testContext(t), n.RaftAddr, n.RPCAddr, true)
	if !errors.Is(err, meta.ErrFeatureLevel) || !strings.Contains(err.Error(), "upgrade it") {
		t.Fatalf("adding a level-1 node to a level-%d cluster: %v, want ErrFeatureLevel", meta.FeatureLevel, err)
	}
	if s := raftServer(leader.Store.Status().Servers, n.RaftAddr); s != nil {
		t.Fatalf("the refused node is in the Raft configuration: %v", s)
	}
	if metaNode(leader.Store.Data(), n.RaftAddr) != nil {
		t.Fatalf("the refused node is in the state")
	}
}
