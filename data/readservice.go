package data

import (
	"context"
	"slices"

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The read side of the data service: a peer that runs a query reads the
// shards it does not hold from here. The shards are read through the
// engine's own local shard mapping, so a remote read yields exactly what
// the same query would yield on this node for these shards.

// readAuthorizer checks that user may read database db here. user is ""
// only for the sending node's own reads (system), which it must say.
type readAuthorizer func(user string, system bool, db string) error

// catchUp waits (at most metaCatchUpWait) until this node's meta state is
// at least at index, the sender's.
func (s *shardService) catchUp(ctx context.Context, index uint64) error {
	if index <= s.view.Index() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, metaCatchUpWait)
	defer cancel()
	if err := s.view.WaitForIndex(wctx, index); err != nil {
		return status.Errorf(codes.Unavailable, "meta state at index %d, the sender's is at %d", s.view.Index(), index)
	}
	return nil
}

// readable checks a read request and returns the engine's view of the
// shards and the source: the sender's meta index reached, the user allowed
// to read the database, and every shard in the state, of the source's
// database and policy, and owned by this node for reads.
func (s *shardService) readable(ctx context.Context, ids []uint64, src *datapb.Source, user string, system bool, index uint64) (*coordinator.LocalShardMapping, *influxql.Measurement, error) {
	m, err := measurementFromPB(src)
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.catchUp(ctx, index); err != nil {
		return nil, nil, err
	}
	self := s.self()
	if self == 0 {
		return nil, nil, status.Error(codes.Unavailable, "this data node has not registered yet")
	}
	if s.authorize != nil {
		if err := s.authorize(user, system, m.Database); err != nil {
			return nil, nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	for _, id := range ids {
		loc, ok := s.dir.lookup(id)
		switch {
		case !ok || !loc.live():
			return nil, nil, status.Errorf(codes.NotFound, "shard %d does not exist (dropped, expired or never created)", id)
		case loc.db != m.Database || loc.rp != m.RetentionPolicy:
			return nil, nil, status.Errorf(codes.NotFound, "shard %d belongs to %q.%q, not %q.%q",
				id, loc.db, loc.rp, m.Database, m.RetentionPolicy)
		case !slices.Contains(pmeta.ReadOwners(loc.shard), self):
			return nil, nil, status.Errorf(codes.FailedPrecondition, "data node %d does not serve reads of shard %d", self, id)
		}
	}
	// A shard this node owns but never received a point for is not in the
	// store: it holds nothing, and the store's group leaves it out.
	src2 := coordinator.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy}
	return &coordinator.LocalShardMapping{ShardMap: map[coordinator.Source]tsdb.ShardGroup{src2: s.store.ShardGroup(ids)}}, m, nil
}

// ReadShards implements datapb.DataServiceServer.
func (s *shardService) ReadShards(req *datapb.ReadShardsRequest, stream datapb.DataService_ReadShardsServer) error {
	s.reads.Add(1)
	defer s.reads.Add(-1)
	ctx := stream.Context()
	sg, m, err := s.readable(ctx, req.ShardIds, req.Source, req.User, req.System, req.MetaIndex)
	if err != nil {
		return err
	}
	opt, err := decodeReadOptions(req.IteratorOptions, req.FillInteger)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	opt.InterruptCh = ctx.Done()
	opt.Authorizer = query.OpenAuthorizer // checked above, per database
	end := func(err error, stats query.IteratorStats) error {
		e := &datapb.ReadEnd{SeriesN: int64(stats.SeriesN), PointsN: int64(stats.PointN)}
		if err != nil {
			e.Error = err.Error()
		}
		return stream.Send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_End{End: e}})
	}
	begin := func(typ influxql.DataType) error {
		return stream.Send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_Begin{Begin: &datapb.ReadBegin{DataType: int32(typ)}}})
	}

	itr, err := sg.CreateIterator(ctx, m, opt)
	if err != nil {
		// The engine refused the query (a type conflict, too many series):
		// the same answer on every owner, so the sender does not retry.
		if serr := begin(influxql.Unknown); serr != nil {
			return serr
		}
		return end(err, query.IteratorStats{})
	}
	if itr == nil {
		if err := begin(influxql.Unknown); err != nil {
			return err
		}
		return end(nil, query.IteratorStats{})
	}
	defer itr.Close()
	if err := begin(iteratorType(itr)); err != nil {
		return err
	}
	err = encodeIterator(&frameWriter{send: stream.Send}, itr)
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return end(err, itr.Stats())
}

// ShardMeta implements datapb.DataServiceServer.
func (s *shardService) ShardMeta(ctx context.Context, req *datapb.ShardMetaRequest) (*datapb.ShardMetaResponse, error) {
	sg, m, err := s.readable(ctx, req.ShardIds, req.Source, req.User, req.System, req.MetaIndex)
	if err != nil {
		return nil, err
	}
	resp := &datapb.ShardMetaResponse{Fields: map[string]int32{}}
	fields, dims, err := sg.FieldDimensions(m)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	for k, t := range fields {
		resp.Fields[k] = int32(t)
	}
	for k := range dims {
		resp.Dimensions = append(resp.Dimensions, k)
	}
	slices.Sort(resp.Dimensions)
	if len(req.Fields) > 0 {
		resp.FieldTypes = make(map[string]int32, len(req.Fields))
		for _, f := range req.Fields {
			resp.FieldTypes[f] = int32(sg.MapType(m, f))
		}
	}
	if len(req.CostOptions) > 0 {
		opt, err := decodeReadOptions(req.CostOptions, nil)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		c, err := sg.IteratorCost(m, opt)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.CostNumShards, resp.CostNumSeries, resp.CostCachedValues = c.NumShards, c.NumSeries, c.CachedValues
		resp.CostNumFiles, resp.CostBlocksRead, resp.CostBlockSize = c.NumFiles, c.BlocksRead, c.BlockSize
	}
	return resp, nil
}
