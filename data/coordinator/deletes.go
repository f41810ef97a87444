package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxql"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/internal/qlimit"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// Deletes in a cluster (DELETE, DROP SERIES, DROP MEASUREMENT) reach every
// data node that holds a shard of the database, ordered after the writes
// that were sent to it before: deleted points must never come back.
//
//   - Before a node gets the delete, the remote sends to it that started
//     earlier finish (delivered, or queued for hinted handoff): sendTickets.
//   - A node with points queued gets the delete queued behind them; one that
//     does not answer gets it queued too. The queue replays it in order.
//   - The delete travels as a WriteShardRequest with its delete set, for a
//     shard of the database the node owns (the queue keeps records by
//     shard); the node applies it to the whole database.

// sendTickets tracks the remote sends running to each node, so that a
// delete can wait for the sends that started before it and no others.
type sendTickets struct {
	mu      sync.Mutex
	next    map[uint64]uint64
	running map[uint64]map[uint64]struct{}
	// changed is closed (and replaced) when a send finishes while a delete
	// waits (waiting > 0): the write path allocates nothing for it.
	changed chan struct{}
	waiting int
}

func newSendTickets() *sendTickets {
	return &sendTickets{next: map[uint64]uint64{}, running: map[uint64]map[uint64]struct{}{}, changed: make(chan struct{})}
}

// take registers a send to node; call done with the ticket when it has an
// outcome (delivered, refused, or queued).
func (s *sendTickets) take(node uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.next[node]
	s.next[node] = t + 1
	if s.running[node] == nil {
		s.running[node] = map[uint64]struct{}{}
	}
	s.running[node][t] = struct{}{}
	return t
}

func (s *sendTickets) done(node, t uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running[node], t)
	if s.waiting > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// wait returns once every send to node that took its ticket before the
// call has finished, or ctx ends.
func (s *sendTickets) wait(ctx context.Context, node uint64) error {
	s.mu.Lock()
	before := s.next[node]
	s.waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		busy := false
		for t := range s.running[node] {
			busy = busy || t < before
		}
		changed := s.changed
		s.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the writes still being sent to data node %d: %w", node, ctx.Err())
		}
	}
}

// deleteTarget is where a node gets a delete: a live shard of the
// database that it owns (the last to expire, so that the purge of expired
// shards does not drop a queued delete early).
type deleteTarget struct {
	node  uint64
	shard metastate.Loc
}

// deleteTargets returns, by node, the shard of db each owner gets the
// delete through: every node that receives writes for a live shard of db.
func deleteTargets(shards []metastate.Loc) []deleteTarget {
	best := map[uint64]metastate.Loc{}
	for _, l := range shards {
		for _, o := range pmeta.WriteOwners(l.Shard) {
			if cur, ok := best[o]; !ok || l.Group.EndTime > cur.Group.EndTime {
				best[o] = l
			}
		}
	}
	out := make([]deleteTarget, 0, len(best))
	for n, l := range best {
		out = append(out, deleteTarget{node: n, shard: l})
	}
	slices.SortFunc(out, func(a, b deleteTarget) int { return cmp.Compare(a.node, b.node) })
	return out
}

