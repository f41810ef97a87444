package peer

import (
	"context"
	"sync"
	"time"

	"github.com/palisade-db/palisade/proto/datapb"
)

// Visibility makes a meta change visible through every data node before
// the node that made it answers its client ([meta]
// change-visibility-timeout): Await asks every other data node to confirm
// that it has applied the change's index, and waits for the answers, at
// most the bound. A node that does not confirm in time (stopped, cut off)
// does not hold the change up longer; it keeps itself from answering from
// an older state by confirming its state current before it serves
// (metastate.Follower.Fresh), which it does because the change waited the
// whole bound for it. So every change waits for every node that does not
// refuse the call at once (a node that is down does): one that is stopped
// costs each change the bound, until it runs again. Skipping a node that
// missed an earlier change would let a later change be answered while that
// node, caught up on the first but not the second, still trusts its state.
type Visibility struct {
	c     *Cluster
	bound time.Duration
	// late, when set, is told of the nodes that did not confirm index in
	// time (the node marks them stale in the meta state).
	late func(nodes []uint64, index uint64)

	mu     sync.Mutex
	missed map[uint64]bool // nodes that did not confirm the last change they were asked for (logged once)
}

// NewVisibility returns the Visibility of c's nodes with bound (0: changes
// are not waited for); late, when set, is told of the nodes that did not
// confirm a change in time.
func NewVisibility(c *Cluster, bound time.Duration, late func(nodes []uint64, index uint64)) *Visibility {
	return &Visibility{c: c, bound: bound, late: late, missed: map[uint64]bool{}}
}

// Await waits until every other data node of the view has applied index,
// or the bound has passed, and returns the nodes that had not confirmed.
func (v *Visibility) Await(ctx context.Context, index uint64) []uint64 {
	if v == nil || v.bound <= 0 || v.c.Peers == nil {
		return nil
	}
	self := v.c.Self()
	wctx, cancel := context.WithTimeout(ctx, v.bound)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var late []uint64
	for _, dn := range v.c.View.Data().GetDataNodes() {
		id := dn.GetId()
		if id == self || id == 0 {
			continue
		}
		wg.Go(func() {
			if !v.ask(wctx, id, index) {
				mu.Lock()
				late = append(late, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(late) > 0 && v.late != nil {
		v.late(late, index)
	}
	return late
}

// ask asks node to confirm index, within the bound, and records whether it
// did.
func (v *Visibility) ask(ctx context.Context, node, index uint64) bool {
	ctx, cancel := context.WithTimeout(ctx, v.bound)
	defer cancel()
	_, err := Call(ctx, v.c.Peers, node, datapb.DataServiceClient.AwaitMetaIndex, &datapb.AwaitMetaIndexRequest{Index: index})
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		delete(v.missed, node)
		return true
	}
	if !v.missed[node] {
		v.missed[node] = true
		v.c.Log.Warn("a data node did not confirm a meta change in time; it confirms its state before it answers again",
			"node", node, "index", index, "bound", v.bound, "err", err)
	}
	return false
}
