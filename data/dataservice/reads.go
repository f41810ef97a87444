package dataservice

import (
	"context"
	"slices"

	influxcoord "github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/data/remote"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The read side of the data service: a peer that runs a query reads the
// shards it does not hold from here. The shards are read through the
// engine's own local shard mapping (package remote), so a remote read
// yields exactly what the same query would yield on this node for these
// shards.

// ReadShards implements datapb.DataServiceServer.
func (s *Service) ReadShards(req *datapb.ReadShardsRequest, stream datapb.DataService_ReadShardsServer) error {
	s.reads.Add(1)
	defer s.reads.Add(-1)
	ctx := stream.Context()
	sg, m, err := s.readable(ctx, req.ShardIds, req.Source, req.User, req.System, req.MetaIndex)
	if err != nil {
		return err
	}
	return remote.Serve(ctx, sg, m, req.IteratorOptions, req.FillInteger, stream.Send)
}

// ShardMeta implements datapb.DataServiceServer.
func (s *Service) ShardMeta(ctx context.Context, req *datapb.ShardMetaRequest) (*datapb.ShardMetaResponse, error) {
	sg, m, err := s.readable(ctx, req.ShardIds, req.Source, req.User, req.System, req.MetaIndex)
	if err != nil {
		return nil, err
	}
	return remote.Facts(sg, m, req)
}

// Metadata implements datapb.DataServiceServer.
func (s *Service) Metadata(ctx context.Context, req *datapb.MetadataRequest) (*datapb.MetadataResponse, error) {
	if err := s.catchUp(ctx, req.MetaIndex); err != nil {
		return nil, err
	}
	if err := s.authorize(req.User, req.System, req.Database); err != nil {
		return nil, err
	}
	// The user may read req.Database: the shards asked about must be its.
	for _, id := range req.ShardIds {
		if l, ok := s.c.Shards.Lookup(id); ok && l.DB != req.Database {
			return nil, peer.Errorf(peer.ErrInvalid, "shard %d belongs to database %q, not %q", id, l.DB, req.Database)
		}
	}
	return remote.LocalMetadata(ctx, s.store, req)
}

// readable checks a read request and returns the engine's view of the
// shards and the source: the sender's meta index reached, the user allowed
// to read the database, and every shard in the state, of the source's
// database and policy, and owned by this node for reads.
func (s *Service) readable(ctx context.Context, ids []uint64, src *datapb.Source, user string, system bool, index uint64) (*influxcoord.LocalShardMapping, *influxql.Measurement, error) {
	m, err := remote.MeasurementFromPB(src)
	if err != nil {
		return nil, nil, peer.Errorf(peer.ErrInvalid, "%v", err)
	}
	if err := s.catchUp(ctx, index); err != nil {
		return nil, nil, err
	}
	self := s.c.Self()
	if self == 0 {
		return nil, nil, errNotRegistered
	}
	if err := s.authorize(user, system, m.Database); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		loc, ok := s.c.Shards.Lookup(id)
		switch {
		case !ok || !loc.Live():
			return nil, nil, peer.Errorf(peer.ErrShardNotFound, "shard %d does not exist (dropped, expired or never created)", id)
		case loc.DB != m.Database || loc.RP != m.RetentionPolicy:
			return nil, nil, peer.Errorf(peer.ErrShardNotFound, "shard %d belongs to %q.%q, not %q.%q",
				id, loc.DB, loc.RP, m.Database, m.RetentionPolicy)
		case !slices.Contains(pmeta.ReadOwners(loc.Shard), self):
			return nil, nil, peer.Errorf(peer.ErrNotOwner, "data node %d does not serve reads of shard %d", self, id)
		}
	}
	// A shard this node owns but never received a point for is not in the
	// store: it holds nothing, and the store's group leaves it out.
	source := influxcoord.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy}
	return &influxcoord.LocalShardMapping{ShardMap: map[influxcoord.Source]tsdb.ShardGroup{source: s.store.ShardGroup(ids)}}, m, nil
}
