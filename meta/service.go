package meta

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Service implements metapb.MetaServiceServer on a Store.
type Service struct {
	metapb.UnimplementedMetaServiceServer
	store *Store
}

// NewService returns the MetaService for store.
func NewService(store *Store) *Service { return &Service{store: store} }

// Execute applies a command. Follower: forwards to the leader.
func (s *Service) Execute(ctx context.Context, req *metapb.ExecuteRequest) (*metapb.ExecuteResponse, error) {
	resp, err := s.store.execute(ctx, req.GetCommand(), !isForwarded(ctx))
	var committed *CommandError
	if (err == nil || errors.As(err, &committed)) && take(&s.store.faults.executeReplies) {
		return nil, status.Error(codes.Unavailable, "connection lost (test fault)")
	}
	return resp, ToStatus(err)
}

// Snapshot returns the full state.
func (s *Service) Snapshot(context.Context, *metapb.SnapshotRequest) (*metapb.SnapshotResponse, error) {
	return &metapb.SnapshotResponse{Data: s.store.Data()}, nil
}

// Watch streams the state now (when newer than the caller's index), then each
// newer state. States published while a send is in flight are coalesced. A
// follower sends the leader's state when it is newer than its own
// (relay.go). A caller that asks for deltas gets each state as the change
// from the one before: at once when this node still holds the state at the
// caller's index, else after one full state.
func (s *Service) Watch(req *metapb.WatchRequest, stream grpc.ServerStreamingServer[metapb.WatchResponse]) error {
	s.store.relay.watchers.Add(1)
	defer s.store.relay.watchers.Add(-1)
	notify(s.store.relay.wake)
	have := req.GetIndex()
	// base is the state the caller holds, when this node knows it.
	var base *metapb.Data
	if req.GetDeltas() {
		base = s.store.fsm.recent.at(have)
	}
	for {
		d, changed, relayed := s.store.newest()
		switch {
		case d.Index > have:
			resp := &metapb.WatchResponse{Data: d}
			if base != nil {
				resp = &metapb.WatchResponse{Delta: s.store.fsm.recent.delta(base, d)}
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			have = d.Index
			if req.GetDeltas() {
				base = d
			}
		case d.Index == have && base == nil && req.GetDeltas() && have != 0:
			// The caller holds this very state (one index, one state).
			base = d
		}
		select {
		case <-changed:
		case <-relayed:
		case <-stream.Context().Done():
			return nil
		case <-s.store.closed:
			return status.Error(codes.Unavailable, ErrClosed.Error())
		}
	}
}

// RegisterDataNode registers a data node (or finds its existing ID by TCP address).
func (s *Service) RegisterDataNode(ctx context.Context, req *metapb.RegisterDataNodeRequest) (*metapb.RegisterDataNodeResponse, error) {
	resp, err := s.store.execute(ctx, &metapb.Command{Op: &metapb.Command_CreateDataNode{
		CreateDataNode: &metapb.CreateDataNode{HttpAddr: req.HttpAddr, TcpAddr: req.TcpAddr},
	}}, !isForwarded(ctx))
	if err != nil {
		return nil, ToStatus(err)
	}
	// The local replica has applied resp.Index, so its cluster ID is the
	// cluster's (set by the first command ever applied).
	return &metapb.RegisterDataNodeResponse{NodeId: resp.NodeId, Index: resp.Index, ClusterId: s.store.Data().ClusterId}, nil
}

// Heartbeat records a data node as alive.
func (s *Service) Heartbeat(ctx context.Context, req *metapb.HeartbeatRequest) (*metapb.HeartbeatResponse, error) {
	resp, err := s.store.Heartbeat(ctx, req, !isForwarded(ctx))
	return resp, ToStatus(err)
}

// AcquireLease grants or renews a lease (see Store.AcquireLease).
func (s *Service) AcquireLease(ctx context.Context, req *metapb.AcquireLeaseRequest) (*metapb.AcquireLeaseResponse, error) {
	resp, err := s.store.AcquireLease(ctx, req, !isForwarded(ctx))
	return resp, ToStatus(err)
}

// RemoveNode removes a meta node (by Raft address) or a data node (by ID).
func (s *Service) RemoveNode(ctx context.Context, req *metapb.RemoveNodeRequest) (*metapb.RemoveNodeResponse, error) {
	forward := !isForwarded(ctx)
	switch n := req.Node.(type) {
	case *metapb.RemoveNodeRequest_MetaRaftAddr:
		idx, err := s.store.RemoveMetaNode(ctx, n.MetaRaftAddr, forward)
		if err != nil {
			return nil, ToStatus(err)
		}
		return &metapb.RemoveNodeResponse{Index: idx}, nil
	case *metapb.RemoveNodeRequest_DataNodeId:
		resp, err := s.store.execute(ctx, &metapb.Command{Op: &metapb.Command_RemoveDataNode{
			RemoveDataNode: &metapb.RemoveDataNode{Id: n.DataNodeId},
		}}, forward)
		if err != nil {
			return nil, ToStatus(err)
		}
		return &metapb.RemoveNodeResponse{Index: resp.Index}, nil
	default:
		return nil, status.Error(codes.InvalidArgument, "node to remove required")
	}
}

// AddMetaNode adds a voter.
func (s *Service) AddMetaNode(ctx context.Context, req *metapb.AddMetaNodeRequest) (*metapb.AddMetaNodeResponse, error) {
	idx, err := s.store.AddMetaNode(ctx, req.RaftAddr, req.RpcAddr, !isForwarded(ctx))
	if err != nil {
		return nil, ToStatus(err)
	}
	return &metapb.AddMetaNodeResponse{Index: idx}, nil
}

// Status describes this node.
func (s *Service) Status(context.Context, *metapb.StatusRequest) (*metapb.StatusResponse, error) {
	return s.store.Status(), nil
}

// ServerOptions configure NewGRPCServer.
type ServerOptions struct {
	// InternalSecret, when set, is required (as a token bound to the RPC's
	// method, used once) on every RPC.
	InternalSecret string
	// TLS, when set, serves TLS.
	TLS    credentials.TransportCredentials
	Logger *slog.Logger
}

// NewGRPCServer returns a gRPC server with the MetaService registered and
// the node-to-node guards installed (cluster.NewServer: the internal token
// checked on headers before a message is read, bounded streams, recovered
// panics), and the counters those guards keep.
func NewGRPCServer(store *Store, o ServerOptions) (*grpc.Server, *cluster.ServerStats) {
	if o.InternalSecret == "" && o.Logger != nil {
		o.Logger.Warn("[meta] internal-shared-secret is empty: MetaService RPCs and the Raft port are open to anyone who can reach them, "+
			"who can then read every password hash and JWT secret and change the cluster state; set it on every node",
			"component", "meta")
	}
	var names []string
	if store != nil {
		names = []string{store.RPCAddr()}
	}
	srv, stats := cluster.NewServer(cluster.ServerConfig{
		Secret: o.InternalSecret,
		Names:  names,
		TLS:    o.TLS,
		// Inbound MetaService messages are small (commands, heartbeats):
		// grpc-go's own default. Snapshots and Watch states go out.
		MaxRecvMsgSize: 4 << 20,
		MaxSendMsgSize: 256 << 20,
		Logger:         o.Logger,
		Component:      "meta",
	})
	metapb.RegisterMetaServiceServer(srv, NewService(store))
	// The standard health service, for probes (palisade-meta healthcheck,
	// grpc-health-probe, Kubernetes' grpc probes): it answers SERVING while
	// the server runs and needs no token (cluster.Authenticator).
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return srv, stats
}

// Serve serves srv on ln until it stops; a normal stop is not an error.
func Serve(srv *grpc.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
