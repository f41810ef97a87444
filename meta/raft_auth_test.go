package meta_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// attackTerm is the term an attacker claims: far above any real one, so that
// a node that believed it would follow the attacker.
const attackTerm = 1 << 40

const wrongSecret = "wrong-secret-of-the-same-size"

// intruderEntry is the Raft log entry the attacker wants committed: an admin
// user whose password it knows (testHash is a valid bcrypt hash, which the
// FSM accepts).
func intruderEntry(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(&metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
		Name: "intruder", Hash: testHash, Admin: true,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attackRaft acts as a leader with a huge term towards target over trans:
// it learns target's last log index from a heartbeat (as any AppendEntries
// answer reveals it), then walks the terms down from the cluster's until
// target accepts the intruder's entry as the next one, committed at once.
// Nothing it uses is secret: the term of the leader that wrote the last entry
// is a small counter. It returns the first RPC error.
func attackRaft(t *testing.T, trans raft.Transport, target *testcluster.Node, leader string, clusterTerm uint64) error {
	t.Helper()
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(leader), Addr: []byte(leader)}
	id, addr := raft.ServerID(target.RaftAddr), raft.ServerAddress(target.RaftAddr)
	var probe raft.AppendEntriesResponse
	if err := trans.AppendEntries(id, addr, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: attackTerm}, &probe); err != nil {
		return err
	}
	next := probe.LastLog + 1
	for prevTerm := clusterTerm; prevTerm > 0; prevTerm-- {
		var resp raft.AppendEntriesResponse
		err := trans.AppendEntries(id, addr, &raft.AppendEntriesRequest{
			RPCHeader:         hdr,
			Term:              attackTerm,
			PrevLogEntry:      probe.LastLog,
			PrevLogTerm:       prevTerm,
			Entries:           []*raft.Log{{Index: next, Term: attackTerm, Type: raft.LogCommand, Data: intruderEntry(t)}},
			LeaderCommitIndex: next,
		}, &resp)
		if err != nil {
			return err
		}
		if resp.Success {
			return nil
		}
	}
	return nil
}

// plainRaftTransport is a stock hashicorp/raft TCP transport: what a process
// that knows no secret and speaks Raft would use.
func plainRaftTransport(t *testing.T) *raft.NetworkTransport {
	t.Helper()
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trans.Close() })
	return trans
}

// handshakeStream is a raft.StreamLayer that dials with cluster.DialRaft
// and the given options: a peer that runs the handshake (with the wrong
// secret, or without TLS).
type handshakeStream struct {
	net.Listener
	opts cluster.RaftOptions
}

func (s handshakeStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return cluster.DialRaft(string(addr), timeout, s.opts)
}

func handshakeTransport(t *testing.T, o cluster.RaftOptions) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(handshakeStream{Listener: ln, opts: o}, 1, 2*time.Second, io.Discard)
	t.Cleanup(func() { trans.Close() })
	return trans
}

