package meta

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/dirlock"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Config configures a Store.
type Config struct {
	// Dir holds the Raft log (raft.db) and snapshots. Created with mode 0700,
	// and locked (internal/dirlock) while the Store is open: Open refuses a
	// directory that another process or Store holds, naming the holder.
	Dir string
	// RaftAddr is this node's advertised Raft address and its identity.
	RaftAddr string
	// RaftListener, when set, carries Raft; otherwise RaftBind is listened on.
	RaftListener net.Listener
	RaftBind     string
	// Transport, when set, carries Raft instead of TCP (the embedded
	// single-node store of a standalone data node uses an in-memory one).
	Transport raft.Transport
	// RPCAddr is this node's advertised MetaService address.
	RPCAddr string
	// Peers are the Raft addresses of the nodes that bootstrap the cluster
	// together. Empty: a single-node cluster. Not containing RaftAddr: this
	// node waits to be added with `palisade-ctl add-meta`.
	Peers []string

	// Dial says how to reach other meta nodes' MetaService (forwarding).
	// Dial.Secret, the internal shared secret, also keys the Raft handshake
	// (cluster.NewRaftListener, cluster.DialRaft): with it set, both ends of
	// every Raft connection prove that they know it before Raft reads a
	// byte. Raft dials verify TLS certificates unless Dial.InsecureTLS.
	Dial cluster.DialOptions
	// RaftTLS, when set, serves the Raft port over TLS with this
	// configuration (its certificate), and Raft dials use TLS too.
	RaftTLS *tls.Config

	// PasswordHashCost is the bcrypt cost for CREATE USER / SET PASSWORD.
	PasswordHashCost int
	// DefaultReplicationFactor: see pushSettings (0 leaves the cluster's setting alone).
	DefaultReplicationFactor uint32
	// Maintenance: retention and shard precreation, run by the leader.
	Maintenance Maintenance
	// LeaseTTL is how long the leader's leases last (0: DefaultLeaseTTL).
	LeaseTTL time.Duration

	ElectionTimeout    time.Duration
	HeartbeatTimeout   time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration

	Logger       *slog.Logger
	RaftLogLevel string
	RaftLogOut   io.Writer

	// featureLevel, when set, is the feature level this node claims to
	// support instead of FeatureLevel (tests: a node of an older version).
	featureLevel uint32
}

// proposeTimeout bounds one proposal when the caller's context has no deadline.
const proposeTimeout = 10 * time.Second

// Store is one meta node's replica of the cluster state.
type Store struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  raft.Transport
	bolt   *raftboltdb.BoltStore
	lock   *dirlock.Lock // cfg.Dir's, held from Open to Close
	closed chan struct{}
	// raiseNow wakes raiseFeatureLevel before its next turn.
	raiseNow chan struct{}
	// committed wakes noticeCommits: the leader committed a command;
	// applying counts the commands being proposed here (commits.go).
	committed chan struct{}
	applying  atomic.Int32
	// relay holds the leader's state for this follower's Watch streams
	// (relay.go).
	relay *relay
	// clearing holds the data nodes whose stale mark is being cleared
	// (clearStale).
	clearing sync.Map
	wg       sync.WaitGroup

	// peers holds the connections to other meta nodes' MetaService
	// (forwarding to the leader, asking members their feature level).
	peers *cluster.Pool

	hbMu     sync.Mutex
	lastSeen map[uint64]int64
	reports  map[uint64]*metapb.DataNodeReport

	// level is the feature level this node supports. levelMu, on the
	// leader, keeps a raise of the cluster's level and the check of a
	// joining node's level from passing each other.
	level   uint32
	levelMu sync.Mutex

	leases leases

	faults faults
}

// faults make a node lose answers after the command committed, so that
// tests can show that a retry applies nothing twice (export_test.go).
type faults struct {
	// leaderReplies: the next n commands committed here as leader answer
	// raft.ErrLeadershipLost.
	leaderReplies atomic.Int32
	// executeReplies: the next n Execute RPCs whose command committed
	// answer codes.Unavailable, as if the connection broke.
	executeReplies atomic.Int32
}

