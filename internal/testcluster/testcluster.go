// Package testcluster runs meta nodes in-process for tests: listeners on
// 127.0.0.1:0, short Raft timings, and Leader/Kill/Restart/WaitFor helpers.
package testcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Options configure New.
type Options struct {
	// Meta is the number of meta nodes (default 3).
	Meta int
	// Secret is the internal shared secret ("" leaves RPCs and the Raft
	// port open).
	Secret string
	// TLSCert and TLSKey, when set, are PEM files: the nodes serve gRPC and
	// Raft over TLS with them ([meta] https-enabled) and dial each other,
	// and Client dials them, with TLS without verifying certificates
	// (https-insecure-tls).
	TLSCert, TLSKey string
	// HashCost is the bcrypt cost (default 4, the minimum, to keep tests fast).
	HashCost int
	// SnapshotThreshold, when set, overrides Raft's.
	SnapshotThreshold uint64
	// Logs sends node logs to the test log when true.
	Logs bool
	// LogWriter, when set, receives every node's logs (slog and Raft, at
	// debug level), e.g. to check what the nodes write. It must be safe for
	// concurrent use.
	LogWriter io.Writer
	// Seed, when set, is the state every node starts from, as if restored
	// from a backup: before the nodes start, each node's directory gets a
	// Raft snapshot at index Seed.Index (which must be > 0) holding Seed,
	// with the cluster's nodes as voters. It builds large states (100,000
	// users) in a fraction of the time that proposing them would take.
	Seed *metapb.Data
	// Configure, when set, may change node i's store configuration each
	// time the node starts (New, AddNode, Restart).
	Configure func(i int, cfg *meta.Config)
}

// Cluster is a set of in-process meta nodes.
type Cluster struct {
	t    testing.TB
	opts Options
	base string
	// peers are the Raft addresses of the nodes New started: the cluster's
	// [meta] peers. Nodes from AddNode are not in it.
	peers []string
	Nodes []*Node
}

// Node is one meta node of a Cluster. Its addresses stay the same across
// Kill and Restart.
type Node struct {
	Dir      string
	RaftAddr string
	RPCAddr  string
	peers    []string
	*meta.Node
}

// New starts a cluster and waits until it has a leader, every node is
// registered, and the cluster runs at the highest feature level all its
// nodes support. Nodes are closed at the end of the test.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Meta == 0 {
		o.Meta = 3
	}
	if o.HashCost == 0 {
		o.HashCost = 4
	}
	c := &Cluster{t: t, opts: o, base: t.TempDir()}
	var raftLns, rpcLns []net.Listener
	var peers []string
	for i := range o.Meta {
		rl := listen(t, "127.0.0.1:0")
		gl := listen(t, "127.0.0.1:0")
		raftLns, rpcLns = append(raftLns, rl), append(rpcLns, gl)
		peers = append(peers, rl.Addr().String())
		c.Nodes = append(c.Nodes, &Node{Dir: filepath.Join(c.base, fmt.Sprintf("meta%d", i)), RaftAddr: rl.Addr().String(), RPCAddr: gl.Addr().String()})
	}
	c.peers = peers
	if o.Meta == 1 {
		peers = nil
	}
	if o.Seed != nil {
		for _, n := range c.Nodes {
			writeSeed(t, n.Dir, c.peers, o.Seed)
		}
	}
	for i, n := range c.Nodes {
		n.peers = peers
		c.start(n, raftLns[i], rpcLns[i])
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			if n.Node != nil {
				n.Close()
			}
		}
	})
	c.WaitForLeader()
	c.WaitFor("all meta nodes registered", func() bool {
		l := c.Leader() // nil while leadership moves
		if l == nil {
			return false
		}
		d := l.Store.Data()
		return d.ClusterId != "" && len(d.MetaNodes) == len(c.Nodes)
	})
	level := meta.FeatureLevel
	for _, n := range c.Nodes {
		level = min(level, n.Store.SupportedFeatureLevel())
	}
	c.WaitFor(fmt.Sprintf("the cluster to run at feature level %d", level), func() bool {
		l := c.Leader()
		return l != nil && meta.ClusterFeatureLevel(l.Store.Data()) >= level
	})
	return c
}

