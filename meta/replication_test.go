package meta_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

var (
	secretOne = bytes.Repeat([]byte{0xA1}, 32)
	secretTwo = bytes.Repeat([]byte{0xB2}, 16)
	sgTime    = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

// populate changes every part of the state through different nodes and
// the gRPC client, and returns the index of the last change.
func populate(t *testing.T, c *testcluster.Cluster, cl *meta.Client) {
	t.Helper()
	ctx := testContext(t)
	l := runningIndex(c)
	f := l
	if len(c.Running()) > 1 {
		f = c.Follower()
	}
	mustExecute(t, c, f, createUser("alice", "alice-pw", true))
	mustExecute(t, c, l, createUser("bob", "bob-pw", false))
	if _, err := cl.Execute(ctx, createUser("carol", "carol-pw", false)); err != nil {
		t.Fatal(err)
	}
	mustExecute(t, c, f, setAdmin("carol", true))
	mustExecute(t, c, l, setPassword("bob", "bob-pw-2"))

	mustExecute(t, c, f, createDatabase("db1"))
	mustExecute(t, c, l, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{
		Name: "db2", RetentionPolicy: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(7 * 24 * time.Hour), ReplicationFactor: 2},
	}}})
	mustExecute(t, c, f, createRP("db1", "hour", time.Hour, true))
	newName, rf := "one-hour", uint32(3)
	mustExecute(t, c, l, &metapb.Command{Op: &metapb.Command_UpdateRetentionPolicy{UpdateRetentionPolicy: &metapb.UpdateRetentionPolicy{
		Database: "db1", Name: "hour", NewName: &newName, ReplicationFactor: &rf,
	}}})
	mustExecute(t, c, f, setPrivilege("bob", "db1", metapb.Privilege_PRIVILEGE_READ))
	mustExecute(t, c, l, setPrivilege("bob", "db2", metapb.Privilege_PRIVILEGE_ALL))

	mustExecute(t, c, f, addSecret("k1", secretOne))
	mustExecute(t, c, l, addSecret("k2", secretTwo))

	for _, addrs := range [][2]string{{"10.0.0.1:8086", "10.0.0.1:8088"}, {"10.0.0.2:8086", "10.0.0.2:8088"}} {
		resp, err := cl.RegisterDataNode(ctx, addrs[0], addrs[1])
		if err != nil {
			t.Fatal(err)
		}
		if resp.NodeId == 0 {
			t.Fatalf("RegisterDataNode(%s): node id 0", addrs[1])
		}
	}
	mustExecute(t, c, f, createShardGroup("db2", "week", sgTime))
	mustExecute(t, c, l, &metapb.Command{Op: &metapb.Command_SetSettings{SetSettings: &metapb.SetSettings{
		Settings: &metapb.ClusterSettings{DefaultReplicationFactor: 2},
	}}})
}