// deleteEverywhere applies del to db on this node and on every other node
// that holds a shard of db. For each such node T, first every data node
// orders the delete behind what it still owes T (OrderDelete: its sends to
// T that started earlier finish, and what it has queued for T gets the
// delete queued behind it); then T gets the delete directly, or queued
// here when it does not answer. A point queued anywhere before the delete
// is thus followed by the delete in the same queue. It fails when some
// node could neither get nor queue the delete, or could not order it,
// naming them; everything else was applied. A node that does not answer is
// not asked to order it (it sends nothing while down); that is logged.
func (w *Writer) DeleteEverywhere(db string, shards []metastate.Loc, del *datapb.ShardDelete) error {
	self := w.c.Self()
	deadline := time.Now().Add(w.timeout)
	var failed []string
	localDone := false
	for _, t := range deleteTargets(shards) {
		req := &datapb.WriteShardRequest{ShardId: t.shard.Shard.Id, Database: db, RetentionPolicy: t.shard.RP,
			Delete: del, MetaIndex: w.c.View.Index(), SenderNodeId: self}
		failed = append(failed, w.orderEverywhere(t.node, req, deadline)...)
		if err := w.deliverDelete(t.node, self, req, deadline); err != nil {
			failed = append(failed, fmt.Sprintf("data node %d: %v", t.node, err))
		}
		localDone = localDone || t.node == self
	}
	if !localDone {
		// This node owns no shard of db: it may still hold old copies.
		if err := ApplyDelete(w.store, db, del); err != nil {
			failed = append(failed, fmt.Sprintf("data node %d: %v", self, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the delete did not reach every data node (the others applied it): %s", strings.Join(failed, "; "))
	}
	return nil
}

// orderEverywhere has every data node order req (a delete for target)
// behind what it owes target, in parallel; it returns what failed.
func (w *Writer) orderEverywhere(target uint64, req *datapb.WriteShardRequest, deadline time.Time) []string {
	self := w.c.Self()
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for _, dn := range w.c.View.Data().GetDataNodes() {
		wg.Go(func() {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			var err error
			if dn.Id == self {
				_, err = w.OrderDelete(ctx, target, req)
			} else {
				err = w.c.Peers.OrderDelete(ctx, dn.Id, &datapb.OrderDeleteRequest{TargetNodeId: target, Delete: req})
			}
			switch {
			case err == nil:
			case peer.Is(err, peer.ErrShardNotFound, peer.ErrNotOwner):
				// The shard left that node's meta state after this one
				// mapped the delete (dropped or expired: its queue for the
				// shard is purged), or the target no longer owns it (what
				// is queued for it there is refused): nothing to order.
			case dn.Id != self && (cluster.Unreachable(err) || errors.Is(err, peer.ErrUnknownNode)):
				// A node that is down sends nothing now; what it queued
				// before it went down is the one case a delete cannot be
				// ordered after (data/DESIGN.md, Not yet).
				w.c.Log.Warn("a delete could not be ordered on a data node that does not answer: points it queued before, "+
					"if any, may reach their owner after the delete", "node", dn.Id, "target", target, "err", err)
			default:
				mu.Lock()
				failed = append(failed, fmt.Sprintf("data node %d could not order it after its writes to data node %d: %v",
					dn.Id, target, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}

// OrderDelete waits for this node's sends to target that started before
// the call, then queues req behind what is queued for target, if anything
// is (OrderDelete).
func (w *Writer) OrderDelete(ctx context.Context, target uint64, req *datapb.WriteShardRequest) (bool, error) {
	if target != w.c.Self() {
		if err := w.tickets.wait(ctx, target); err != nil {
			return false, err
		}
	}
	if w.hints == nil || !w.hints.Pending(target) {
		return false, nil
	}
	return true, w.queueDelete(target, req)
}

// deliverDelete applies req's delete on node now (once ordered), or
// queues it here for node when node does not answer.
func (w *Writer) deliverDelete(node, self uint64, req *datapb.WriteShardRequest, deadline time.Time) error {
	if node == self {
		return ApplyDelete(w.store, req.Database, req.Delete)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := w.c.Peers.WriteShard(ctx, node, req)
	switch {
	case err == nil:
		return nil
	case peer.Permanent(err):
		return err
	}
	if qerr := w.queueDelete(node, req); qerr != nil {
		return fmt.Errorf("%v (and queueing it: %w)", err, qerr)
	}
	return nil
}

func (w *Writer) queueDelete(node uint64, req *datapb.WriteShardRequest) error {
	if w.hints == nil {
		return errors.New("hinted handoff is disabled")
	}
	payload, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	return w.hints.Enqueue(node, req.ShardId, payload)
}

// ApplyDelete applies del to db in this node's store.
func ApplyDelete(store ShardStore, db string, del *datapb.ShardDelete) error {
	if del.Measurement != "" {
		return store.DeleteMeasurement(db, del.Measurement)
	}
	sources, cond, err := ParseDelete(del)
	if err != nil {
		return err
	}
	return store.DeleteSeries(db, sources, cond)
}

// badDelete is the error of a delete that does not parse: ErrInvalid,
// permanent for its sender.
func badDelete(format string, args ...any) error {
	return peer.Errorf(peer.ErrInvalid, "data: delete does not parse: "+format, args...)
}

// ParseDelete parses del's sources and condition within the nesting limits.
func ParseDelete(del *datapb.ShardDelete) (influxql.Sources, influxql.Expr, error) {
	var sources influxql.Sources
	if del.Sources != "" {
		stmt, err := qlimit.ParseStatement("DELETE FROM " + del.Sources)
		if err != nil {
			return nil, nil, badDelete("sources %q: %v", del.Sources, err)
		}
		sources = stmt.(*influxql.DeleteSeriesStatement).Sources
	}
	var cond influxql.Expr
	if del.Condition != "" {
		var err error
		if cond, err = qlimit.ParseExpr(del.Condition); err != nil {
			return nil, nil, badDelete("condition %q: %v", del.Condition, err)
		}
	}
	return sources, cond, nil
}