// assertAttackFailed checks that no node took the attacker's term or its
// entry, that every node's state is the one it had before, and that the
// nodes logged a refusal with reason, and no secret.
func assertAttackFailed(t *testing.T, c *testcluster.Cluster, before map[string]*metapb.Data, logs *testutil.SyncBuffer, reason string) {
	t.Helper()
	for _, n := range c.Running() {
		// An ordinary re-election on a loaded machine may add one to the
		// term; the attacker's term is 2^40.
		if term := n.Store.Status().Term; term >= attackTerm {
			t.Fatalf("node %s took the attacker's term %d", n.RaftAddr, term)
		}
	}
	assertUnchanged(t, c, before)
	for _, n := range c.Running() {
		if meta.FindUser(n.Store.Data(), "intruder") != nil {
			t.Fatalf("the intruder's admin user appeared on node %s", n.RaftAddr)
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "the refusal to be logged", func() bool {
		for _, line := range strings.Split(string(logs.Bytes()), "\n") {
			if strings.Contains(line, "Raft connection refused") && strings.Contains(line, reason) &&
				strings.Contains(line, "remote=127.0.0.1:") {
				return true
			}
		}
		return false
	})
	if b := logs.Bytes(); strings.Contains(string(b), testSecret) || strings.Contains(string(b), wrongSecret) {
		t.Fatalf("a secret reached the log")
	}
}

// TestRaftPortRefusesPeersWithoutTheSecret (issue 6, point 1): a process that
// does not know the internal shared secret, or knows a wrong one, connects
// to a meta node's Raft port and sends AppendEntries with a huge term and a
// CreateUser (admin) entry, committed at once. Without the handshake the
// node takes the term, commits the entry, wins the next election with it and
// replicates the admin to every node. With it, every RPC fails, no node
// takes the term, no state changes, and the node logs the refusal.
func TestRaftPortRefusesPeersWithoutTheSecret(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, LogWriter: logs})
	before := states(t, c)
	leader := c.Leader()
	term := leader.Store.Status().Term

	for _, tc := range []struct {
		name   string
		trans  func(t *testing.T) raft.Transport
		reason string
	}{
		{"no secret: stock hashicorp/raft transport", func(t *testing.T) raft.Transport { return plainRaftTransport(t) }, "not a Palisade Raft handshake"},
		{"wrong secret", func(t *testing.T) raft.Transport {
			return handshakeTransport(t, cluster.RaftOptions{Secret: wrongSecret})
		}, "failed authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trans := tc.trans(t)
			for _, n := range c.Running() {
				err := attackRaft(t, trans, n, leader.RaftAddr, term)
				if err == nil {
					t.Fatalf("AppendEntries to %s from a peer without the secret succeeded", n.RaftAddr)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Fatalf("the attacker's error reveals the secret: %v", err)
				}
			}
			assertAttackFailed(t, c, before, logs, tc.reason)
		})
	}

	// The nodes still replicate among themselves.
	resp := mustExecute(t, c, c.Follower(), createHashedUser("insider", testHash))
	c.WaitForIndex(resp.Index)
	for _, n := range c.Running() {
		if meta.FindUser(n.Store.Data(), "insider") == nil {
			t.Fatalf("node %s did not replicate a user created after the attacks", n.RaftAddr)
		}
	}
}

// TestRaftOverTLS: with [meta] https-enabled the Raft port serves TLS (with
// the handshake inside): the cluster elects a leader and replicates, and a
// peer that speaks plain TCP to the port, with or without the secret, is
// refused without touching the cluster.
func TestRaftOverTLS(t *testing.T) {
	certFile, keyFile := testutil.SelfSignedCert(t)
	logs := &testutil.SyncBuffer{}
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret, TLSCert: certFile, TLSKey: keyFile, LogWriter: logs})

	resp := mustExecute(t, c, c.Follower(), createHashedUser("over-tls", testHash))
	c.WaitForIndex(resp.Index)
	for _, n := range c.Running() {
		if meta.FindUser(n.Store.Data(), "over-tls") == nil {
			t.Fatalf("node %s did not replicate over TLS", n.RaftAddr)
		}
	}
	if !strings.Contains(string(logs.Bytes()), "handshake=true tls=true") {
		t.Fatalf("the nodes did not report a Raft transport with the handshake and TLS")
	}

	before := states(t, c)
	leader := c.Leader()
	term := leader.Store.Status().Term
	for _, n := range c.Running() {
		if err := attackRaft(t, plainRaftTransport(t), n, leader.RaftAddr, term); err == nil {
			t.Fatalf("plain Raft to the TLS Raft port of %s succeeded", n.RaftAddr)
		}
		_, err := cluster.DialRaft(n.RaftAddr, 5*time.Second, cluster.RaftOptions{Secret: testSecret})
		if !errors.Is(err, cluster.ErrRaftPeerClosed) {
			t.Fatalf("plain TCP with the secret to the TLS Raft port of %s: got %v, want %v", n.RaftAddr, err, cluster.ErrRaftPeerClosed)
		}
	}
	assertAttackFailed(t, c, before, logs, "TLS handshake failed")
}
