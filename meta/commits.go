package meta

import (
	"runtime"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// commitNoticeTimeout bounds the wait for one commit notice.
	commitNoticeTimeout = 2 * time.Second
)

// notify wakes the goroutine that waits on ch (capacity 1) without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// noticeCommits tells the followers at once of each commit this node makes
// as leader, so that their state (and the data nodes that follow them)
// has a change within a round trip of its acknowledgement.
//
// A follower applies an entry only when it learns that the entry is
// committed, which it hears from the leader's next AppendEntries.
// hashicorp/raft sends one when it has new entries or after commit-timeout
// (default 50 ms; heartbeats carry no commit index), so without a notice a
// change reached a follower 50 to 100 ms after the leader acknowledged it
// (issue 20). etcd's raft sends an empty append when its commit index
// moves; here the notice is a barrier: a log entry (applied by no state
// machine) whose append makes the leader send AppendEntries to every
// follower at once, carrying the commit index that the change reached.
//
// It costs at most one log entry per change and nothing while idle: changes
// that commit while a notice is in flight share the next one, and a
// command already being proposed when the notice is due (a serial
// proposer's next one, often) makes it unneeded, since its append carries the commit
// index and its own commit is noticed in turn. A single meta node has no
// one to tell.
func (s *Store) noticeCommits() {
	defer s.wg.Done()
	for {
		select {
		case <-s.closed:
			return
		case <-s.committed:
		}
		// A command proposed meanwhile tells the followers as well: its
		// append carries the commit index, and its own commit wakes this
		// loop again. Letting the proposers run first spares a serial
		// proposer most barriers between its commands. (Not a sleep: one
		// shorter than a millisecond is one when the process is idle.)
		runtime.Gosched()
		if s.applying.Load() > 0 || s.raft.State() != raft.Leader || !s.hasPeers() {
			continue
		}
		// The outcome does not matter: a notice that fails (leadership
		// lost, shutdown) leaves the followers to commit-timeout, as
		// before.
		_ = s.raft.Barrier(commitNoticeTimeout).Error()
	}
}

// hasPeers reports whether the Raft configuration has a server besides
// this one.
func (s *Store) hasPeers() bool {
	f := s.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 1
}
