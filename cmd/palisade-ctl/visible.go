package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// A change made through palisade-ctl goes to the meta nodes, past every data
// node. So that the next request through any data node sees it (a revoked
// privilege no longer works, a new user logs in), as one made through a data
// node, the command returns once every data node heard from lately reports
// the change in its heartbeat (every half second by default), or
// visibleWait has passed. A node that has not by then checks with the meta
// cluster before it answers again (data nodes' [meta]
// change-visibility-timeout).
const (
	visibleWait = 3 * time.Second
	// visibleLately: a data node whose last heartbeat is older is taken to
	// be down, and not waited for.
	visibleLately = 5 * time.Second
	visiblePoll   = 100 * time.Millisecond
)

// awaitDataNodes waits until every data node heard from lately reports the
// meta state at index, at most visibleWait, and warns about those that do
// not.
func (x *call) awaitDataNodes(ctx context.Context, c *meta.Client, index uint64) {
	deadline := time.Now().Add(visibleWait)
	for {
		pending, err := x.pendingDataNodes(ctx, c, index)
		if err != nil || len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			x.warnf("the change (meta index %d) is not confirmed by data node %s yet; each checks with the meta "+
				"cluster before it answers again", index, joinIDs(pending))
			return
		}
		select {
		case <-time.After(visiblePoll):
		case <-ctx.Done():
		}
	}
}

// pendingDataNodes returns the data nodes heard from lately whose last
// heartbeat, as the meta leader saw it, reports a state older than index.
func (x *call) pendingDataNodes(ctx context.Context, c *meta.Client, index uint64) ([]uint64, error) {
	data, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var leader *metapb.StatusResponse
	for _, m := range data.MetaNodes {
		if st, err := x.nodeStatus(ctx, c, m.RpcAddr); err == nil && st.State == "Leader" {
			leader = st
			break
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("no meta leader")
	}
	now := time.Now()
	var pending []uint64
	for _, n := range data.DataNodes {
		seen := leader.DataNodeLastSeen[n.Id]
		if seen == 0 || now.Sub(time.Unix(0, seen)) > visibleLately {
			continue
		}
		if r := leader.DataNodeReports[n.Id]; r == nil || r.MetaIndex < index {
			pending = append(pending, n.Id)
		}
	}
	slices.Sort(pending)
	return pending, nil
}

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
