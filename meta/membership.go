package meta

// Membership: meta nodes joining and leaving the Raft cluster, data node
// heartbeats, status, and a meta node registering itself.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// AddMetaNode adds a voter to the Raft cluster and records it in the state.
func (s *Store) AddMetaNode(ctx context.Context, raftAddr, rpcAddr string, forward bool) (uint64, error) {
	if raftAddr == "" {
		return 0, fmt.Errorf("%w: Raft address required", ErrInvalidCommand)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var index uint64
	err := s.untilSettled(ctx, forward, func() (err error) {
		index, err = leaderOrForward(ctx, s, forward,
			func() (uint64, error) { return s.addMetaNodeAsLeader(ctx, raftAddr, rpcAddr, forward) },
			func(ctx context.Context, c metapb.MetaServiceClient) (uint64, error) {
				resp, err := c.AddMetaNode(ctx, &metapb.AddMetaNodeRequest{RaftAddr: raftAddr, RpcAddr: rpcAddr})
				if err != nil {
					return 0, err
				}
				// Like Execute: the change is visible here when we return.
				return resp.Index, s.WaitForApplied(ctx, resp.Index)
			})
		return err
	})
	return index, err
}

// addMetaNodeAsLeader adds raftAddr as a voter unless its binary supports
// less than the cluster's feature level (checked under levelMu, so that no
// raise slips in between), then records it in the state. The record is
// proposed with forward, in case leadership moved on meanwhile.
func (s *Store) addMetaNodeAsLeader(ctx context.Context, raftAddr, rpcAddr string, forward bool) (uint64, error) {
	timeout := time.Until(deadline(ctx))
	s.levelMu.Lock()
	err := s.checkJoinerLevel(ctx, raftAddr, rpcAddr)
	if err == nil {
		err = s.raft.AddVoter(raft.ServerID(raftAddr), raft.ServerAddress(raftAddr), 0, timeout).Error()
	}
	s.levelMu.Unlock()
	if err != nil {
		return 0, err
	}
	resp, err := s.propose(ctx, addMetaNodeCommand(raftAddr, rpcAddr), forward)
	if err != nil {
		return 0, err
	}
	return resp.Index, nil
}

// RemoveMetaNode removes a meta node from the state and the Raft cluster.
func (s *Store) RemoveMetaNode(ctx context.Context, raftAddr string, forward bool) (uint64, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var index uint64
	err := s.untilSettled(ctx, forward, func() (err error) {
		index, err = leaderOrForward(ctx, s, forward,
			func() (uint64, error) { return s.removeMetaNodeAsLeader(ctx, raftAddr) },
			func(ctx context.Context, c metapb.MetaServiceClient) (uint64, error) {
				resp, err := c.RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: raftAddr}})
				if err != nil {
					return 0, err
				}
				// Like Execute: the change is visible here when we return
				// (a node that removed itself receives no more entries).
				if raftAddr == s.cfg.RaftAddr {
					return resp.Index, nil
				}
				return resp.Index, s.WaitForApplied(ctx, resp.Index)
			})
		return err
	})
	return index, err
}

func (s *Store) removeMetaNodeAsLeader(ctx context.Context, raftAddr string) (uint64, error) {
	voters := s.voters()
	inRaft := slices.Contains(voters, raftAddr)
	inState := slices.ContainsFunc(s.Data().MetaNodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == raftAddr })
	if !inRaft && !inState {
		return 0, fmt.Errorf("%w: meta node %s", ErrNodeNotFound, raftAddr)
	}
	if inRaft && len(voters) == 1 {
		return 0, ErrLastMetaNode
	}
	var index uint64
	if inState {
		resp, err := s.propose(ctx, &metapb.Command{Op: &metapb.Command_RemoveMetaNode{RemoveMetaNode: &metapb.RemoveMetaNode{RaftAddr: raftAddr}}}, false)
		if err != nil {
			return 0, err
		}
		index = resp.Index
	}
	if inRaft {
		f := s.raft.RemoveServer(raft.ServerID(raftAddr), 0, time.Until(deadline(ctx)))
		if err := f.Error(); err != nil {
			return 0, err
		}
		index = max(index, f.Index())
	}
	return index, nil
}

func deadline(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(proposeTimeout)
}

// voters returns the Raft addresses of the current voters.
func (s *Store) voters() []string {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []string
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			out = append(out, string(srv.Address))
		}
	}
	return out
}

