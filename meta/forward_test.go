package meta_test

import (
	"fmt"
	"testing"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
)

// checkAppliedHere checks, without waiting, that n has applied index and
// that the leader had applied it too (forwarded writes commit on the leader).
func checkAppliedHere(t *testing.T, c *testcluster.Cluster, n *testcluster.Node, index uint64, what string) {
	t.Helper()
	if st := n.Store.State(); st.Applied < index || st.Data.Index < index {
		t.Fatalf("%s: follower %s has applied %d (state index %d) when Execute returned index %d",
			what, n.RaftAddr, st.Applied, st.Data.Index, index)
	}
	if l := c.Leader(); l != nil && l.Store.State().Applied < index {
		t.Fatalf("%s: leader has not applied index %d", what, index)
	}
}

// TestFollowerExecuteForwarded: Execute on a follower (its Store, or the gRPC
// client pointed at that follower only) commits through the leader, and the
// follower has applied the returned index when the call returns.
func TestFollowerExecuteForwarded(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	fi := c.Follower()
	f := c.Nodes[fi]
	if f.Store.IsLeader() {
		t.Fatalf("node %d leads", fi)
	}
	ctx := testContext(t)

	for i := range 20 {
		db := fmt.Sprintf("fwd%d", i)
		resp, err := f.Store.Execute(ctx, createDatabase(db))
		if err != nil {
			t.Fatalf("Execute on follower: %v", err)
		}
		checkAppliedHere(t, c, f, resp.Index, "Store.Execute")
		if meta.FindDatabase(f.Store.Data(), db) == nil {
			t.Fatalf("follower lacks %s right after Execute returned", db)
		}
	}

	fc, err := meta.NewClient([]string{f.RPCAddr}, cluster.DialOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	for i := range 20 {
		user := fmt.Sprintf("fwduser%d", i)
		resp, err := fc.Execute(ctx, createUser(user, "pw-"+user, false))
		if err != nil {
			t.Fatalf("client Execute through follower: %v", err)
		}
		checkAppliedHere(t, c, f, resp.Index, "Client.Execute")
		u := meta.FindUser(f.Store.Data(), user)
		if u == nil || !auth.CheckPassword(u.Hash, "pw-"+user) {
			t.Fatalf("follower lacks %s (or its password) right after Execute returned", user)
		}
	}

	reg, err := fc.RegisterDataNode(ctx, "10.1.1.1:8086", "10.1.1.1:8088")
	if err != nil {
		t.Fatalf("RegisterDataNode through follower: %v", err)
	}
	checkAppliedHere(t, c, f, reg.Index, "RegisterDataNode")
	if d := f.Store.Data(); len(d.DataNodes) != 1 || d.DataNodes[0].Id != reg.NodeId {
		t.Fatalf("follower data nodes %v right after registering node %d", d.DataNodes, reg.NodeId)
	}
	// Registering again returns the same ID.
	again, err := fc.RegisterDataNode(ctx, "10.1.1.1:8086", "10.1.1.1:8088")
	if err != nil || again.NodeId != reg.NodeId {
		t.Fatalf("registering again: id %v, err %v; want %d", again.GetNodeId(), err, reg.NodeId)
	}
}
