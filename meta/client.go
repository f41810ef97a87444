package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
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
	opts  cluster.DialOptions

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	// next is the index in addrs of the node to try first.
	next int
}

// NewClient returns a client for the meta nodes at addrs (gRPC host:port).
func NewClient(addrs []string, o cluster.DialOptions) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("meta: no meta server addresses")
	}
	return &Client{addrs: append([]string(nil), addrs...), opts: o, conns: map[string]*grpc.ClientConn{}}, nil
}

// Close closes all connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	c.conns = map[string]*grpc.ClientConn{}
	return errors.Join(errs...)
}

// Node returns a MetaService client for one specific node.
func (c *Client) Node(addr string) (metapb.MetaServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, ok := c.conns[addr]
	if !ok {
		var err error
		if conn, err = cluster.Dial(addr, c.opts); err != nil {
			return nil, err
		}
		c.conns[addr] = conn
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

func unreachable(err error) bool {
	// The Watch callback's own error is an answer, not a failure to reach
	// the node: trying the next node would call the callback again.
	var cb *callbackError
	if errors.As(err, &cb) {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return true
	}
	switch st.Code() {
	case codes.Unavailable:
		return len(st.Details()) == 0
	case codes.Unauthenticated:
		// One node refusing this client's token (its secret differs, its
		// clock is off, a secret is being rolled) says nothing about the
		// others: try them.
		return true
	}
	return false
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

// retry repeats fn while it fails for lack of a leader.
func (c *Client) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !(errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader)) {
			return err
		}
		select {
		case <-time.After(time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
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

// Watch calls fn with the state whenever a newer one than index is
// committed, until ctx ends or fn returns an error. States may be coalesced;
// their indexes increase strictly.
//
// Watch never gives up on the cluster: when a stream cannot be opened or
// breaks, for whatever reason (a node down, a secret mismatch on one node,
// clock skew, a rolling secret change), it moves on to the next address and
// tries again with a capped backoff. report, when not nil, is told about
// each failure; it is for logging and must not block.
func (c *Client) Watch(ctx context.Context, index uint64, fn func(*metapb.Data) error, report func(addr string, err error)) error {
	c.mu.Lock()
	next := c.next
	c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		addr := c.addrs[next%len(c.addrs)]
		err := c.watchOne(ctx, addr, &index, func(d *metapb.Data) error {
			attempt = 0
			return fn(d)
		})
		var cbErr *callbackError
		if errors.As(err, &cbErr) {
			return cbErr.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if report != nil {
			report(addr, FromStatus(err))
		}
		next++
		select {
		case <-time.After(watchBackoff(attempt)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchBackoff is the pause before the next attempt after attempt failures
// in a row: 50 ms more each time, at most 2 s.
func watchBackoff(attempt int) time.Duration {
	return time.Duration(min(attempt+1, 40)) * 50 * time.Millisecond
}

// watchOne follows one node's Watch stream until it breaks; *index is
// advanced past every state handed to fn.
func (c *Client) watchOne(ctx context.Context, addr string, index *uint64, fn func(*metapb.Data) error) error {
	mc, err := c.Node(addr)
	if err != nil {
		return err
	}
	// Ending the stream's context ends the stream on both sides when this
	// returns (callback error), not only when ctx ends.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := mc.Watch(sctx, &metapb.WatchRequest{Index: *index})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.Data.GetIndex() <= *index {
			continue
		}
		*index = resp.Data.Index
		if err := fn(resp.Data); err != nil {
			return &callbackError{err}
		}
	}
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
