package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Client talks to a meta cluster through any of its nodes. Each call tries
// the nodes in turn until one answers; writes may go to any node because
// followers forward them.
type Client struct {
	addrs []string
	pool  *cluster.Pool

	mu sync.Mutex
	// next is the index in addrs of the node to try first.
	next int
}

// Pauses between attempts: while the cluster has no leader (Execute and the
// other writes), and before Watch moves on to the next node.
var (
	leaderBackoff = cluster.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	watchBackoff  = cluster.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
)

// NewClient returns a client for the meta nodes at addrs (gRPC host:port).
func NewClient(addrs []string, o cluster.DialOptions) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("meta: no meta server addresses")
	}
	return &Client{addrs: append([]string(nil), addrs...), pool: cluster.NewPool(o)}, nil
}

// Close closes all connections; the client cannot be used afterwards.
func (c *Client) Close() error { return c.pool.Close() }

// Node returns a MetaService client for one specific node.
func (c *Client) Node(addr string) (metapb.MetaServiceClient, error) {
	conn, err := c.pool.Get(addr)
	if err != nil {
		return nil, err
	}
	return metapb.NewMetaServiceClient(conn), nil
}

// do calls fn against the nodes in turn, starting with the last one that
// answered, until one gives an answer that is not a transport failure or an
// authentication refusal.
func (c *Client) do(ctx context.Context, fn func(metapb.MetaServiceClient) error) error {
	c.mu.Lock()
	start := c.next
	c.mu.Unlock()
	var last error
	for i := range c.addrs {
		idx := (start + i) % len(c.addrs)
		mc, err := c.Node(c.addrs[idx])
		if err == nil {
			err = fn(mc)
		}
		if err == nil || !unreachable(err) {
			c.mu.Lock()
			c.next = idx
			c.mu.Unlock()
			return FromStatus(err)
		}
		last = fmt.Errorf("%s: %w", c.addrs[idx], err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("meta: no meta server answered: %w", last)
}

// unreachable reports whether do should try the next node after err. It is
// cluster.Unreachable, with these differences:
//   - an error that is not a gRPC status (the client cannot dial the
//     address at all) moves on too;
//   - so does Unauthenticated: one node refusing this client's token (its
//     secret differs, its clock is off, a secret is being rolled) says
//     nothing about the others;
//   - DeadlineExceeded and Canceled do not: every node gets the caller's
//     ctx, so they mean the caller's deadline passed or it gave up, and
//     no other node would do better;
//   - the Watch callback's own error is an answer, not a failure to reach
//     the node: trying the next node would call the callback again.
func unreachable(err error) bool {
	var cb *callbackError
	if errors.As(err, &cb) {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return true
	}
	switch st.Code() {
	case codes.Unauthenticated:
		return true
	case codes.DeadlineExceeded, codes.Canceled:
		return false
	}
	return cluster.Unreachable(err)
}

// Execute applies cmd and returns the index it was committed at. It retries
// while the cluster has no leader, until ctx ends. The command gets a
// request ID (unless it has one) that every attempt, on whichever node,
// carries: the cluster applies it once, and a retry of an attempt that
// committed without an answer gets that attempt's result.
func (c *Client) Execute(ctx context.Context, cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	if cmd != nil {
		cmd = withRequestID(cmd)
	}
	var resp *metapb.ExecuteResponse
	err := c.retry(ctx, func() error {
		return c.do(ctx, func(mc metapb.MetaServiceClient) error {
			var err error
			resp, err = mc.Execute(ctx, &metapb.ExecuteRequest{Command: cmd})
			return err
		})
	})
	return resp, err
}

// retry repeats fn while it fails for lack of a leader, until ctx ends.
func (c *Client) retry(ctx context.Context, fn func() error) error {
	return cluster.Retry(ctx, leaderBackoff, leaderless, func(context.Context) error { return fn() })
}

// leaderless reports whether err says that the cluster has no leader right
// now (an election is under way), so that the same request may succeed soon.
func leaderless(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader)
}

// Snapshot returns the full state from one node.
func (c *Client) Snapshot(ctx context.Context) (*metapb.Data, error) {
	var data *metapb.Data
	err := c.do(ctx, func(mc metapb.MetaServiceClient) error {
		resp, err := mc.Snapshot(ctx, &metapb.SnapshotRequest{})
		if err == nil {
			data = resp.Data
		}
		return err
	})
	return data, err
}

// Status returns the status of the node at addr.
func (c *Client) Status(ctx context.Context, addr string) (*metapb.StatusResponse, error) {
	mc, err := c.Node(addr)
	if err != nil {
		return nil, err
	}
	resp, err := mc.Status(ctx, &metapb.StatusRequest{})
	return resp, FromStatus(err)
}

// AnyStatus returns the status of the first node that answers.
func (c *Client) AnyStatus(ctx context.Context) (*metapb.StatusResponse, error) {
	var resp *metapb.StatusResponse
	err := c.do(ctx, func(mc metapb.MetaServiceClient) error {
		var err error
		resp, err = mc.Status(ctx, &metapb.StatusRequest{})
		return err
	})
	return resp, err
}

// RegisterDataNode registers a data node and returns its ID.
func (c *Client) RegisterDataNode(ctx context.Context, httpAddr, tcpAddr string) (*metapb.RegisterDataNodeResponse, error) {
	var resp *metapb.RegisterDataNodeResponse
	err := c.retry(ctx, func() error {
		return c.do(ctx, func(mc metapb.MetaServiceClient) error {
			var err error
			resp, err = mc.RegisterDataNode(ctx, &metapb.RegisterDataNodeRequest{HttpAddr: httpAddr, TcpAddr: tcpAddr})
			return err
		})
	})
	return resp, err
}

// Heartbeat tells the cluster that a data node is alive and how current its
// state is; the answer is the leader's cluster ID and state index.
func (c *Client) Heartbeat(ctx context.Context, req *metapb.HeartbeatRequest) (*metapb.HeartbeatResponse, error) {
	var resp *metapb.HeartbeatResponse
	err := c.do(ctx, func(mc metapb.MetaServiceClient) error {
		var err error
		resp, err = mc.Heartbeat(ctx, req)
		return err
	})
	return resp, err
}

// AcquireLease asks the leader for a lease (see Store.AcquireLease).
func (c *Client) AcquireLease(ctx context.Context, req *metapb.AcquireLeaseRequest) (*metapb.AcquireLeaseResponse, error) {
	var resp *metapb.AcquireLeaseResponse
	err := c.do(ctx, func(mc metapb.MetaServiceClient) error {
		var err error
		resp, err = mc.AcquireLease(ctx, req)
		return err
	})
	return resp, err
}

// RemoveNode removes a meta node (by Raft address) or a data node (by ID).
func (c *Client) RemoveNode(ctx context.Context, req *metapb.RemoveNodeRequest) (uint64, error) {
	var idx uint64
	err := c.retry(ctx, func() error {
		return c.do(ctx, func(mc metapb.MetaServiceClient) error {
			resp, err := mc.RemoveNode(ctx, req)
			if err == nil {
				idx = resp.Index
			}
			return err
		})
	})
	return idx, err
}

// AddMetaNode adds a meta node to the Raft cluster.
func (c *Client) AddMetaNode(ctx context.Context, raftAddr, rpcAddr string) (uint64, error) {
	var idx uint64
	err := c.retry(ctx, func() error {
		return c.do(ctx, func(mc metapb.MetaServiceClient) error {
			resp, err := mc.AddMetaNode(ctx, &metapb.AddMetaNodeRequest{RaftAddr: raftAddr, RpcAddr: rpcAddr})
			if err == nil {
				idx = resp.Index
			}
			return err
		})
	})
	return idx, err
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