// writeSeed writes a Raft snapshot of seed into dir, with voters as the
// configuration. Its content is seed alone, the first snapshot format,
// which meta still restores (with Seed.Index as the applied index), so
// clusters started from a seed also keep that path tested.
func writeSeed(t testing.TB, dir string, voters []string, seed *metapb.Data) {
	t.Helper()
	if seed.Index == 0 {
		t.Fatalf("testcluster: Seed.Index must be > 0")
	}
	snapDir := filepath.Join(dir, "snapshots")
	if err := os.MkdirAll(snapDir, 0o700); err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	store, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatalf("testcluster: snapshot store: %v", err)
	}
	var conf raft.Configuration
	for _, v := range voters {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v), Address: raft.ServerAddress(v)})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(seed)
	if err != nil {
		t.Fatalf("testcluster: encoding seed: %v", err)
	}
	_, trans := raft.NewInmemTransport("")
	sink, err := store.Create(raft.SnapshotVersionMax, seed.Index, 1, conf, seed.Index, trans)
	if err != nil {
		t.Fatalf("testcluster: creating seed snapshot: %v", err)
	}
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		t.Fatalf("testcluster: writing seed snapshot: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("testcluster: closing seed snapshot: %v", err)
	}
	// As the store does for its own snapshots: owner only.
	err = filepath.WalkDir(snapDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		return os.Chmod(path, mode)
	})
	if err != nil {
		t.Fatalf("testcluster: securing seed snapshot: %v", err)
	}
}

// AddNode starts one more meta node configured with the cluster's peers,
// which do not include it: it waits to be added (Store.AddMetaNode, as
// `palisade-ctl add-meta` does). It returns the node's index in Nodes.
func (c *Cluster) AddNode() int {
	c.t.Helper()
	i := len(c.Nodes)
	rl, gl := listen(c.t, "127.0.0.1:0"), listen(c.t, "127.0.0.1:0")
	n := &Node{
		Dir:      filepath.Join(c.base, fmt.Sprintf("meta%d", i)),
		RaftAddr: rl.Addr().String(),
		RPCAddr:  gl.Addr().String(),
		peers:    c.peers,
	}
	c.Nodes = append(c.Nodes, n)
	c.start(n, rl, gl)
	return i
}

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	// A port freed by Kill may be briefly held; try a few times.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testcluster: listen %s: %v", addr, err)
	return nil
}

