package data

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/datapb"
)

// metaCatchUpWait bounds how long a receiver waits to reach the sender's
// meta index before it answers Unavailable (the sender then queues the
// points and replays them later).
const metaCatchUpWait = 5 * time.Second

// shardService serves the DataService to the other data nodes: shard
// writes (and their hinted-handoff replays), and remote reads
// (readservice.go).
type shardService struct {
	datapb.UnimplementedDataServiceServer
	self  func() uint64 // this node's ID; 0 until registered
	view  *MetaView
	dir   *shardDirectory
	store *tsdb.Store
	log   *slog.Logger
	// kick makes hinted handoff replay what it holds for a node now (nil:
	// no hinted handoff).
	kick func(node uint64)
	// authorize checks the user of a remote read (nil: everyone).
	authorize readAuthorizer
	// orderDelete orders a delete behind this node's writes to a node
	// (clusterWriter.orderDelete; nil: nothing to order).
	orderDelete func(ctx context.Context, target uint64, req *datapb.WriteShardRequest) (bool, error)
	// reads counts the ReadShards streams being served.
	reads atomic.Int64
}

// NodeUp implements datapb.DataServiceServer: a peer is back, so what this
// node queued for it is replayed now.
func (s *shardService) NodeUp(_ context.Context, req *datapb.NodeUpRequest) (*datapb.NodeUpResponse, error) {
	if s.kick != nil && req.NodeId != 0 {
		s.kick(req.NodeId)
	}
	return &datapb.NodeUpResponse{}, nil
}

// WriteShard implements datapb.DataServiceServer. It writes only to a
// shard that this node owns in a meta state at least as new as the
// sender's, so that a late replay can never recreate a dropped or moved
// shard.
func (s *shardService) WriteShard(ctx context.Context, req *datapb.WriteShardRequest) (*datapb.WriteShardResponse, error) {
	if err := s.catchUp(ctx, req.MetaIndex); err != nil {
		return nil, err
	}
	self := s.self()
	if self == 0 {
		return nil, status.Error(codes.Unavailable, "this data node has not registered yet")
	}
	if err := s.ownedBy(req, self); err != nil {
		return nil, err
	}
	if req.Delete != nil {
		if err := applyDelete(s.store, req.Database, req.Delete); err != nil {
			return nil, deleteStatus(err)
		}
		return &datapb.WriteShardResponse{MetaIndex: s.view.Index()}, nil
	}
	points, err := decodePoints(req.Points)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := writeLocalShard(s.store, req.Database, req.RetentionPolicy, req.ShardId, points, s.dir.exists); err != nil {
		return nil, writeErrorStatus(err)
	}
	return &datapb.WriteShardResponse{MetaIndex: s.view.Index()}, nil
}

// ownedBy checks that req's shard is in this node's meta state, live, of
// req's database and policy, and written to by node; its errors are gRPC
// statuses (NOT_FOUND, FAILED_PRECONDITION: permanent for hinted handoff).
func (s *shardService) ownedBy(req *datapb.WriteShardRequest, node uint64) error {
	loc, ok := s.dir.lookup(req.ShardId)
	switch {
	case !ok || !loc.live():
		return status.Errorf(codes.NotFound, "shard %d does not exist (dropped, expired or never created)", req.ShardId)
	case loc.db != req.Database || loc.rp != req.RetentionPolicy:
		return status.Errorf(codes.NotFound, "shard %d belongs to %q.%q, not %q.%q",
			req.ShardId, loc.db, loc.rp, req.Database, req.RetentionPolicy)
	case !loc.owns(node):
		return status.Errorf(codes.FailedPrecondition, "data node %d does not own shard %d", node, req.ShardId)
	}
	return nil
}

// writeErrorStatus turns a local shard write's error into the status the
// sender acts on: a field type conflict can never be written, a shard gone
// or pending deletion will not come back (both permanent); anything else
// may pass later.
func writeErrorStatus(err error) error {
	var pwe tsdb.PartialWriteError
	switch {
	case errors.As(err, &pwe):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, tsdb.ErrShardDeletion), errors.Is(err, errShardGone):
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// errShardGone: the shard left the meta state while a write created it.
var errShardGone = errors.New("data: the shard was deleted during the write")

// writeLocalShard writes points to a shard of this node's store, creating
// the shard first when this node has not held it yet. A shard created here
// while its deletion was being applied is deleted again (live says whether
// the meta state still has it; nil: do not check), so that a write racing a
// DROP or a retention deletion leaves no orphan behind.
func writeLocalShard(store *tsdb.Store, db, rp string, shardID uint64, points []models.Point, live func(uint64) bool) error {
	wctx := tsdb.WriteContext{}
	err := store.WriteToShard(wctx, shardID, points)
	if !errors.Is(err, tsdb.ErrShardNotFound) {
		return err
	}
	if err := store.CreateShard(db, rp, shardID, true); err != nil {
		return err
	}
	if live != nil && !live(shardID) {
		if derr := store.DeleteShard(shardID); derr != nil {
			return fmt.Errorf("%w (deleting it again: %v)", errShardGone, derr)
		}
		return errShardGone
	}
	return store.WriteToShard(wctx, shardID, points)
}

// newDataServer returns the gRPC server of the DataService with the
// node-to-node guards installed (cluster.NewServer: the internal token
// checked on headers before a message is read, bounded streams, recovered
// panics), and the counters those guards keep.
func newDataServer(svc datapb.DataServiceServer, secret, advertised string, creds credentials.TransportCredentials, log *slog.Logger) (*grpc.Server, *cluster.ServerStats) {
	srv, stats := cluster.NewServer(cluster.ServerConfig{
		Secret:         secret,
		Names:          []string{advertised},
		TLS:            creds,
		MaxRecvMsgSize: 256 << 20,
		MaxSendMsgSize: 256 << 20,
		Logger:         log,
		Component:      "data",
	})
	datapb.RegisterDataServiceServer(srv, svc)
	return srv, stats
}