// take reports whether a fault is due, using it up.
func take(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// Open starts a Store: it opens or creates the Raft log in cfg.Dir, joins or
// bootstraps the cluster, and starts registering itself in the state.
func Open(cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PasswordHashCost == 0 {
		cfg.PasswordHashCost = auth.DefaultHashCost
	}
	if cfg.RaftAddr == "" {
		return nil, errors.New("meta: Raft address required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("meta: creating %s: %w", cfg.Dir, err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("meta: securing %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("meta: creating snapshot dir: %w", err)
	}
	f := newFSM()
	s := &Store{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "meta"),
		fsm:       f,
		closed:    make(chan struct{}),
		raiseNow:  make(chan struct{}, 1),
		committed: make(chan struct{}, 1),
		relay:     newRelay(f.recent),
		peers:     cluster.NewPool(cfg.Dial),
		lastSeen:  map[uint64]int64{},
		reports:   map[uint64]*metapb.DataNodeReport{},
		level:     FeatureLevel,
		leases:    leases{now: time.Now, ttl: cmp.Or(cfg.LeaseTTL, DefaultLeaseTTL)},
	}
	if cfg.featureLevel > 0 {
		s.level = cfg.featureLevel
	}
	s.fsm.level, s.fsm.log = s.level, s.log
	// Before the Raft log is opened: two stores on one directory would
	// write one log (bolt's own lock on raft.db waits forever instead of
	// refusing).
	lock, err := dirlock.Acquire(cfg.Dir, "[meta] dir")
	if err != nil {
		s.closeResources()
		return nil, fmt.Errorf("meta: %w", err)
	}
	s.lock = lock
	if err := s.openRaft(); err != nil {
		s.closeResources()
		return nil, err
	}
	s.wg.Add(6)
	go s.noticeCommits()
	go s.relayLeader()
	go s.register()
	go s.raiseFeatureLevel()
	go s.pushSettings()
	go s.maintain()
	return s, nil
}

func (s *Store) openRaft() error {
	cfg := s.cfg
	logOut := cfg.RaftLogOut
	if logOut == nil {
		logOut = os.Stderr
	}
	level := cfg.RaftLogLevel
	if level == "" {
		level = "warn"
	}
	rlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: logOut, Level: hclog.LevelFromString(level)})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.RaftAddr)
	rc.Logger = rlog
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("meta: Raft timings: %w", err)
	}

	s.trans = cfg.Transport
	if s.trans == nil {
		ln := cfg.RaftListener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", cfg.RaftBind); err != nil {
				return fmt.Errorf("meta: listening for Raft on %s: %w", cfg.RaftBind, err)
			}
		}
		ro := cluster.RaftOptions{Secret: cfg.Dial.Secret, ServerTLS: cfg.RaftTLS, Logger: cfg.Logger}
		if cfg.RaftTLS != nil {
			ro.ClientTLS = cluster.ClientTLSConfig(cfg.Dial.InsecureTLS)
		}
		s.log.Info("Raft transport", "raft_bind", ln.Addr().String(), "handshake", ro.Secret != "", "tls", ro.ServerTLS != nil)
		stream := &streamLayer{Listener: cluster.NewRaftListener(ln, ro), opts: ro, advertise: stringAddr(cfg.RaftAddr)}
		s.trans = noPipelineTransport{raft.NewNetworkTransportWithLogger(stream, 3, 10*time.Second, rlog)}
	}

	var err error
	s.bolt, err = raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("meta: opening Raft log: %w", err)
	}
	fileSnaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rlog)
	if err != nil {
		return fmt.Errorf("meta: opening snapshot store: %w", err)
	}
	snaps := &privateSnapshotStore{SnapshotStore: fileSnaps, dir: cfg.Dir}

	existing, err := raft.HasExistingState(s.bolt, s.bolt, snaps)
	if err != nil {
		return fmt.Errorf("meta: reading Raft state: %w", err)
	}
	s.raft, err = raft.NewRaft(rc, s.fsm, s.bolt, s.bolt, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("meta: starting Raft: %w", err)
	}
	if existing {
		s.log.Info("rejoining with stored state", "raft_addr", cfg.RaftAddr)
		return nil
	}
	peers := cfg.Peers
	if len(peers) == 0 {
		peers = []string{cfg.RaftAddr}
	}
	if !slices.Contains(peers, cfg.RaftAddr) {
		s.log.Info("not in [meta] peers: waiting to be added with palisade-ctl add-meta", "raft_addr", cfg.RaftAddr)
		return nil
	}
	var servers []raft.Server
	for _, p := range peers {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p), Address: raft.ServerAddress(p)})
	}
	s.log.Info("bootstrapping cluster", "peers", peers)
	if err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("meta: bootstrapping: %w", err)
	}
	return nil
}

