package data

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The client side of remote reads: streams and metadata calls to the data
// node that serves some shards of a query.

// readOpenTimeout bounds how long opening a remote read waits for the
// owner's begin frame (which it sends once its iterator exists) before
// the shards are tried on their next owner: a node that is hung, not
// only down, must not hold the query forever.
const readOpenTimeout = 10 * time.Second

// load returns the counter of node's open remote reads.
func (p *peers) load(node uint64) *atomic.Int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.reads[node]
	if c == nil {
		c = new(atomic.Int64)
		p.reads[node] = c
	}
	return c
}

// reachable reports whether node may answer now: it is in the state, and
// its connection is not failing (a connection never used yet counts as
// reachable).
func (p *peers) reachable(node uint64) bool {
	addr := p.addr(node)
	if addr == "" {
		return false
	}
	conn, err := p.pool.Get(addr)
	return err == nil && conn.GetState() != connectivity.TransientFailure
}

// openRead starts a ReadShards stream on node and waits (at most
// readOpenTimeout) for its begin frame. The returned reader is positioned
// after it, and its Close ends the stream.
func (p *peers) openRead(ctx context.Context, node uint64, req *datapb.ReadShardsRequest) (*frameReader, influxql.DataType, error) {
	conn, err := p.conn(node)
	if err != nil {
		return nil, 0, err
	}
	began := time.Now()
	sctx, cancel := context.WithCancel(ctx)
	opened := make(chan struct{})
	timedOut := atomic.Bool{}
	timer := time.AfterFunc(readOpenTimeout, func() {
		select {
		case <-opened:
		default:
			timedOut.Store(true)
			cancel()
		}
	})
	fail := func(err error) (*frameReader, influxql.DataType, error) {
		timer.Stop()
		cancel()
		p.readLatency.WithLabelValues(strconv.FormatUint(node, 10), "error").Observe(time.Since(began).Seconds())
		if timedOut.Load() {
			err = status.Errorf(codes.DeadlineExceeded, "no answer from data node %d within %s", node, readOpenTimeout)
		}
		if cluster.Unreachable(err) {
			conn.ResetConnectBackoff()
		}
		return nil, 0, err
	}
	stream, err := datapb.NewDataServiceClient(conn).ReadShards(sctx, req)
	if err != nil {
		return fail(err)
	}
	f, err := stream.Recv()
	if err != nil {
		return fail(err)
	}
	close(opened)
	timer.Stop()
	if timedOut.Load() {
		return fail(ctx.Err())
	}
	b := f.GetBegin()
	if b == nil {
		return fail(fmt.Errorf("remote read from data node %d: the stream did not start with a begin frame", node))
	}
	p.readLatency.WithLabelValues(strconv.FormatUint(node, 10), "ok").Observe(time.Since(began).Seconds())
	l := p.load(node)
	l.Add(1)
	var once atomic.Bool
	r := &frameReader{recv: stream.Recv, node: node, close: func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			l.Add(-1)
		}
	}}
	return r, influxql.DataType(b.DataType), nil
}

// remoteIterator reads source m of shards ids from node with options opt
// as an engine iterator (nil when the shards hold nothing for m). who is
// who runs the query, index the meta index the shards were mapped at.
func (p *peers) remoteIterator(ctx context.Context, node uint64, ids []uint64, m *influxql.Measurement, opt query.IteratorOptions, who reader, index uint64) (query.Iterator, error) {
	b, fillInt, err := encodeReadOptions(opt)
	if err != nil {
		return nil, err
	}
	req := &datapb.ReadShardsRequest{ShardIds: ids, IteratorOptions: b, Source: sourceToPB(m), User: who.user, System: who.system, MetaIndex: index, FillInteger: fillInt}
	r, typ, err := p.openRead(ctx, node, req)
	if err != nil {
		return nil, err
	}
	if typ == influxql.Unknown {
		// No points follow; the end frame tells whether that is an error.
		defer r.Close()
		if _, err := r.frame(); !errors.Is(err, errStreamEnd) {
			if err == nil {
				err = fmt.Errorf("remote read from data node %d: points after a begin frame without a type", node)
			}
			return nil, err
		}
		return nil, nil
	}
	itr, err := newStreamIterator(r, typ)
	if err != nil {
		r.Close()
	}
	return itr, err
}

// shardMeta asks node for the planner's facts about shards ids and req's
// source.
func (p *peers) shardMeta(ctx context.Context, node uint64, req *datapb.ShardMetaRequest) (*datapb.ShardMetaResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, readOpenTimeout)
	defer cancel()
	return call(ctx, p, node, datapb.DataServiceClient.ShardMeta, req)
}

// tryNextOwner reports whether a remote read or metadata call that failed
// with err may succeed on another owner of the same shards: the node is
// unknown, unreachable or did not answer in time, or its meta state
// disagrees about the shards (it does not have them, or does not own them).
// The engine's own errors (in the end frame) and a refused user are the
// same on every owner.
func tryNextOwner(err error) bool {
	if errors.Is(err, errUnknownNode) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.NotFound, codes.FailedPrecondition, codes.Unimplemented:
		return true
	}
	return false
}
