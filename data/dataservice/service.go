package dataservice

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/data/coordinator"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// metaCatchUpWait bounds how long a receiver waits to reach the sender's
// meta index before it answers Unavailable (the sender then queues the
// points and replays them later).
const metaCatchUpWait = 5 * time.Second

// Service serves the DataService to the other data nodes: shard writes
// (and their hinted-handoff replays), the ordering of deletes, and remote
// reads (reads.go). Its handlers check a request against this node's meta
// state and hand the work to the packages that do it (coordinator,
// remote); their errors are peer's, which the server answers as their
// status codes (peer.Status, installed by Serve).
type Service struct {
	datapb.UnimplementedDataServiceServer
	c      *peer.Cluster
	store  *tsdb.Store
	shards coordinator.ShardStore
	users  func(name string) *auth.User
	order  Orderer
	hints  Kicker
	// reads counts the ReadShards streams being served.
	reads atomic.Int64
}

// Orderer orders a delete behind this node's writes to a node
// (coordinator.Writer.OrderDelete).
type Orderer interface {
	OrderDelete(ctx context.Context, target uint64, req *datapb.WriteShardRequest) (bool, error)
}

// Kicker replays what hinted handoff holds for a node now
// (coordinator.Hints).
type Kicker interface {
	Kick(node uint64)
}

// Config is what a Service works with.
type Config struct {
	Cluster *peer.Cluster
	// Store is this node's storage engine, which remote reads use.
	Store *tsdb.Store
	// Shards takes the shard writes and deletes
	// (engine.Engine.ShardWriter).
	Shards coordinator.ShardStore
	// Users finds the user of a remote read (nil: every read is allowed).
	Users func(name string) *auth.User
	// Order orders deletes behind this node's writes (nil: nothing to
	// order).
	Order Orderer
	// Hints replays what it holds for a node that says it is back (nil:
	// no hinted handoff).
	Hints Kicker
}

// New returns the service of cfg.
func New(cfg Config) *Service {
	return &Service{c: cfg.Cluster, store: cfg.Store, shards: cfg.Shards, users: cfg.Users, order: cfg.Order, hints: cfg.Hints}
}

// ActiveReads is the number of ReadShards streams being served.
func (s *Service) ActiveReads() int64 { return s.reads.Load() }

// NodeUp implements datapb.DataServiceServer: a peer is back, so what this
// node queued for it is replayed now.
func (s *Service) NodeUp(_ context.Context, req *datapb.NodeUpRequest) (*datapb.NodeUpResponse, error) {
	if s.hints != nil && req.NodeId != 0 {
		s.hints.Kick(req.NodeId)
	}
	return &datapb.NodeUpResponse{}, nil
}

// AwaitMetaIndex implements datapb.DataServiceServer: it answers once this
// node has applied the meta state at the index (the view's hooks, local
// cleanup included, have run), within the caller's deadline and at most
// metaCatchUpWait.
func (s *Service) AwaitMetaIndex(ctx context.Context, req *datapb.AwaitMetaIndexRequest) (*datapb.AwaitMetaIndexResponse, error) {
	if err := s.catchUp(ctx, req.Index); err != nil {
		return nil, err
	}
	return &datapb.AwaitMetaIndexResponse{Index: s.c.View.Index()}, nil
}

// WriteShard implements datapb.DataServiceServer. It writes only to a
// shard that this node owns in a meta state at least as new as the
// sender's, so that a late replay can never recreate a dropped or moved
// shard.
func (s *Service) WriteShard(ctx context.Context, req *datapb.WriteShardRequest) (*datapb.WriteShardResponse, error) {
	if err := s.catchUp(ctx, req.MetaIndex); err != nil {
		return nil, err
	}
	self := s.c.Self()
	if self == 0 {
		return nil, errNotRegistered
	}
	if err := s.ownedBy(req, self); err != nil {
		return nil, err
	}
	if req.Delete != nil {
		if err := coordinator.ApplyDelete(s.shards, req.Database, req.Delete); err != nil {
			return nil, err
		}
		return &datapb.WriteShardResponse{MetaIndex: s.c.View.Index()}, nil
	}
	points, err := coordinator.DecodePoints(req.Points)
	if err != nil {
		return nil, peer.Errorf(peer.ErrInvalid, "%v", err)
	}
	if err := coordinator.WriteLocalShard(s.shards, req.Database, req.RetentionPolicy, req.ShardId, points, s.c.Shards.Exists); err != nil {
		return nil, writeError(err)
	}
	return &datapb.WriteShardResponse{MetaIndex: s.c.View.Index()}, nil
}

