package meta

import (
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/palisade-db/palisade/cluster"
)

// streamLayer carries Raft over a listener we own, so callers (tests, the
// embedded mode) can bind 127.0.0.1:0 and learn the address before Raft starts.
// The listener is a cluster.NewRaftListener and Dial runs cluster.DialRaft with
// the same options, so that with the internal shared secret set (and TLS, when
// configured) Raft reads and writes only on connections whose peer passed the
// handshake.
type streamLayer struct {
	net.Listener
	opts      cluster.RaftOptions
	advertise net.Addr
}

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return cluster.DialRaft(string(addr), timeout, s.opts)
}

func (s *streamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// privateSnapshotStore makes every snapshot file readable by the owner only:
// snapshots hold password hashes and JWT secrets.
type privateSnapshotStore struct {
	raft.SnapshotStore
	dir string
}

func (p *privateSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := p.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &privateSink{SnapshotSink: sink, dir: p.dir}, nil
}

type privateSink struct {
	raft.SnapshotSink
	dir string
}

func (s *privateSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	snapDir := filepath.Join(s.dir, "snapshots", s.ID())
	entries, err := os.ReadDir(snapDir)
	if err != nil {
		return nil // reaped already
	}
	_ = os.Chmod(snapDir, 0o700)
	for _, e := range entries {
		_ = os.Chmod(filepath.Join(snapDir, e.Name()), 0o600)
	}
	return nil
}

// noPipelineTransport is a NetworkTransport without pipelined replication.
// hashicorp/raft v1.7.3's pipeline can deadlock (the sender blocks on a full
// connection while its response decoder has stopped reading), which hangs
// Shutdown and can leave a follower that never receives another entry; plain
// AppendEntries does not have the problem, and meta traffic is small.
type noPipelineTransport struct {
	*raft.NetworkTransport
}

func (noPipelineTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
