package remote

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	influxcoord "github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/pkg/estimator"
	"github.com/influxdata/influxdb/pkg/estimator/hll"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/data/coordinator"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/internal/qlimit"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// TSDBStore is the statement executor's store in cluster mode: the
// metadata statements that the engine answers from its store (SHOW
// MEASUREMENTS, SHOW TAG KEYS, SHOW TAG VALUES, the estimated series and
// measurement cardinalities) ask every data node that owns a shard of the
// database and merge the answers: sets are unioned and sketches merged, so
// a shard's replicas are never counted twice. Every shard must have an
// owner that answered, or the statement fails. Everything else is the
// local store's.
type TSDBStore struct {
	influxcoord.LocalTSDBStore
	c *peer.Cluster
	// deletes sends deletes to every owner, ordered with the writes.
	deletes Deleter
}

// Deleter applies a delete on every data node that holds a shard of db
// (coordinator.Writer).
type Deleter interface {
	DeleteEverywhere(db string, shards []metastate.Loc, del *datapb.ShardDelete) error
}

// NewTSDBStore returns the statement executor's store of the cluster c,
// over this node's store, with deletes sent through d.
func NewTSDBStore(c *peer.Cluster, store *tsdb.Store, d Deleter) *TSDBStore {
	return &TSDBStore{LocalTSDBStore: influxcoord.LocalTSDBStore{Store: store}, c: c, deletes: d}
}

// ask sends req, for who, to every data node that owns one of shards (for
// reads) and returns the answers. A node that fails is fine as long as every
// shard has another owner that answered.
func (s *TSDBStore) ask(ctx context.Context, req *datapb.MetadataRequest, who reader, shards []metastate.Loc) ([]*datapb.MetadataResponse, error) {
	req.MetaIndex = s.c.View.Index()
	req.User, req.System = who.user, who.system
	self := s.c.Self()
	// Owners whose circuit is open (they did not answer their last call)
	// are asked only for shards that have no other owner: a hung node
	// costs one timeout, not one per statement.
	nodes := map[uint64]bool{}
	for _, l := range shards {
		owners := pmeta.ReadOwners(l.Shard)
		answering := slices.DeleteFunc(slices.Clone(owners), func(o uint64) bool { return o != self && !s.c.Peers.Available(o) })
		if len(answering) == 0 {
			answering = owners
		}
		for _, o := range answering {
			nodes[o] = true
		}
	}
	type answer struct {
		resp *datapb.MetadataResponse
		err  error
	}
	answers := make(map[uint64]answer, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for node := range nodes {
		wg.Go(func() {
			var a answer
			if node == self {
				a.resp, a.err = LocalMetadata(ctx, s.Store, req)
			} else {
				a.resp, a.err = s.c.Peers.Metadata(ctx, node, req)
			}
			mu.Lock()
			answers[node] = a
			mu.Unlock()
		})
	}
	wg.Wait()
	var out []*datapb.MetadataResponse
	for _, node := range slices.Sorted(maps.Keys(answers)) {
		a := answers[node]
		if a.err == nil {
			out = append(out, a.resp)
			continue
		}
		if node == self || !peer.TryNextOwner(a.err) {
			return nil, a.err
		}
	}
	for _, l := range shards {
		owners := pmeta.ReadOwners(l.Shard)
		if slices.ContainsFunc(owners, func(o uint64) bool { a, asked := answers[o]; return asked && a.err == nil }) {
			continue
		}
		var tried []string
		for _, o := range owners {
			if a, asked := answers[o]; asked {
				tried = append(tried, fmt.Sprintf("data node %d (%v)", o, a.err))
			}
		}
		return nil, fmt.Errorf("shard %d cannot be read: no owner answered: %s", l.Shard.Id, strings.Join(tried, "; "))
	}
	return out, nil
}

// shardsByID returns the live shards among ids and their database (the
// statements that name shards name those of one database).
func (s *TSDBStore) shardsByID(ids []uint64) ([]metastate.Loc, string) {
	var out []metastate.Loc
	db := ""
	for _, id := range ids {
		if l, ok := s.c.Shards.Lookup(id); ok && l.Live() {
			out = append(out, l)
			db = l.DB
		}
	}
	return out, db
}

// reader is who a remote read is for: a user, or the node itself (system),
// which only query.OpenAuthorizer says, as the HTTP API chooses it with
// authentication off. Any other authorizer without a user (none at all: a
// code path that forgot it) reads as nobody, which owners refuse.
type reader struct {
	user   string
	system bool
}

func readerOf(a query.FineAuthorizer) reader {
	if u, ok := a.(interface{ ID() string }); ok {
		return reader{user: u.ID()}
	}
	return reader{system: a == query.OpenAuthorizer}
}

func condString(cond influxql.Expr) string {
	if cond == nil {
		return ""
	}
	return cond.String()
}

// MeasurementNames implements coordinator.TSDBStore.
func (s *TSDBStore) MeasurementNames(ctx context.Context, auth query.FineAuthorizer, database, retentionPolicy string, cond influxql.Expr) ([][]byte, error) {
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: datapb.MetadataRequest_MEASUREMENT_NAMES, Database: database,
		RetentionPolicy: retentionPolicy, Condition: condString(cond)}, readerOf(auth), s.c.Shards.Of(database, retentionPolicy))
	if err != nil {
		return nil, err
	}
	var names [][]byte
	for _, r := range resps {
		names = append(names, r.Names...)
	}
	slices.SortFunc(names, bytes.Compare)
	return slices.CompactFunc(names, bytes.Equal), nil
}

