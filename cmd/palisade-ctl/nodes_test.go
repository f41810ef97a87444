package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func TestShowAndRemoveData(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	leader := tc.c.WaitForLeader()

	r := mustOK(t, tc.run(t, "", "show"))
	mustContain(t, r.stdout, "Meta nodes", "Raft address", "gRPC address", "Data nodes", "(none)",
		"Cluster "+tc.data(t).ClusterId)
	for _, n := range tc.c.Nodes {
		mark := ""
		if n.RaftAddr == leader.RaftAddr {
			mark = `\*`
		}
		mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%s\s+%s\s+(Leader|Follower)\s+%s\s*yes$`,
			regexp.QuoteMeta(n.RaftAddr), regexp.QuoteMeta(n.RPCAddr), mark))
	}
	mustMatch(t, r.stdout, `(?m)^Leader: `+regexp.QuoteMeta(leader.RaftAddr)+` \(term \d+, commit index \d+, applied index \d+\)$`)
	mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^Feature level: %d \(the leader's version supports %d\)$`, meta.FeatureLevel, meta.FeatureLevel))

	// Data nodes, with the heartbeat the leader saw.
	client := tc.c.Client(testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg1, err := client.RegisterDataNode(ctx, "127.0.0.1:18086", "127.0.0.1:18088")
	if err != nil {
		t.Fatal(err)
	}
	reg2, err := client.RegisterDataNode(ctx, "127.0.0.1:28086", "127.0.0.1:28088")
	if err != nil {
		t.Fatal(err)
	}
	// The first reports the index and age of its meta state (42 s old).
	if _, err := client.Heartbeat(ctx, &metapb.HeartbeatRequest{NodeId: reg1.NodeId, MetaIndex: 7, MetaStateAgeMs: 42_000}); err != nil {
		t.Fatal(err)
	}
	tc.c.WaitForIndex(reg2.Index)
	r = mustOK(t, tc.run(t, "", "show"))
	mustContain(t, r.stdout, "Last heartbeat", "Meta index", "Meta state age")
	mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%d\s+127\.0\.0\.1:18086\s+127\.0\.0\.1:18088\s+\d{4}-\d\d-\d\dT\S+Z \(\d+s ago\)\s+7\s+4[2-9]s\s+-$`, reg1.NodeId))
	mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%d\s+127\.0\.0\.1:28086\s+127\.0\.0\.1:28088\s+-\s+-\s+-\s+-$`, reg2.NodeId))

	r = mustOK(t, tc.run(t, "", "remove-data", fmt.Sprint(reg2.NodeId)))
	mustContain(t, r.stdout, fmt.Sprintf("Removed data node %d.", reg2.NodeId))
	r = tc.run(t, "", "remove-data", fmt.Sprint(reg2.NodeId))
	mustFail(t, r, exitFail, fmt.Sprintf("palisade-ctl: no data node with ID %d", reg2.NodeId))
	r = mustOK(t, tc.run(t, "", "show"))
	mustNotContain(t, r.stdout, "127.0.0.1:28086")

	// A meta node that is down is shown as unreachable; show still succeeds.
	f := tc.c.Follower()
	down := tc.c.Nodes[f]
	tc.c.Kill(f)
	r = mustOK(t, tc.run(t, "", "show"))
	mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%s\s+%s\s+unreachable\s+yes$`, regexp.QuoteMeta(down.RaftAddr), regexp.QuoteMeta(down.RPCAddr)))
	mustContain(t, r.stderr, "warning: meta node "+down.RaftAddr, "unreachable")
	mustContain(t, r.stdout, "Leader: ")
}

func TestAddRemoveMeta(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	peers := make([]string, len(tc.c.Nodes))
	for i, n := range tc.c.Nodes {
		peers[i] = n.RaftAddr
	}

	// A fourth node, not in the peers: it waits to be added.
	raftLn, rpcLn := listen(t), listen(t)
	n4 := &testcluster.Node{Dir: t.TempDir(), RaftAddr: raftLn.Addr().String(), RPCAddr: rpcLn.Addr().String()}
	cfg := tc.c.StoreConfig(n4, raftLn)
	cfg.Peers = peers
	node, err := meta.OpenNode(meta.NodeConfig{Store: cfg, RPCListener: rpcLn, Server: meta.ServerOptions{InternalSecret: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })

	r := tc.run(t, "", "add-meta", closedAddr(t))
	mustFail(t, r, exitFail, "palisade-ctl: cannot reach the new meta node at ")

	r = mustOK(t, tc.run(t, "", "add-meta", n4.RPCAddr))
	mustContain(t, r.stdout, fmt.Sprintf("Added meta node %s (gRPC %s).", n4.RaftAddr, n4.RPCAddr))
	if !node.Store.IsLeader() && node.Store.LeaderRaftAddr() == "" {
		t.Fatalf("the new node follows no leader after add-meta returned")
	}
	testcluster.WaitFor(t, 20*time.Second, "the new node in the state", func() bool {
		for _, m := range tc.data(t).MetaNodes {
			if m.RaftAddr == n4.RaftAddr && m.RpcAddr == n4.RPCAddr {
				return true
			}
		}
		return false
	})
	r = mustOK(t, tc.run(t, "", "show"))
	mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%s\s+%s\s+(Leader|Follower)\s+\*?\s*yes$`, regexp.QuoteMeta(n4.RaftAddr), regexp.QuoteMeta(n4.RPCAddr)))

	// A user created now reaches the new node.
	mustOK(t, tc.run(t, "", "user", "create", "alice", "-password", "pw"))
	testcluster.WaitFor(t, 20*time.Second, "the user on the new node", func() bool {
		return meta.FindUser(node.Store.Data(), "alice") != nil
	})

	// Adding it again is harmless.
	mustOK(t, tc.run(t, "", "add-meta", n4.RPCAddr))

	// Remove it by its gRPC address.
	r = tc.run(t, "", "remove-meta", "127.0.0.1:1")
	mustFail(t, r, exitFail, "palisade-ctl: no meta node has the Raft or gRPC address 127.0.0.1:1 (meta nodes: ", n4.RaftAddr)
	r = mustOK(t, tc.run(t, "", "remove-meta", n4.RPCAddr))
	mustContain(t, r.stdout, fmt.Sprintf("Removed meta node %s (gRPC %s).", n4.RaftAddr, n4.RPCAddr))
	r = mustOK(t, tc.run(t, "", "show"))
	mustNotContain(t, r.stdout, n4.RaftAddr)
	r = tc.run(t, "", "remove-meta", n4.RaftAddr)
	mustFail(t, r, exitFail, "no meta node has the Raft or gRPC address "+n4.RaftAddr)

	// Remove one of the original nodes by its Raft address.
	victim := tc.c.Nodes[tc.c.Follower()]
	r = mustOK(t, tc.run(t, "", "remove-meta", victim.RaftAddr))
	mustContain(t, r.stdout, "Removed meta node "+victim.RaftAddr)
}