// StoreConfig returns the store configuration the cluster uses for n.
func (c *Cluster) StoreConfig(n *Node, raftLn net.Listener) meta.Config {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var raftOut io.Writer = io.Discard
	raftLevel := "warn"
	switch {
	case c.opts.LogWriter != nil:
		logger = slog.New(slog.NewTextHandler(c.opts.LogWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
		raftOut, raftLevel = c.opts.LogWriter, "debug"
	case c.opts.Logs:
		logger = slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		raftOut = testWriter{c.t}
	}
	return meta.Config{
		Dir:                n.Dir,
		RaftAddr:           n.RaftAddr,
		RaftListener:       raftLn,
		RPCAddr:            n.RPCAddr,
		Peers:              n.peers,
		Dial:               c.dialOptions(c.opts.Secret),
		RaftTLS:            c.serverTLS(),
		PasswordHashCost:   c.opts.HashCost,
		ElectionTimeout:    300 * time.Millisecond,
		HeartbeatTimeout:   300 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotThreshold:  c.opts.SnapshotThreshold,
		Logger:             logger,
		RaftLogOut:         raftOut,
		RaftLogLevel:       raftLevel,
	}
}

// dialOptions says how the nodes and Client reach a node's gRPC server.
func (c *Cluster) dialOptions(secret string) cluster.DialOptions {
	useTLS := c.opts.TLSCert != ""
	return cluster.DialOptions{Secret: secret, TLS: useTLS, InsecureTLS: useTLS}
}

// serverTLS returns the nodes' TLS configuration, nil without TLS.
func (c *Cluster) serverTLS() *tls.Config {
	c.t.Helper()
	if c.opts.TLSCert == "" {
		return nil
	}
	cfg, err := cluster.ServerTLSConfig(c.opts.TLSCert, c.opts.TLSKey)
	if err != nil {
		c.t.Fatalf("testcluster: %v", err)
	}
	return cfg
}

func (c *Cluster) start(n *Node, raftLn, rpcLn net.Listener) {
	c.t.Helper()
	server := meta.ServerOptions{InternalSecret: c.opts.Secret}
	if cfg := c.serverTLS(); cfg != nil {
		server.TLS = credentials.NewTLS(cfg)
	}
	storeCfg := c.StoreConfig(n, raftLn)
	if c.opts.Configure != nil {
		for i, m := range c.Nodes {
			if m == n {
				c.opts.Configure(i, &storeCfg)
			}
		}
	}
	node, err := meta.OpenNode(meta.NodeConfig{
		Store:       storeCfg,
		RPCListener: rpcLn,
		Server:      server,
	})
	if err != nil {
		c.t.Fatalf("testcluster: open meta node %s: %v", n.RaftAddr, err)
	}
	n.Node = node
}

// Kill stops node i (its directory stays).
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	if n.Node == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.t.Logf("testcluster: closing node %d: %v", i, err)
	}
	n.Node = nil
}

// Restart starts a killed node again on the same addresses and directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	if n.Node != nil {
		c.t.Fatalf("testcluster: node %d is running", i)
	}
	c.start(n, listen(c.t, n.RaftAddr), listen(c.t, n.RPCAddr))
}

// Running returns the nodes that are not killed.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Node != nil {
			out = append(out, n)
		}
	}
	return out
}

// Leader returns the running node that is leader, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Running() {
		if n.Store.IsLeader() {
			return n
		}
	}
	return nil
}

// LeaderIndex returns the index in Nodes of the leader, or -1.
func (c *Cluster) LeaderIndex() int {
	for i, n := range c.Nodes {
		if n.Node != nil && n.Store.IsLeader() {
			return i
		}
	}
	return -1
}

// Follower returns the index of a running node that is not the leader.
func (c *Cluster) Follower() int {
	for i, n := range c.Nodes {
		if n.Node != nil && !n.Store.IsLeader() {
			return i
		}
	}
	c.t.Fatalf("testcluster: no follower")
	return -1
}

// WaitForLeader waits until a running node leads and returns it.
func (c *Cluster) WaitForLeader() *Node {
	c.t.Helper()
	var l *Node
	c.WaitFor("a leader", func() bool { l = c.Leader(); return l != nil })
	return l
}

// WaitFor polls cond until it holds, failing the test after 20 seconds.
func (c *Cluster) WaitFor(what string, cond func() bool) {
	c.t.Helper()
	WaitFor(c.t, 20*time.Second, what, cond)
}

// WaitForIndex waits until every running node has applied index.
func (c *Cluster) WaitForIndex(index uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		if err := n.Store.WaitForApplied(ctx, index); err != nil {
			c.t.Fatalf("testcluster: node %s did not apply index %d: %v", n.RaftAddr, index, err)
		}
	}
}

// RPCAddrs returns every node's MetaService address.
func (c *Cluster) RPCAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.RPCAddr)
	}
	return out
}

// Client returns a meta.Client for the whole cluster, closed at the end of the test.
func (c *Cluster) Client(secret string) *meta.Client {
	c.t.Helper()
	cl, err := meta.NewClient(c.RPCAddrs(), c.dialOptions(secret))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Execute runs cmd on node i's store.
func (c *Cluster) Execute(i int, cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Nodes[i].Store.Execute(ctx, cmd)
}

// WaitFor polls cond every 10ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