// TagKeys implements coordinator.TSDBStore.
func (s *TSDBStore) TagKeys(ctx context.Context, auth query.FineAuthorizer, shardIDs []uint64, cond influxql.Expr) ([]tsdb.TagKeys, error) {
	shards, db := s.shardsByID(shardIDs)
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: datapb.MetadataRequest_TAG_KEYS, Database: db, ShardIds: shardIDs,
		Condition: condString(cond)}, readerOf(auth), shards)
	if err != nil {
		return nil, err
	}
	byName := map[string][]string{}
	for _, r := range resps {
		for _, tk := range r.TagKeys {
			byName[tk.Measurement] = append(byName[tk.Measurement], tk.Keys...)
		}
	}
	out := make([]tsdb.TagKeys, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		keys := byName[name]
		slices.Sort(keys)
		out = append(out, tsdb.TagKeys{Measurement: name, Keys: slices.Compact(keys)})
	}
	return out, nil
}

// TagValues implements coordinator.TSDBStore.
func (s *TSDBStore) TagValues(ctx context.Context, auth query.FineAuthorizer, shardIDs []uint64, cond influxql.Expr) ([]tsdb.TagValues, error) {
	shards, db := s.shardsByID(shardIDs)
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: datapb.MetadataRequest_TAG_VALUES, Database: db, ShardIds: shardIDs,
		Condition: condString(cond)}, readerOf(auth), shards)
	if err != nil {
		return nil, err
	}
	byName := map[string][]tsdb.KeyValue{}
	for _, r := range resps {
		for _, tv := range r.TagValues {
			if len(tv.Keys) != len(tv.Values) {
				return nil, errors.New("a data node answered tag values with keys and values that do not pair up")
			}
			for i := range tv.Keys {
				byName[tv.Measurement] = append(byName[tv.Measurement], tsdb.KeyValue{Key: tv.Keys[i], Value: tv.Values[i]})
			}
		}
	}
	out := make([]tsdb.TagValues, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		kvs := byName[name]
		slices.SortFunc(kvs, func(a, b tsdb.KeyValue) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value)) })
		out = append(out, tsdb.TagValues{Measurement: name, Values: slices.Compact(kvs)})
	}
	return out, nil
}

// SeriesCardinality implements coordinator.TSDBStore: an estimate from the
// merged sketches of every owner (a standalone node counts exactly; series
// IDs are per node, so their sets cannot be merged across nodes).
func (s *TSDBStore) SeriesCardinality(ctx context.Context, database string) (int64, error) {
	return s.cardinality(ctx, datapb.MetadataRequest_SERIES_SKETCHES, database)
}

// MeasurementsCardinality implements coordinator.TSDBStore.
func (s *TSDBStore) MeasurementsCardinality(ctx context.Context, database string) (int64, error) {
	return s.cardinality(ctx, datapb.MetadataRequest_MEASUREMENT_SKETCHES, database)
}

