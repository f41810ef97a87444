package meta

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Stale data nodes (feature level 8). A data node that makes a meta change
// waits, at most [meta] change-visibility-timeout, for every other data
// node to apply it; one that does not is marked with the change's index
// (MarkDataNodeStale, proposed by the node that waited), so that operators
// see it (palisade-ctl show) and the other nodes read from it last. The
// leader clears the mark when the node's heartbeat reports a state at
// least that new.

// markDataNodeStale sets or clears (index 0) a data node's stale_index. A
// mark never moves back to an older index; an unknown node is left alone
// (it may have been removed meanwhile).
func markDataNodeStale(d *metapb.Data, c *metapb.MarkDataNodeStale) {
	i := slices.IndexFunc(d.DataNodes, func(n *metapb.DataNode) bool { return n.Id == c.NodeId })
	if i < 0 {
		return
	}
	old := d.DataNodes[i]
	if c.Index != 0 && c.Index <= old.StaleIndex || c.Index == 0 && old.StaleIndex == 0 {
		return
	}
	dn := proto.Clone(old).(*metapb.DataNode)
	dn.StaleIndex = c.Index
	d.DataNodes = slices.Clone(d.DataNodes)
	d.DataNodes[i] = dn
}

// clearStale, on the leader, clears the mark of a data node whose
// heartbeat reports a state at least as new as the change it missed. It
// proposes in the background (a heartbeat is not held up by Raft), once at
// a time per node.
func (s *Store) clearStale(node, reported uint64) {
	d := s.Data()
	if ClusterFeatureLevel(d) < levelStaleNodes {
		return
	}
	i := slices.IndexFunc(d.DataNodes, func(n *metapb.DataNode) bool { return n.Id == node })
	if i < 0 || d.DataNodes[i].StaleIndex == 0 || reported < d.DataNodes[i].StaleIndex {
		return
	}
	if _, busy := s.clearing.LoadOrStore(node, true); busy {
		return
	}
	go func() {
		defer s.clearing.Delete(node)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cmd := &metapb.Command{Op: &metapb.Command_MarkDataNodeStale{MarkDataNodeStale: &metapb.MarkDataNodeStale{NodeId: node}}}
		if _, err := s.Execute(ctx, cmd); err != nil {
			s.log.Debug("clearing a data node's stale mark", "node", node, "err", err)
			return
		}
		s.log.Info("data node caught up with the meta changes it had missed", "node", node, "index", reported)
	}()
}
