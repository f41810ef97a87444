package meta

// Forwarding: what only the leader may do (commit a command, change the
// Raft configuration, keep heartbeats and leases) runs on the leader; a
// follower finds the leader's MetaService and calls it there, once. A
// request that arrives forwarded is never forwarded again, so a stale view
// of who leads cannot loop.
//
//	caller ── leaderOrForward ─┬─ leader:             local()
//	                           ├─ follower, !forward: NotLeaderError{leader's RPC address}
//	                           └─ follower, forward:  remote(ctx marked forwarded, leader's client)

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/metadata"

	"github.com/palisade-db/palisade/proto/metapb"
)

// forwardedHeader marks a request that a follower forwarded to the leader;
// the receiver refuses rather than forwarding it again.
const forwardedHeader = "x-palisade-forwarded"

func forwardedContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedHeader, "1")
}

func isForwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedHeader)) > 0
}

// errUnreachable: the leader could not be dialed or did not answer; worth
// trying again, perhaps with a new leader (see retryable).
var errUnreachable = errors.New("meta: leader unreachable")

// leaderOrForward runs local when this node leads. Otherwise, without
// forward (the request was forwarded here already), it refuses with a
// NotLeaderError naming the leader's MetaService address, when known; with
// forward, it calls remote with the leader's MetaService client and a
// child of ctx marked as forwarded. remote's error passes through
// FromStatus, so the leader's refusals match the sentinels here; errors
// that are not gRPC statuses pass unchanged, and so does remote's T.
//
// It makes one attempt: callers that retry while leadership moves wrap it
// in untilSettled.
func leaderOrForward[T any](ctx context.Context, s *Store, forward bool,
	local func() (T, error),
	remote func(ctx context.Context, c metapb.MetaServiceClient) (T, error),
) (T, error) {
	if s.IsLeader() {
		return local()
	}
	var zero T
	if !forward {
		return zero, &NotLeaderError{LeaderRPCAddr: s.leaderRPCAddr()}
	}
	c, err := s.leaderClient()
	if err != nil {
		return zero, err
	}
	v, err := remote(forwardedContext(ctx), c)
	return v, FromStatus(err)
}

// leaderRPCAddr maps the leader's Raft address to its MetaService address.
func (s *Store) leaderRPCAddr() string {
	leader := s.LeaderRaftAddr()
	if leader == "" {
		return ""
	}
	if leader == s.cfg.RaftAddr {
		return s.cfg.RPCAddr
	}
	for _, m := range s.Data().MetaNodes {
		if m.RaftAddr == leader {
			return m.RpcAddr
		}
	}
	return ""
}

// leaderClient returns a MetaService client for the leader, on the store's
// pooled connection to it (cluster.Pool: dialed on first use, kept).
func (s *Store) leaderClient() (metapb.MetaServiceClient, error) {
	addr := s.leaderRPCAddr()
	if addr == "" {
		return nil, ErrNoLeader
	}
	c, err := s.peers.Get(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return metapb.NewMetaServiceClient(c), nil
}