// checkPopulated checks that d holds everything populate wrote.
func checkPopulated(t *testing.T, who string, d *metapb.Data) {
	t.Helper()
	if d.ClusterId == "" {
		t.Fatalf("%s: no cluster id", who)
	}
	for _, u := range []struct {
		name, password string
		admin          bool
		privs          map[string]metapb.Privilege
	}{
		{"alice", "alice-pw", true, nil},
		{"bob", "bob-pw-2", false, map[string]metapb.Privilege{"db1": metapb.Privilege_PRIVILEGE_READ, "db2": metapb.Privilege_PRIVILEGE_ALL}},
		{"carol", "carol-pw", true, nil},
	} {
		got := meta.FindUser(d, u.name)
		if got == nil {
			t.Fatalf("%s: no user %s in %v", who, u.name, userNames(d))
		}
		if !auth.CheckPassword(got.Hash, u.password) {
			t.Fatalf("%s: user %s: hash does not verify the password", who, u.name)
		}
		if got.Admin != u.admin {
			t.Fatalf("%s: user %s: admin %v, want %v", who, u.name, got.Admin, u.admin)
		}
		if len(got.Privileges) != len(u.privs) {
			t.Fatalf("%s: user %s: privileges %v, want %v", who, u.name, got.Privileges, u.privs)
		}
		for db, p := range u.privs {
			if got.Privileges[db] != p {
				t.Fatalf("%s: user %s: privilege on %s %v, want %v", who, u.name, db, got.Privileges[db], p)
			}
		}
	}
	db1 := meta.FindDatabase(d, "db1")
	if db1 == nil || db1.DefaultRetentionPolicy != "one-hour" || len(db1.RetentionPolicies) != 2 {
		t.Fatalf("%s: db1 = %v, want default one-hour and 2 policies", who, db1)
	}
	if rp := meta.FindRetentionPolicy(db1, "one-hour"); rp == nil || rp.Duration != int64(time.Hour) || rp.ReplicationFactor != 3 {
		t.Fatalf("%s: db1.one-hour = %v", who, rp)
	}
	db2 := meta.FindDatabase(d, "db2")
	if db2 == nil || db2.DefaultRetentionPolicy != "week" {
		t.Fatalf("%s: db2 = %v", who, db2)
	}
	week := meta.FindRetentionPolicy(db2, "week")
	if week == nil || week.ReplicationFactor != 2 || len(week.ShardGroups) != 1 {
		t.Fatalf("%s: db2.week = %v, want replication 2 and one shard group", who, week)
	}
	sg := week.ShardGroups[0]
	if sg.StartTime > sgTime.UnixNano() || sg.EndTime <= sgTime.UnixNano() || len(sg.Shards) != 1 || len(meta.ReadOwners(sg.Shards[0])) != 2 {
		t.Fatalf("%s: shard group %v, want one shard with 2 owners covering %v", who, sg, sgTime)
	}
	if len(d.JwtSecrets) != 2 || d.JwtSecrets[0].Id != "k1" || !bytes.Equal(d.JwtSecrets[0].Value, secretOne) ||
		d.JwtSecrets[1].Id != "k2" || !bytes.Equal(d.JwtSecrets[1].Value, secretTwo) {
		t.Fatalf("%s: JWT secrets %v", who, d.JwtSecrets)
	}
	if len(d.DataNodes) != 2 || d.DataNodes[0].TcpAddr != "10.0.0.1:8088" || d.DataNodes[1].HttpAddr != "10.0.0.2:8086" {
		t.Fatalf("%s: data nodes %v", who, d.DataNodes)
	}
	if d.Settings.GetDefaultReplicationFactor() != 2 {
		t.Fatalf("%s: settings %v", who, d.Settings)
	}
}

// TestReplicationToAllNodes: every kind of change, made through the leader,
// a follower and the gRPC client, reaches every node, and all nodes end with
// the same state (also as served by the Snapshot RPC).
func TestReplicationToAllNodes(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	cl := c.Client(testSecret)
	populate(t, c, cl)
	want := waitConverged(t, c)
	if len(want.MetaNodes) != 3 {
		t.Fatalf("meta nodes %v, want 3", want.MetaNodes)
	}
	if got := userNames(want); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("users %v, want alice, bob, carol", got)
	}
	ctx := testContext(t)
	for _, n := range c.Nodes {
		checkPopulated(t, n.RaftAddr, n.Store.Data())
		mc, err := cl.Node(n.RPCAddr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := mc.Snapshot(ctx, &metapb.SnapshotRequest{})
		if err != nil {
			t.Fatalf("Snapshot RPC on %s: %v", n.RPCAddr, err)
		}
		if !proto.Equal(resp.Data, want) {
			t.Fatalf("Snapshot RPC on %s: state differs from the nodes' state", n.RPCAddr)
		}
	}
}

