package meta_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func raftServer(servers []*metapb.RaftServer, addr string) *metapb.RaftServer {
	if i := slices.IndexFunc(servers, func(s *metapb.RaftServer) bool { return s.RaftAddr == addr }); i >= 0 {
		return servers[i]
	}
	return nil
}

func metaNode(d *metapb.Data, addr string) *metapb.MetaNode {
	if i := slices.IndexFunc(d.MetaNodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == addr }); i >= 0 {
		return d.MetaNodes[i]
	}
	return nil
}

// TestAddAndRemoveMetaNode: a node started outside the peers list stays out
// of the cluster until added; added (through a follower's MetaService), it
// becomes a voter, receives the state and takes writes; removed, it leaves
// the Raft configuration and the state, and the cluster goes on without it.
func TestAddAndRemoveMetaNode(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	populate(t, c, c.Client(testSecret))
	ctx := testContext(t)

	i := c.AddNode()
	n4 := c.Nodes[i]
	// Running, but not a member: it has no state and the leader does not
	// know it. (A write now does not reach it.)
	mustExecute(t, c, 0, createDatabase("before-adding"))
	if n4.Store.IsLeader() || n4.Store.Data().Index != 0 {
		t.Fatalf("new node leads or has a state (index %d) before being added", n4.Store.Data().Index)
	}
	if s := raftServer(c.WaitForLeader().Store.Status().Servers, n4.RaftAddr); s != nil {
		t.Fatalf("new node is in the Raft configuration before being added: %v", s)
	}

	fc, err := meta.NewClient([]string{c.Nodes[c.Follower()].RPCAddr}, cluster.DialOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := fc.AddMetaNode(ctx, n4.RaftAddr, n4.RPCAddr); err != nil {
		t.Fatalf("AddMetaNode through a follower: %v", err)
	}
	c.WaitFor("the new node to be a voter", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		s := raftServer(l.Store.Status().Servers, n4.RaftAddr)
		return s != nil && s.Voter
	})
	d := waitConverged(t, c)
	checkPopulated(t, "new node", n4.Store.Data())
	if m := metaNode(d, n4.RaftAddr); len(d.MetaNodes) != 4 || m == nil || m.RpcAddr != n4.RPCAddr {
		t.Fatalf("meta nodes %v, want 4 including %s/%s", d.MetaNodes, n4.RaftAddr, n4.RPCAddr)
	}
	if st := n4.Store.Status(); len(st.Servers) != 4 || st.LeaderRaftAddr == "" {
		t.Fatalf("new node's status %v, want 4 servers and a known leader", st)
	}
	// Writes through the new node are forwarded and replicated.
	mustExecute(t, c, i, createDatabase("via-new-node"))
	if meta.FindDatabase(waitConverged(t, c), "via-new-node") == nil {
		t.Fatalf("write through the new node did not replicate")
	}

	// Remove it, through the client of the whole (original) cluster.
	removed, err := c.Client(testSecret).RemoveNode(ctx, &metapb.RemoveNodeRequest{
		Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: n4.RaftAddr},
	})
	if err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	c.WaitFor("the node to leave the Raft configuration", func() bool {
		l := c.Leader()
		if l == nil || l == n4 {
			return false
		}
		servers := l.Store.Status().Servers
		return len(servers) == 3 && raftServer(servers, n4.RaftAddr) == nil
	})
	c.Kill(i)
	// The index RemoveNode returned is one every remaining node reaches.
	c.WaitForIndex(removed)
	d = waitConverged(t, c)
	if len(d.MetaNodes) != 3 || metaNode(d, n4.RaftAddr) != nil {
		t.Fatalf("meta nodes %v after removal, want the 3 others", d.MetaNodes)
	}
	mustExecute(t, c, c.Follower(), createDatabase("after-removal"))
	if meta.FindDatabase(waitConverged(t, c), "after-removal") == nil {
		t.Fatalf("cluster does not take writes after the removal")
	}
	// Removing it again: it is gone.
	if _, err := c.WaitForLeader().Store.RemoveMetaNode(ctx, n4.RaftAddr, true); !errors.Is(err, meta.ErrNodeNotFound) {
		t.Fatalf("removing the removed node: got %v, want ErrNodeNotFound", err)
	}
}
