package meta

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// pushSettings runs on every node. Each time the node becomes leader, it
// writes the node's configured defaults (Config.DefaultReplicationFactor,
// [meta] default-replication-factor) into the replicated ClusterSettings
// when they differ there, retrying until that succeeds or leadership is
// lost. It writes once per leadership, so a cluster whose meta nodes are
// configured differently follows its current leader's configuration and
// does not flap while one node leads. Shard groups and retention policies
// that exist keep their replication factor; only policies created later
// without REPLICATION take the new default.
func (s *Store) pushSettings() {
	defer s.wg.Done()
	want := s.cfg.DefaultReplicationFactor
	if want == 0 {
		return
	}
	const poll = 100 * time.Millisecond
	backoff := cluster.Backoff{Min: poll, Max: 2 * time.Second}
	failures := 0   // attempts in a row that failed during this leadership
	pending := true // this (or the next) leadership's write is not done yet
	for {
		wait := poll
		if failures > 0 {
			wait = backoff.Delay(failures - 1)
		}
		select {
		case <-s.closed:
			return
		case <-time.After(wait):
		}
		if !s.IsLeader() {
			pending, failures = true, 0
			continue
		}
		if !pending {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.pushReplicationFactor(ctx, want)
		cancel()
		if err != nil {
			s.log.Debug("writing the default replication factor into the cluster settings", "want", want, "err", err)
			failures++
			continue
		}
		pending, failures = false, 0
	}
}

// pushReplicationFactor proposes SetSettings with the default replication
// factor rf, keeping the other settings, unless the state has it already.
func (s *Store) pushReplicationFactor(ctx context.Context, rf uint32) error {
	// The state a new leader has applied may lag its log; SetSettings
	// replaces every setting, so read them only once all is applied.
	if err := s.raft.Barrier(5 * time.Second).Error(); err != nil {
		return err
	}
	cur := s.Data().GetSettings()
	if cur.GetDefaultReplicationFactor() == rf {
		return nil
	}
	next := &metapb.ClusterSettings{}
	if cur != nil {
		next = proto.Clone(cur).(*metapb.ClusterSettings)
	}
	next.DefaultReplicationFactor = rf
	if _, err := s.Execute(ctx, &metapb.Command{Op: &metapb.Command_SetSettings{SetSettings: &metapb.SetSettings{Settings: next}}}); err != nil {
		return err
	}
	s.log.Info("default replication factor set in the cluster settings", "from", cur.GetDefaultReplicationFactor(), "to", rf)
	return nil
}
