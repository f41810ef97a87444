package remote

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
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The client side of remote reads: streams and metadata calls to the data
// node that serves some shards of a query.

// openRead starts a ReadShards stream on node and waits (at most
// peer.ReadOpenTimeout) for its begin frame. The returned reader is positioned
// after it, and its Close ends the stream.
func (m *ShardMapper) openRead(ctx context.Context, node uint64, req *datapb.ReadShardsRequest) (*frameReader, influxql.DataType, error) {
	conn, err := m.c.Peers.Conn(node)
	if err != nil {
		return nil, 0, err
	}
	began := time.Now()
	sctx, cancel := context.WithCancel(ctx)
	opened := make(chan struct{})
	timedOut := atomic.Bool{}
	timer := time.AfterFunc(peer.ReadOpenTimeout, func() {
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
		m.readLatency.WithLabelValues(strconv.FormatUint(node, 10), "error").Observe(time.Since(began).Seconds())
		if timedOut.Load() {
			err = status.Errorf(codes.DeadlineExceeded, "no answer from data node %d within %s", node, peer.ReadOpenTimeout)
		}
		if cluster.Unreachable(err) {
			conn.ResetConnectBackoff()
		}
		m.c.Peers.Record(ctx, node, err)
		return nil, 0, peer.FromStatus(err)
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
	m.readLatency.WithLabelValues(strconv.FormatUint(node, 10), "ok").Observe(time.Since(began).Seconds())
	m.c.Peers.Record(ctx, node, nil)
	l := m.c.Peers.Load(node)
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
func (sm *ShardMapper) remoteIterator(ctx context.Context, node uint64, ids []uint64, m *influxql.Measurement, opt query.IteratorOptions, who reader, index uint64) (query.Iterator, error) {
	b, fillInt, err := EncodeReadOptions(opt)
	if err != nil {
		return nil, err
	}
	req := &datapb.ReadShardsRequest{ShardIds: ids, IteratorOptions: b, Source: sourceToPB(m), User: who.user, System: who.system, MetaIndex: index, FillInteger: fillInt}
	r, typ, err := sm.openRead(ctx, node, req)
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
