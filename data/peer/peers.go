package peer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Peers reaches the other data nodes' DataService, by node ID, through one
// pooled connection per address (the address is the node's tcp_addr in the
// meta state).
type Peers struct {
	pool *cluster.Pool
	view *metastate.View
	// Log, when set, hears of circuits opening and closing (breaker.go);
	// Now, when set, is the clock.
	Log *slog.Logger
	Now func() time.Time

	breakers breakers

	mu sync.Mutex
	// reads counts the remote reads open on each node (its load, for the
	// choice of owner).
	reads map[uint64]*atomic.Int64
}

// New returns the peers of the data nodes in view's state, dialed with o.
func New(view *metastate.View, o cluster.DialOptions) *Peers {
	return &Peers{pool: cluster.NewPool(o), view: view, reads: map[uint64]*atomic.Int64{}}
}

// Conn returns the connection to node.
func (p *Peers) Conn(node uint64) (*grpc.ClientConn, error) {
	addr := p.Addr(node)
	if addr == "" {
		return nil, fmt.Errorf("%w: %d", ErrUnknownNode, node)
	}
	return p.pool.Get(addr)
}

// Addr is node's data service address, "" when the state has no such node.
func (p *Peers) Addr(node uint64) string {
	for _, dn := range p.view.Data().GetDataNodes() {
		if dn.Id == node {
			return dn.TcpAddr
		}
	}
	return ""
}

// Call runs one unary RPC of the DataService on node; a status the node
// answered with wraps its typed error (errors.go). When the node could not
// be reached, its connection's reconnect backoff is reset: the callers pace
// their own retries (hinted handoff) or move on to another owner, and
// gRPC's backoff (up to 2 minutes) would only delay the first call after
// the node is back.
func Call[Req, Resp any](ctx context.Context, p *Peers, node uint64,
	rpc func(datapb.DataServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	conn, err := p.Conn(node)
	if err != nil {
		var zero Resp
		return zero, err
	}
	resp, err := rpc(datapb.NewDataServiceClient(conn), ctx, req)
	if cluster.Unreachable(err) {
		conn.ResetConnectBackoff()
	}
	p.Record(ctx, node, err)
	return resp, FromStatus(err)
}

// WriteShard sends req to node.
func (p *Peers) WriteShard(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error {
	_, err := Call(ctx, p, node, datapb.DataServiceClient.WriteShard, req)
	return err
}

// replayConnectWait bounds how long a replay waits for a connection to its
// node before it fails and backs off.
const replayConnectWait = 5 * time.Second

// ReplayShard is WriteShard for hinted handoff: it first waits (at most
// replayConnectWait) for a connection to node instead of failing at once
// while gRPC is between attempts, so that a replay kicked by NodeUp meets
// the node, and a node that is down holds a retry slot only briefly.
func (p *Peers) ReplayShard(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error {
	conn, err := p.Conn(node)
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
	return p.WriteShard(ctx, node, req)
}

// OrderDelete asks node to order a delete behind its writes to the
// delete's target (OrderDelete).
func (p *Peers) OrderDelete(ctx context.Context, node uint64, req *datapb.OrderDeleteRequest) error {
	_, err := Call(ctx, p, node, datapb.DataServiceClient.OrderDelete, req)
	return err
}

// ReadOpenTimeout bounds how long a remote read waits for the owner's
// first answer (a metadata call, or a stream's begin frame, which the owner
// sends once its iterator exists) before the shards are tried on their next
// owner: a node that is hung, not only down, must not hold the query
// forever.
const ReadOpenTimeout = 10 * time.Second

// Metadata asks node a metadata question (SHOW MEASUREMENTS, tag keys and
// values, cardinality sketches).
func (p *Peers) Metadata(ctx context.Context, node uint64, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ReadOpenTimeout)
	defer cancel()
	return Call(ctx, p, node, datapb.DataServiceClient.Metadata, req)
}

// ShardMeta asks node for the planner's facts about some of its shards.
func (p *Peers) ShardMeta(ctx context.Context, node uint64, req *datapb.ShardMetaRequest) (*datapb.ShardMetaResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ReadOpenTimeout)
	defer cancel()
	return Call(ctx, p, node, datapb.DataServiceClient.ShardMeta, req)
}

// Load returns the counter of node's open remote reads.
func (p *Peers) Load(node uint64) *atomic.Int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.reads[node]
	if c == nil {
		c = new(atomic.Int64)
		p.reads[node] = c
	}
	return c
}

// Reachable reports whether node may answer now: it is in the state, it
// answered its last call (its circuit is closed, breaker.go), and its
// connection is not failing (a connection never used yet counts as
// reachable).
func (p *Peers) Reachable(node uint64) bool {
	addr := p.Addr(node)
	if addr == "" || !p.Available(node) {
		return false
	}
	conn, err := p.pool.Get(addr)
	return err == nil && conn.GetState() != connectivity.TransientFailure
}

// Reconnect makes the connection to node try again now rather than after
// gRPC's reconnect backoff (up to 2 minutes): the node said it is back.
func (p *Peers) Reconnect(node uint64) {
	if conn, err := p.Conn(node); err == nil {
		conn.ResetConnectBackoff()
	}
}

// Announce tells every other data node of the state that node self is up
// (NodeUp), so that they replay what they queued for it now. Errors are
// only logged at debug level: a peer that does not answer retries on its own.
func (p *Peers) Announce(ctx context.Context, self uint64, log *slog.Logger) {
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

// ForgetRemoved closes the connections of data nodes that left the state
// (a View hook).
func (p *Peers) ForgetRemoved(old, cur *metapb.Data) {
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

// Close closes every connection.
func (p *Peers) Close() error { return p.pool.Close() }
