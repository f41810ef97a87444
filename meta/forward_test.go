package meta_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
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

// TestLeaderOnlyCallsAnsweredOrForwarded covers the three ways of
// leaderOrForward, through its callers: the leader answers; a follower
// reached by a forwarded request (it must not forward again, or a stale
// view of who leads could loop) refuses with the leader's MetaService
// address, for each of the five calls only the leader answers; a follower
// allowed to forward gets the leader's answer.
func TestLeaderOnlyCallsAnsweredOrForwarded(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	ctx := testContext(t)
	l := c.WaitForLeader()
	// Every node knows the leader's MetaService address (from the state).
	c.WaitForIndex(l.Store.Data().Index)
	f := c.Nodes[c.Follower()]

	// The leader answers itself, even when it may not forward.
	if _, err := l.Store.Heartbeat(ctx, &metapb.HeartbeatRequest{NodeId: 7}, false); err != nil {
		t.Fatalf("Heartbeat on the leader: %v", err)
	}
	if _, ok := l.Store.Status().DataNodeLastSeen[7]; !ok {
		t.Fatalf("leader did not record the heartbeat of node 7")
	}
	if _, err := l.Store.AcquireLease(ctx, &metapb.AcquireLeaseRequest{Name: "cq", NodeId: 7}, false); err != nil {
		t.Fatalf("AcquireLease on the leader: %v", err)
	}

	// A forwarded request on a follower: refused, naming the leader.
	conn, err := cluster.Dial(f.RPCAddr, cluster.DialOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := metapb.NewMetaServiceClient(conn)
	fwd := meta.Forwarded(ctx)
	for _, tc := range []struct {
		call string
		do   func() error
	}{
		{"Execute", func() error {
			_, err := fc.Execute(fwd, &metapb.ExecuteRequest{Command: createDatabase("refused")})
			return err
		}},
		{"Heartbeat", func() error { _, err := fc.Heartbeat(fwd, &metapb.HeartbeatRequest{NodeId: 8}); return err }},
		{"AcquireLease", func() error {
			_, err := fc.AcquireLease(fwd, &metapb.AcquireLeaseRequest{Name: "cq", NodeId: 8})
			return err
		}},
		{"AddMetaNode", func() error {
			_, err := fc.AddMetaNode(fwd, &metapb.AddMetaNodeRequest{RaftAddr: "127.0.0.1:1", RpcAddr: "127.0.0.1:2"})
			return err
		}},
		{"RemoveNode", func() error {
			_, err := fc.RemoveNode(fwd, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: "127.0.0.1:1"}})
			return err
		}},
	} {
		var nl *meta.NotLeaderError
		if err := meta.FromStatus(tc.do()); !errors.As(err, &nl) || nl.LeaderRPCAddr != l.RPCAddr {
			t.Errorf("forwarded %s on a follower: got %v, want NotLeaderError naming the leader %s", tc.call, err, l.RPCAddr)
		}
	}
	if _, ok := l.Store.Status().DataNodeLastSeen[8]; ok {
		t.Errorf("a refused heartbeat of node 8 reached the leader")
	}
	if meta.FindDatabase(l.Store.Data(), "refused") != nil {
		t.Errorf("a refused Execute reached the leader")
	}
	if len(l.Store.Status().Servers) != 3 {
		t.Errorf("refused membership changes changed the Raft configuration: %v", l.Store.Status().Servers)
	}

	// A follower that may forward gets the leader's answer.
	resp, err := f.Store.Heartbeat(ctx, &metapb.HeartbeatRequest{NodeId: 9}, true)
	if err != nil {
		t.Fatalf("Heartbeat through a follower: %v", err)
	}
	if _, ok := l.Store.Status().DataNodeLastSeen[9]; !ok || resp.ClusterId != l.Store.Data().ClusterId {
		t.Fatalf("Heartbeat through a follower: leader recorded node 9: %v; cluster ID %q, want the leader's %q",
			ok, resp.ClusterId, l.Store.Data().ClusterId)
	}
	if _, err := f.Store.AcquireLease(ctx, &metapb.AcquireLeaseRequest{Name: "cq", NodeId: 9}, true); err != nil {
		t.Fatalf("AcquireLease through a follower: %v", err)
	}
	// The leader's refusal arrives as the error it is.
	if _, err := f.Store.RemoveMetaNode(ctx, "127.0.0.1:1", true); !errors.Is(err, meta.ErrNodeNotFound) {
		t.Fatalf("removing an unknown meta node through a follower: got %v, want ErrNodeNotFound", err)
	}
}
