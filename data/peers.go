package data

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

// peers reaches the other data nodes' DataService, by node ID, through one
// pooled connection per address (the address is the node's tcp_addr in the
// meta state).
type peers struct {
	pool *cluster.Pool
	view *MetaView

	mu sync.Mutex
	// reads counts the remote reads open on each node (its load, for the
	// choice of owner).
	reads map[uint64]*atomic.Int64

	// readLatency is palisade_remote_read_open_seconds: from asking a node
	// for its shards to its first frame.
	readLatency *prometheus.HistogramVec
}

func newPeers(view *MetaView, o cluster.DialOptions) *peers {
	return &peers{pool: cluster.NewPool(o), view: view, reads: map[uint64]*atomic.Int64{},
		readLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "palisade_remote_read_open_seconds",
			Help:    "Time from asking another data node for its shards to its first answer, by node and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"node", "outcome"})}
}

// errUnknownNode: the meta state has no data node with that ID (removed).
var errUnknownNode = errors.New("data: no such data node in the meta state")

func (p *peers) conn(node uint64) (*grpc.ClientConn, error) {
	addr := p.addr(node)
	if addr == "" {
		return nil, fmt.Errorf("%w: %d", errUnknownNode, node)
	}
	return p.pool.Get(addr)
}

// addr is node's data service address, "" when the state has no such node.
func (p *peers) addr(node uint64) string {
	for _, dn := range p.view.Data().GetDataNodes() {
		if dn.Id == node {
			return dn.TcpAddr
		}
	}
	return ""
}

// call runs one unary RPC of the DataService on node. When the node could
// not be reached, its connection's reconnect backoff is reset: the callers
// pace their own retries (hinted handoff) or move on to another owner, and
// gRPC's backoff (up to 2 minutes) would only delay the first call after the
// node is back.
func call[Req, Resp any](ctx context.Context, p *peers, node uint64,
	rpc func(datapb.DataServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	conn, err := p.conn(node)
	if err != nil {
		var zero Resp
		return zero, err
	}
	resp, err := rpc(datapb.NewDataServiceClient(conn), ctx, req)
	if cluster.Unreachable(err) {
		conn.ResetConnectBackoff()
	}
	return resp, err
}

// writeShard sends req to node.
func (p *peers) writeShard(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error {
	_, err := call(ctx, p, node, datapb.DataServiceClient.WriteShard, req)
	return err
}

// replayConnectWait bounds how long a replay waits for a connection to its
// node before it fails and backs off.
const replayConnectWait = 5 * time.Second

// replayShard is writeShard for hinted handoff: it first waits (at most
// replayConnectWait) for a connection to node instead of failing at once
// while gRPC is between attempts, so that a replay kicked by NodeUp meets
// the node, and a node that is down holds a retry slot only briefly.
func (p *peers) replayShard(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error {
	conn, err := p.conn(node)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, replayConnectWait)
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(wctx, st) {
			break
		}
	}
	cancel()
	return p.writeShard(ctx, node, req)
}

// reconnect makes the connection to node try again now rather than after
// gRPC's reconnect backoff (up to 2 minutes): the node said it is back.
func (p *peers) reconnect(node uint64) {
	if conn, err := p.conn(node); err == nil {
		conn.ResetConnectBackoff()
	}
}

// announce tells every other data node of the state that node self is up
// (NodeUp), so that they replay what they queued for it now. Errors are
// only logged at debug level: a peer that does not answer retries on its own.
func (p *peers) announce(ctx context.Context, self uint64, log *slog.Logger) {
	for _, dn := range p.view.Data().GetDataNodes() {
		if dn.Id == self {
			continue
		}
		conn, err := p.pool.Get(dn.TcpAddr)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = datapb.NewDataServiceClient(conn).NodeUp(cctx, &datapb.NodeUpRequest{NodeId: self})
			cancel()
		}
		if err != nil {
			log.Debug("telling a peer this node is up failed", "node", dn.Id, "err", err)
		}
	}
}

// forgetRemoved closes the connections of data nodes that left the state.
func (p *peers) forgetRemoved(old, cur *metapb.Data) {
	for _, o := range old.GetDataNodes() {
		kept := false
		for _, n := range cur.GetDataNodes() {
			kept = kept || n.TcpAddr == o.TcpAddr
		}
		if !kept {
			p.pool.Forget(o.TcpAddr)
		}
	}
}

func (p *peers) Close() error { return p.pool.Close() }

// permanent reports whether a data service error means the request can
// never succeed (see proto/data.proto): the receiver does not have the
// shard, does not own it, or cannot apply the points. A node missing from
// this node's meta state is not permanent: the state may be empty or behind
// (a node just started, or rejoined); the queue of a node that really left
// is removed by the purge, which acts only on a state that is there.
func permanent(err error) bool {
	if errors.Is(err, errUnknownNode) {
		return false
	}
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.InvalidArgument:
		return true
	}
	return false
}