// OrderDelete implements datapb.DataServiceServer.
func (s *Service) OrderDelete(ctx context.Context, req *datapb.OrderDeleteRequest) (*datapb.OrderDeleteResponse, error) {
	d := req.GetDelete()
	if d.GetDelete() == nil || req.TargetNodeId == 0 {
		return nil, peer.Errorf(peer.ErrInvalid, "an OrderDelete needs a target node and a delete")
	}
	if _, _, err := coordinator.ParseDelete(d.Delete); err != nil {
		return nil, err
	}
	// Only a delete of a shard this node knows, of the database and policy
	// the request names, for one of the shard's owners, is ordered: the
	// queued delete later goes to the target as the sender's.
	if err := s.catchUp(ctx, d.MetaIndex); err != nil {
		return nil, err
	}
	if err := s.ownedBy(d, req.TargetNodeId); err != nil {
		return nil, err
	}
	if s.order == nil {
		return &datapb.OrderDeleteResponse{}, nil
	}
	queued, err := s.order.OrderDelete(ctx, req.TargetNodeId, d)
	if err != nil {
		return nil, peer.Errorf(peer.ErrUnavailable, "%v", err)
	}
	return &datapb.OrderDeleteResponse{Queued: queued}, nil
}

// errNotRegistered answers requests that need this node's ID before it has
// one.
var errNotRegistered = peer.Errorf(peer.ErrUnavailable, "this data node has not registered yet")

// catchUp waits (at most metaCatchUpWait) until this node's meta state is
// at least at index, the sender's.
func (s *Service) catchUp(ctx context.Context, index uint64) error {
	view := s.c.View
	if index <= view.Index() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, metaCatchUpWait)
	defer cancel()
	if err := view.WaitForIndex(wctx, index); err != nil {
		return peer.Errorf(peer.ErrUnavailable, "meta state at index %d, the sender's is at %d", view.Index(), index)
	}
	return nil
}

// ownedBy checks that req's shard is in this node's meta state, live, of
// req's database and policy, and written to by node (ErrShardNotFound,
// ErrNotOwner: permanent for hinted handoff).
func (s *Service) ownedBy(req *datapb.WriteShardRequest, node uint64) error {
	loc, ok := s.c.Shards.Lookup(req.ShardId)
	switch {
	case !ok || !loc.Live():
		return peer.Errorf(peer.ErrShardNotFound, "shard %d does not exist (dropped, expired or never created)", req.ShardId)
	case loc.DB != req.Database || loc.RP != req.RetentionPolicy:
		return peer.Errorf(peer.ErrShardNotFound, "shard %d belongs to %q.%q, not %q.%q",
			req.ShardId, loc.DB, loc.RP, req.Database, req.RetentionPolicy)
	case !loc.Owns(node):
		return peer.Errorf(peer.ErrNotOwner, "data node %d does not own shard %d", node, req.ShardId)
	}
	return nil
}

// writeError is the kind of a local shard write's error that the sender
// acts on: a field type conflict can never be written, a shard gone or
// pending deletion will not come back (both permanent); anything else may
// pass later.
func writeError(err error) error {
	var pwe tsdb.PartialWriteError
	switch {
	case errors.As(err, &pwe):
		// The engine wrote the other points: the sender counts this node as
		// having what it can take, and answers its client with the reason.
		return peer.PartialWriteErrorf(pwe.Reason, pwe.Dropped, "%v", err)
	case errors.Is(err, tsdb.ErrShardDeletion), errors.Is(err, coordinator.ErrShardGone):
		return peer.Errorf(peer.ErrShardNotFound, "%v", err)
	}
	return peer.Errorf(peer.ErrInternal, "%v", err)
}

// authorize checks the user of a remote read as this node's HTTP API
// would: the user must exist here and may read db. user is "" when the
// query runs where authentication is off (during a rolling restart that
// enables it, say) or for the node's own work (system, which it must say):
// the peer proved itself with the internal secret.
func (s *Service) authorize(user string, system bool, db string) error {
	if s.users == nil {
		return nil
	}
	if user == "" {
		if system {
			return nil
		}
		return peer.Errorf(peer.ErrDenied, "a read for no user, not marked as the sending node's own")
	}
	u := s.users(user)
	if u == nil {
		return peer.Errorf(peer.ErrDenied, "user %q not found on data node %d", user, s.c.Self())
	}
	if !u.Authorize(influxql.ReadPrivilege, db) {
		return peer.Errorf(peer.ErrDenied, "user %q is not authorized to read database %q", user, db)
	}
	return nil
}
