package meta

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// Crash stops n the way a killed process stops: the gRPC server and Raft shut
// down at once, without handing leadership over (Close transfers it first).
// The files stay, so the node can be started again on the same directory.
func (n *Node) Crash() error {
	var err error
	n.once.Do(func() {
		n.srv.Stop()
		close(n.Store.closed)
		n.Store.wg.Wait()
		err = n.Store.closeResources()
	})
	return err
}

// LoseLeaderReplies makes the next n commands that this node commits as
// leader answer raft.ErrLeadershipLost after the state machine applied
// them, as when leadership is lost between commit and reply.
func (s *Store) LoseLeaderReplies(n int) { s.faults.leaderReplies.Store(int32(n)) }

// LoseExecuteReplies makes the next n Execute RPCs whose command this node
// got committed (accepted or refused by the state machine) answer
// codes.Unavailable (no details: a broken connection to the caller).
func (s *Store) LoseExecuteReplies(n int) { s.faults.executeReplies.Store(int32(n)) }

// ClaimFeatureLevel makes a node opened with cfg support only level (a node
// of an older version, as far as feature levels go).
func ClaimFeatureLevel(cfg *Config, level uint32) { cfg.featureLevel = level }

// RepliesStillToLose is how many of the answers LoseLeaderReplies and
// LoseExecuteReplies asked for have not been lost yet.
func (s *Store) RepliesStillToLose() int {
	return int(s.faults.leaderReplies.Load() + s.faults.executeReplies.Load())
}

// Forwarded marks ctx as a follower marks the requests it forwards to the
// leader: the receiver answers them itself or refuses, never forwards.
func Forwarded(ctx context.Context) context.Context { return forwardedContext(ctx) }

// CommandsIn counts the commands (not the barriers that tell followers of
// commits, nor configuration changes) at indexes lo to hi of the Raft log.
func (s *Store) CommandsIn(lo, hi uint64) (int, error) {
	n := 0
	for i := lo; i <= hi; i++ {
		var l raft.Log
		if err := s.bolt.GetLog(i, &l); err != nil {
			return 0, err
		}
		if l.Type == raft.LogCommand {
			n++
		}
	}
	return n, nil
}

// HoldApplies makes this replica apply no command until release is called
// (a follower that lags behind the leader).
func (s *Store) HoldApplies() (release func()) {
	h := make(chan struct{})
	s.fsm.hold.Store(&h)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.fsm.hold.Store(nil)
			close(h)
		})
	}
}