func TestAddMetaRefusesAnotherCluster(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	other := testcluster.New(t, testcluster.Options{Meta: 1, Secret: testSecret})
	r := tc.run(t, "", "add-meta", other.Nodes[0].RPCAddr)
	mustFail(t, r, exitFail, "already belongs to another Raft cluster")
}

func TestRemoveLastMeta(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 1)
	r := tc.run(t, "", "remove-meta", tc.c.Nodes[0].RPCAddr)
	mustFail(t, r, exitFail, fmt.Sprintf("palisade-ctl: cannot remove meta node %s: it is the last one", tc.c.Nodes[0].RaftAddr))
}

// TestNoLeader: with two of three nodes down, writes time out with a message
// about the missing leader.
func TestNoLeader(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	l := tc.c.LeaderIndex()
	for i := range tc.c.Nodes {
		if i != l {
			tc.c.Kill(i)
		}
	}
	r := tc.run(t, "", "-timeout", "2s", "user", "create", "bob", "-password", "pw")
	// Whether the client's deadline or the last node's "no leader" comes
	// back first depends on timing; both messages point at the majority.
	mustFail(t, r, exitFail, "palisade-ctl: ", "the meta ", "majority")
	r = mustOK(t, tc.run(t, "", "-timeout", "5s", "show"))
	mustContain(t, r.stdout, "unreachable")
}

// checkToken verifies token with secret and checks its claims.
func checkToken(t *testing.T, token, kid string, secret []byte, user string, life time.Duration) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if parsed.Header["kid"] != kid {
		t.Fatalf("kid %v, want %s", parsed.Header["kid"], kid)
	}
	if claims["username"] != user {
		t.Fatalf("username %v, want %s", claims["username"], user)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("exp: %v", err)
	}
	if d := time.Until(exp.Time); d < life-time.Minute || d > life+time.Second {
		t.Fatalf("token expires in %s, want about %s", d, life)
	}
}

func authCheck(hash []byte, pw string) bool { return auth.CheckPassword(hash, pw) }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
