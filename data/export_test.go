package data

import (
	"context"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/data/coordinator"
	"github.com/palisade-db/palisade/data/remote"
	"github.com/palisade-db/palisade/proto/metapb"
)

// MetaState is the node's current meta state.
func (n *Node) MetaState() *metapb.Data { return n.view.Data() }

// EngineStore exposes the node's storage engine to the tests of package
// data_test.
func (n *Node) EngineStore() *tsdb.Store { return n.engine.Store }

// HintsPending reports whether this node holds queued points for node.
func (n *Node) HintsPending(node uint64) bool { return n.hints != nil && n.hints.Pending(node) }

// HintsTotalBytes is the bytes this node's hinted-handoff queues hold.
func (n *Node) HintsTotalBytes() int64 {
	if n.hints == nil {
		return 0
	}
	return n.hints.TotalBytes()
}

// LocalCount counts the values of field in measurement m of db that this
// node's own store holds, in every shard it has, read straight from the
// engine (not through a query, which reads every owner).
func (n *Node) LocalCount(db, m, field string) (int64, error) {
	store := n.engine.Store
	var ids []uint64
	for _, sh := range store.Shards(store.ShardIDs()) {
		if sh.Database() == db {
			ids = append(ids, sh.ID())
		}
	}
	opt := query.IteratorOptions{
		Expr:      &influxql.Call{Name: "count", Args: []influxql.Expr{&influxql.VarRef{Val: field}}},
		StartTime: influxql.MinTime, EndTime: influxql.MaxTime, Ascending: true, Ordered: true,
	}
	itr, err := store.ShardGroup(ids).CreateIterator(context.Background(), &influxql.Measurement{Database: db, Name: m}, opt)
	if err != nil || itr == nil {
		return 0, err
	}
	defer itr.Close()
	var total int64
	for {
		p, err := itr.(query.IntegerIterator).Next()
		if err != nil || p == nil {
			return total, err
		}
		total += p.Value
	}
}

// EncodeCountOptions is the encoded iterator options of count(v) over all
// time, for tests that call ReadShards themselves.
func EncodeCountOptions() ([]byte, *int64, error) {
	return remote.EncodeReadOptions(query.IteratorOptions{
		Expr:      &influxql.Call{Name: "count", Args: []influxql.Expr{&influxql.VarRef{Val: "v"}}},
		StartTime: influxql.MinTime, EndTime: influxql.MaxTime, Ascending: true,
	})
}

// ActiveRemoteReads is the number of ReadShards streams this node serves.
func (n *Node) ActiveRemoteReads() int64 {
	if n.dataSvc == nil {
		return 0
	}
	return n.dataSvc.ActiveReads()
}

// MetaData is the node's current meta state.
func (n *Node) MetaData() *metapb.Data { return n.view.Data() }

// EncodeForOwners is what a coordinator in a cluster sends a shard's other
// owners for points: the points line protocol cannot carry unchanged are
// left out (counted; reason names the first).
func EncodeForOwners(points []models.Point) (sent []byte, refused int, reason string) {
	points, refused, reason = coordinator.EncodablePoints(points)
	return coordinator.EncodePoints(nil, points), refused, reason
}

// DecodeFromPeer is what an owner makes of a peer's points.
func DecodeFromPeer(b []byte) ([]models.Point, error) { return coordinator.DecodePoints(b) }