// cardinality asks every owner for its sketches of database. The engine
// passes no user for the estimated cardinality statements: the statement
// was authorized (READ on database) before it ran, and the request says it
// is the node's own (System), as an aggregate the node asks for itself.
func (s *TSDBStore) cardinality(ctx context.Context, kind datapb.MetadataRequest_Kind, database string) (int64, error) {
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: kind, Database: database}, reader{system: true}, s.c.Shards.Of(database, ""))
	if err != nil {
		return 0, err
	}
	ss, ts := hll.NewDefaultPlus(), hll.NewDefaultPlus()
	for _, r := range resps {
		for _, m := range []struct {
			into *hll.Plus
			b    []byte
		}{{ss, r.Sketch}, {ts, r.TombstoneSketch}} {
			if len(m.b) == 0 {
				continue
			}
			var sk hll.Plus
			if err := sk.UnmarshalBinary(m.b); err != nil {
				return 0, fmt.Errorf("a data node's cardinality sketch: %w", err)
			}
			if err := m.into.Merge(&sk); err != nil {
				return 0, err
			}
		}
	}
	return max(int64(ss.Count())-int64(ts.Count()), 0), nil
}

// LocalMetadata answers req from this node's store.
func LocalMetadata(ctx context.Context, store *tsdb.Store, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
	var cond influxql.Expr
	if req.Condition != "" {
		var err error
		if cond, err = qlimit.ParseExpr(req.Condition); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "condition: %v", err)
		}
	}
	auth := query.OpenAuthorizer // the user is checked per database
	resp := &datapb.MetadataResponse{}
	switch req.Kind {
	case datapb.MetadataRequest_MEASUREMENT_NAMES:
		names, err := store.MeasurementNames(ctx, auth, req.Database, req.RetentionPolicy, cond)
		if err != nil {
			return nil, err
		}
		resp.Names = names
	case datapb.MetadataRequest_TAG_KEYS:
		tks, err := store.TagKeys(ctx, auth, req.ShardIds, cond)
		if err != nil {
			return nil, err
		}
		for _, tk := range tks {
			resp.TagKeys = append(resp.TagKeys, &datapb.MeasurementTagKeys{Measurement: tk.Measurement, Keys: tk.Keys})
		}
	case datapb.MetadataRequest_TAG_VALUES:
		tvs, err := store.TagValues(ctx, auth, req.ShardIds, cond)
		if err != nil {
			return nil, err
		}
		for _, tv := range tvs {
			m := &datapb.MeasurementTagValues{Measurement: tv.Measurement}
			for _, kv := range tv.Values {
				m.Keys = append(m.Keys, kv.Key)
				m.Values = append(m.Values, kv.Value)
			}
			resp.TagValues = append(resp.TagValues, m)
		}
	case datapb.MetadataRequest_SERIES_SKETCHES, datapb.MetadataRequest_MEASUREMENT_SKETCHES:
		sketches := store.SeriesSketches
		if req.Kind == datapb.MetadataRequest_MEASUREMENT_SKETCHES {
			sketches = store.MeasurementsSketches
		}
		ss, ts, err := sketches(ctx, req.Database)
		if err != nil {
			return nil, err
		}
		if resp.Sketch, err = marshalSketch(ss); err != nil {
			return nil, err
		}
		if resp.TombstoneSketch, err = marshalSketch(ts); err != nil {
			return nil, err
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown metadata request kind %d", req.Kind)
	}
	return resp, nil
}

func marshalSketch(s estimator.Sketch) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	return s.MarshalBinary()
}

// DeleteSeries implements coordinator.TSDBStore (DELETE, DROP SERIES).
func (s *TSDBStore) DeleteSeries(database string, sources []influxql.Source, condition influxql.Expr) error {
	del := &datapb.ShardDelete{Condition: condString(condition)}
	if len(sources) > 0 {
		del.Sources = influxql.Sources(sources).String()
	}
	if _, _, err := coordinator.ParseDelete(del); err != nil {
		return err // what the receivers could not parse is refused here
	}
	return s.deletes.DeleteEverywhere(database, s.c.Shards.Of(database, ""), del)
}

// DeleteMeasurement implements coordinator.TSDBStore (DROP MEASUREMENT).
func (s *TSDBStore) DeleteMeasurement(database, name string) error {
	return s.deletes.DeleteEverywhere(database, s.c.Shards.Of(database, ""), &datapb.ShardDelete{Measurement: name})
}

// DeleteShard implements coordinator.TSDBStore (DROP SHARD, before the
// shard leaves the meta state): this node deletes its copy, if it has one;
// every other owner deletes its own when the state no longer has the shard
// (engine.DropRemoved). A shard that neither the state nor this node has is
// "shard not found", as on a standalone node.
func (s *TSDBStore) DeleteShard(id uint64) error {
	err := s.Store.DeleteShard(id)
	if errors.Is(err, tsdb.ErrShardNotFound) {
		if _, ok := s.c.Shards.Lookup(id); ok {
			return nil
		}
	}
	return err
}
