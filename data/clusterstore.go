package data

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

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/pkg/estimator"
	"github.com/influxdata/influxdb/pkg/estimator/hll"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/internal/qlimit"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// clusterTSDBStore is the statement executor's store in cluster mode: the
// metadata statements that the engine answers from its store (SHOW
// MEASUREMENTS, SHOW TAG KEYS, SHOW TAG VALUES, the estimated series and
// measurement cardinalities) ask every data node that owns a shard of the
// database and merge the answers: sets are unioned and sketches merged, so
// a shard's replicas are never counted twice. Every shard must have an
// owner that answered, or the statement fails. Everything else is the
// local store's.
type clusterTSDBStore struct {
	coordinator.LocalTSDBStore
	dir   *shardDirectory
	view  *MetaView
	self  func() uint64
	peers *peers
	// writer sends deletes to every owner, ordered with the writes.
	writer *clusterWriter
}

// ask sends req, for who, to every data node that owns one of shards (for
// reads) and returns the answers. A node that fails is fine as long as every
// shard has another owner that answered.
func (s *clusterTSDBStore) ask(ctx context.Context, req *datapb.MetadataRequest, who reader, shards []shardLoc) ([]*datapb.MetadataResponse, error) {
	req.MetaIndex = s.view.Index()
	req.User, req.System = who.user, who.system
	self := s.self()
	nodes := map[uint64]bool{}
	for _, l := range shards {
		for _, o := range pmeta.ReadOwners(l.shard) {
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
				a.resp, a.err = localMetadata(ctx, s.Store, req)
			} else {
				a.resp, a.err = s.peers.metadata(ctx, node, req)
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
		if node == self || !tryNextOwner(a.err) {
			return nil, a.err
		}
	}
	for _, l := range shards {
		owners := pmeta.ReadOwners(l.shard)
		if slices.ContainsFunc(owners, func(o uint64) bool { return answers[o].err == nil }) {
			continue
		}
		var tried []string
		for _, o := range owners {
			tried = append(tried, fmt.Sprintf("data node %d (%v)", o, answers[o].err))
		}
		return nil, fmt.Errorf("shard %d cannot be read: no owner answered: %s", l.shard.Id, strings.Join(tried, "; "))
	}
	return out, nil
}

// shardsOf returns the live shards of db (and rp, unless "") in the state.
func (s *clusterTSDBStore) shardsOf(db, rp string) []shardLoc {
	var out []shardLoc
	for _, l := range s.dir.cur.Load().shards {
		if l.live() && l.db == db && (rp == "" || l.rp == rp) {
			out = append(out, l)
		}
	}
	return out
}

// shardsByID returns the live shards among ids and their database (the
// statements that name shards name those of one database).
func (s *clusterTSDBStore) shardsByID(ids []uint64) ([]shardLoc, string) {
	var out []shardLoc
	db := ""
	for _, id := range ids {
		if l, ok := s.dir.lookup(id); ok && l.live() {
			out = append(out, l)
			db = l.db
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
func (s *clusterTSDBStore) MeasurementNames(ctx context.Context, auth query.FineAuthorizer, database, retentionPolicy string, cond influxql.Expr) ([][]byte, error) {
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: datapb.MetadataRequest_MEASUREMENT_NAMES, Database: database,
		RetentionPolicy: retentionPolicy, Condition: condString(cond)}, readerOf(auth), s.shardsOf(database, retentionPolicy))
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
func (s *clusterTSDBStore) TagKeys(ctx context.Context, auth query.FineAuthorizer, shardIDs []uint64, cond influxql.Expr) ([]tsdb.TagKeys, error) {
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
func (s *clusterTSDBStore) TagValues(ctx context.Context, auth query.FineAuthorizer, shardIDs []uint64, cond influxql.Expr) ([]tsdb.TagValues, error) {
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
func (s *clusterTSDBStore) SeriesCardinality(ctx context.Context, database string) (int64, error) {
	return s.cardinality(ctx, datapb.MetadataRequest_SERIES_SKETCHES, database)
}

// MeasurementsCardinality implements coordinator.TSDBStore.
func (s *clusterTSDBStore) MeasurementsCardinality(ctx context.Context, database string) (int64, error) {
	return s.cardinality(ctx, datapb.MetadataRequest_MEASUREMENT_SKETCHES, database)
}

// cardinality asks every owner for its sketches of database. The engine
// passes no user for the estimated cardinality statements: the statement
// was authorized (READ on database) before it ran, and the request says it
// is the node's own (System), as an aggregate the node asks for itself.
func (s *clusterTSDBStore) cardinality(ctx context.Context, kind datapb.MetadataRequest_Kind, database string) (int64, error) {
	resps, err := s.ask(ctx, &datapb.MetadataRequest{Kind: kind, Database: database}, reader{system: true}, s.shardsOf(database, ""))
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

// localMetadata answers req from this node's store.
func localMetadata(ctx context.Context, store *tsdb.Store, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
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

// Metadata implements datapb.DataServiceServer.
func (s *shardService) Metadata(ctx context.Context, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
	if err := s.catchUp(ctx, req.MetaIndex); err != nil {
		return nil, err
	}
	if s.authorize != nil {
		if err := s.authorize(req.User, req.System, req.Database); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	// The user may read req.Database: the shards asked about must be its.
	for _, id := range req.ShardIds {
		if l, ok := s.dir.lookup(id); ok && l.db != req.Database {
			return nil, status.Errorf(codes.InvalidArgument, "shard %d belongs to database %q, not %q", id, l.db, req.Database)
		}
	}
	resp, err := localMetadata(ctx, s.store, req)
	if err != nil && status.Code(err) == codes.Unknown {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return resp, err
}

// metadata asks node a metadata question.
func (p *peers) metadata(ctx context.Context, node uint64, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, readOpenTimeout)
	defer cancel()
	return call(ctx, p, node, datapb.DataServiceClient.Metadata, req)
}