// TestLeaderFailover: with the leader gone (closed, or crashed without
// handing leadership over), the survivors elect a new leader, keep every
// committed change and accept writes; the old leader comes back with the
// same identity and catches up.
func TestLeaderFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(t *testing.T, c *testcluster.Cluster, i int)
	}{
		{"kill", func(_ *testing.T, c *testcluster.Cluster, i int) { c.Kill(i) }},
		{"crash", func(t *testing.T, c *testcluster.Cluster, i int) { crash(t, c, i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
			cl := c.Client(testSecret)
			populate(t, c, cl)
			before := waitConverged(t, c)

			old := c.LeaderIndex()
			oldNode := c.Nodes[old]
			oldRaft, oldRPC := oldNode.RaftAddr, oldNode.RPCAddr
			tc.stop(t, c, old)

			leader := c.WaitForLeader()
			if leader.RaftAddr == oldRaft {
				t.Fatalf("the stopped node %s still leads", oldRaft)
			}
			for _, n := range c.Running() {
				if got := n.Store.Data(); !proto.Equal(got, before) {
					t.Fatalf("survivor %s lost committed state:\n got %v\nwant %v", n.RaftAddr, got, before)
				}
			}

			// Writes are accepted again, through a survivor that does not lead
			// and through the client (whose node list includes the dead node).
			mustExecute(t, c, c.Follower(), createUser("dave", "dave-pw", false))
			if _, err := cl.Execute(testContext(t), createDatabase("after-failover")); err != nil {
				t.Fatalf("client execute after failover: %v", err)
			}
			after := waitConverged(t, c)
			if meta.FindUser(after, "dave") == nil || meta.FindDatabase(after, "after-failover") == nil {
				t.Fatalf("state after failover lacks the new writes: %v", after)
			}

			c.Restart(old)
			back := c.Nodes[old]
			if back.Store.RaftAddr() != oldRaft || back.Store.RPCAddr() != oldRPC {
				t.Fatalf("restarted node is %s/%s, want %s/%s", back.Store.RaftAddr(), back.Store.RPCAddr(), oldRaft, oldRPC)
			}
			c.WaitFor("the old leader to catch up", func() bool {
				return meta.FindDatabase(back.Store.Data(), "after-failover") != nil
			})
			final := waitConverged(t, c)
			checkPopulated(t, oldRaft, back.Store.Data())
			if meta.FindUser(back.Store.Data(), "dave") == nil {
				t.Fatalf("old leader lacks the user created while it was down")
			}
			// Same identity: still one Raft server and one meta node per address.
			if len(final.MetaNodes) != 3 {
				t.Fatalf("meta nodes %v, want 3", final.MetaNodes)
			}
			i := slices.IndexFunc(final.MetaNodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == oldRaft })
			if i < 0 || final.MetaNodes[i].RpcAddr != oldRPC {
				t.Fatalf("meta nodes %v lack %s/%s", final.MetaNodes, oldRaft, oldRPC)
			}
			servers := c.WaitForLeader().Store.Status().Servers
			if len(servers) != 3 || !slices.ContainsFunc(servers, func(s *metapb.RaftServer) bool { return s.RaftAddr == oldRaft && s.Voter }) {
				t.Fatalf("Raft servers %v, want 3 voters including %s", servers, oldRaft)
			}
		})
	}
}

// TestRestartAllFromDisk: with every node stopped and started again, the
// state comes back from the Raft log on disk, with the same cluster ID.
func TestRestartAllFromDisk(t *testing.T) {
	for _, n := range []int{3, 1} {
		t.Run(map[int]string{1: "single node", 3: "three nodes"}[n], func(t *testing.T) {
			c := testcluster.New(t, testcluster.Options{Meta: n, Secret: testSecret})
			cl := c.Client(testSecret)
			populate(t, c, cl)
			before := waitConverged(t, c)

			for i := range c.Nodes {
				c.Kill(i)
			}
			for i := range c.Nodes {
				c.Restart(i)
			}
			c.WaitForLeader()
			want := withoutIndex(before)
			c.WaitFor("every node to restore its state", func() bool {
				for _, n := range c.Nodes {
					if !proto.Equal(withoutIndex(n.Store.Data()), want) {
						return false
					}
				}
				return true
			})
			after := waitConverged(t, c)
			if after.ClusterId != before.ClusterId {
				t.Fatalf("cluster id %q after restart, want %q", after.ClusterId, before.ClusterId)
			}
			if after.Index < before.Index {
				t.Fatalf("index %d after restart, want >= %d", after.Index, before.Index)
			}
			t.Logf("state index %d before, %d after the restart", before.Index, after.Index)
			for _, n := range c.Nodes {
				checkPopulated(t, n.RaftAddr, n.Store.Data())
			}
			// And it keeps working.
			mustExecute(t, c, 0, createUser("erin", "erin-pw", false))
		})
	}
}