// Heartbeat records that a data node is alive and what it reported. Only
// the leader keeps these; followers forward. The answer is the leader's
// cluster ID and state index.
func (s *Store) Heartbeat(ctx context.Context, req *metapb.HeartbeatRequest, forward bool) (*metapb.HeartbeatResponse, error) {
	return leaderOrForward(ctx, s, forward,
		func() (*metapb.HeartbeatResponse, error) {
			s.hbMu.Lock()
			s.lastSeen[req.NodeId] = time.Now().UnixNano()
			s.reports[req.NodeId] = &metapb.DataNodeReport{MetaIndex: req.MetaIndex, MetaStateAgeMs: req.MetaStateAgeMs}
			s.hbMu.Unlock()
			s.clearStale(req.NodeId, req.MetaIndex)
			d := s.Data()
			return &metapb.HeartbeatResponse{ClusterId: d.ClusterId, Index: d.Index}, nil
		},
		func(ctx context.Context, c metapb.MetaServiceClient) (*metapb.HeartbeatResponse, error) {
			return c.Heartbeat(ctx, req)
		})
}

// Status describes this node and the cluster as it sees it.
func (s *Store) Status() *metapb.StatusResponse {
	stats := s.raft.Stats()
	parse := func(k string) uint64 { v, _ := strconv.ParseUint(stats[k], 10, 64); return v }
	resp := &metapb.StatusResponse{
		RaftAddr:       s.cfg.RaftAddr,
		RpcAddr:        s.cfg.RPCAddr,
		State:          s.raft.State().String(),
		LeaderRaftAddr: s.LeaderRaftAddr(),
		CommitIndex:    parse("commit_index"),
		AppliedIndex:   s.fsm.current().Applied,
		Term:           parse("term"),

		SupportedFeatureLevel: s.level,
		ClusterFeatureLevel:   ClusterFeatureLevel(s.Data()),
	}
	rpcOf := map[string]string{s.cfg.RaftAddr: s.cfg.RPCAddr}
	for _, m := range s.Data().MetaNodes {
		rpcOf[m.RaftAddr] = m.RpcAddr
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			a := string(srv.Address)
			resp.Servers = append(resp.Servers, &metapb.RaftServer{
				RaftAddr: a, RpcAddr: rpcOf[a], Voter: srv.Suffrage == raft.Voter, Leader: a == resp.LeaderRaftAddr,
			})
		}
	}
	if s.IsLeader() {
		s.hbMu.Lock()
		resp.DataNodeLastSeen = make(map[uint64]int64, len(s.lastSeen))
		for id, t := range s.lastSeen {
			resp.DataNodeLastSeen[id] = t
		}
		resp.DataNodeReports = make(map[uint64]*metapb.DataNodeReport, len(s.reports))
		for id, r := range s.reports {
			resp.DataNodeReports[id] = r
		}
		s.hbMu.Unlock()
	}
	return resp
}

// registerBackoff paces register's attempts.
var registerBackoff = cluster.Backoff{Min: 100 * time.Millisecond, Max: 100 * time.Millisecond}

// errNotRegistered: the cluster has no ID yet or this node is not in the
// state yet; register tries again.
var errNotRegistered = errors.New("meta: not registered yet")

// register names the cluster (on the first leader) and records this node's
// addresses in the state, retrying until both are done or the store closes.
func (s *Store) register() {
	defer s.wg.Done()
	ctx, stop := s.closing(context.Background())
	defer stop()
	_ = cluster.Retry(ctx, registerBackoff, nil, func(context.Context) error { return s.registerOnce() })
}

// registerOnce makes one attempt of register: nil once the cluster has an
// ID and the state lists this node with its current addresses.
func (s *Store) registerOnce() error {
	if s.LeaderRaftAddr() == "" {
		return ErrNoLeader
	}
	d := s.Data()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if d.ClusterId == "" && s.IsLeader() {
		_, err = s.Execute(ctx, &metapb.Command{Op: &metapb.Command_InitCluster{InitCluster: &metapb.InitCluster{ClusterId: randomID()}}})
	}
	if err == nil && !s.registered(d) && slices.Contains(s.voters(), s.cfg.RaftAddr) {
		_, err = s.Execute(ctx, addMetaNodeCommand(s.cfg.RaftAddr, s.cfg.RPCAddr))
	}
	if err != nil {
		s.log.Debug("registering meta node", "err", err)
		return err
	}
	if d = s.Data(); d.ClusterId == "" || !s.registered(d) {
		return errNotRegistered
	}
	return nil
}

// registered reports whether d lists this node with its current addresses.
func (s *Store) registered(d *metapb.Data) bool {
	return slices.ContainsFunc(d.MetaNodes, func(m *metapb.MetaNode) bool {
		return m.RaftAddr == s.cfg.RaftAddr && m.RpcAddr == s.cfg.RPCAddr
	})
}

func addMetaNodeCommand(raftAddr, rpcAddr string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_AddMetaNode{AddMetaNode: &metapb.AddMetaNode{RaftAddr: raftAddr, RpcAddr: rpcAddr}}}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