// Close leaves leadership to another voter when it can, then stops Raft.
func (s *Store) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	s.wg.Wait()
	if s.raft != nil && s.raft.State() == raft.Leader && len(s.voters()) > 1 {
		_ = s.raft.LeadershipTransfer().Error()
	}
	return s.closeResources()
}

func (s *Store) closeResources() error {
	var errs []error
	if s.raft != nil {
		errs = append(errs, s.raft.Shutdown().Error())
	}
	if c, ok := s.trans.(io.Closer); ok {
		errs = append(errs, c.Close())
	} else if s.cfg.RaftListener != nil {
		errs = append(errs, s.cfg.RaftListener.Close())
	}
	if s.bolt != nil {
		errs = append(errs, s.bolt.Close())
	}
	if s.peers != nil {
		errs = append(errs, s.peers.Close())
	}
	errs = append(errs, s.lock.Release()) // last: nothing writes cfg.Dir any more
	return errors.Join(errs...)
}

// State returns the current state. Never modify it.
func (s *Store) State() *State { return s.fsm.current() }

// Data returns the current state's data. Never modify it.
func (s *Store) Data() *metapb.Data { return s.fsm.current().Data }

// RaftAddr is this node's Raft address (its identity).
func (s *Store) RaftAddr() string { return s.cfg.RaftAddr }

// RPCAddr is this node's advertised MetaService address.
func (s *Store) RPCAddr() string { return s.cfg.RPCAddr }

// SupportedFeatureLevel is the highest feature level this node supports.
func (s *Store) SupportedFeatureLevel() uint32 { return s.level }

// IsLeader reports whether this node leads the Raft cluster.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderRaftAddr returns the leader's Raft address, or "".
func (s *Store) LeaderRaftAddr() string {
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// WaitForApplied blocks until the state has applied index, or ctx ends.
func (s *Store) WaitForApplied(ctx context.Context, index uint64) error {
	for {
		st := s.fsm.current()
		if st.Applied >= index {
			return nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

// WaitForLeader blocks until a leader is known, or ctx ends.
func (s *Store) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.LeaderRaftAddr() == "" {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// WaitForFeatureLevel waits until the cluster runs at the feature level this
// node supports, asking the raise loop to try at once. A standalone data node
// waits for it before it serves anything, so that a new node acts at its
// level from its first request (shard groups where influxd puts them).
func (s *Store) WaitForFeatureLevel(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for ClusterFeatureLevel(s.Data()) < s.level {
		select {
		case s.raiseNow <- struct{}{}:
		default:
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("meta: the cluster runs at feature level %d, this node supports %d: %w",
				ClusterFeatureLevel(s.Data()), s.level, ctx.Err())
		}
	}
	return nil
}

// Snapshot makes Raft take a snapshot now.
func (s *Store) Snapshot() error { return s.raft.Snapshot().Error() }
