package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb"
	influxcoord "github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxdb/tsdb"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The errors a cluster write answers with when the consistency level is not
// met, with InfluxDB's texts (its clustered versions used the same words).
// The HTTP handler answers them 500 (503 for a full queue): the client should
// retry, and a retry is harmless (a point written twice is one point).
var (
	// ErrTimeout: some owners did not answer within [coordinator]
	// write-timeout and too few had acknowledged by then. The others get the
	// points through hinted handoff.
	ErrTimeout = errors.New("timeout")
	// ErrPartialWrite: fewer owners acknowledged than the consistency level
	// asks, but enough have the points, acknowledged or queued durably for
	// hinted handoff, to meet it once the queues drain.
	ErrPartialWrite = errors.New("partial write")
	// ErrWriteFailed: not even the required number of owners could be made
	// to hold the points, acknowledged or queued.
	ErrWriteFailed = errors.New("write failed")
)

// ErrHintedHandoffFull is returned (wrapped) when points for an owner that
// did not take them could not be queued for want of room: its queue's
// [hinted-handoff] max-size, the node's max-total-size or min-free-space,
// or a full disk. The write fails whatever its consistency level (the
// owner would miss the points for good); the HTTP handler answers 503 with
// Retry-After.
var ErrHintedHandoffFull = errors.New("hinted handoff queue full")

// hintedHandoffRetryAfter is what a client whose write met a full queue is
// told to wait.
const hintedHandoffRetryAfter = 10 * time.Second

// retryLater is a write error the HTTP handler answers 503 with
// Retry-After (httpd.RetryLater).
type retryLater struct {
	error
	after time.Duration
}

func (e retryLater) RetryAfter() time.Duration { return e.after }
func (e retryLater) Unwrap() error             { return e.error }

// hintQueue is what the writer needs from hinted handoff (data/hh).
type hintQueue interface {
	// Enqueue stores payload for node durably before it returns nil.
	Enqueue(node, shardID uint64, payload []byte) error
	// Pending reports whether records wait for node: new writes for it
	// then go to the queue too, so that they reach it in order.
	Pending(node uint64) bool
}

// Writer writes points to every owner of their shards: the local
// engine, and the other owners over the data service. It replaces the
// engine's coordinator.PointsWriter for /write, /api/v2/write and SELECT
// INTO; it uses that writer only to map points to shards (which creates the
// shard groups that are missing).
type Writer struct {
	c       *peer.Cluster
	mapper  *influxcoord.PointsWriter
	store   ShardStore
	hints   hintQueue // nil: no hinted handoff
	timeout time.Duration

	// sends counts the remote sends still running, some of them after
	// their write was answered: Close waits for them (they may queue).
	// closing (under sendsMu) makes later writes queue instead of sending,
	// so that no send starts once wait has begun.
	sendsMu sync.Mutex
	closing bool
	sends   sync.WaitGroup
	// tickets orders deletes after the sends that started before them.
	tickets *sendTickets

	stats writerStats
}

// NewWriter returns the writer of the cluster c: it maps points with the
// engine's mapper (which creates the missing shard groups), writes this
// node's copies to store, sends the others to their owners, and queues for
// hints (nil: none) what an owner does not take within timeout.
func NewWriter(c *peer.Cluster, mapper *influxcoord.PointsWriter, store ShardStore, hints *Hints, timeout time.Duration) *Writer {
	w := &Writer{c: c, mapper: mapper, store: store, timeout: timeout, tickets: newSendTickets()}
	if hints != nil {
		w.hints = hints
	}
	return w
}

// writerStats count the writer's work under the names of InfluxDB's
// "write" statistic.
type writerStats struct {
	req, pointReq, writeOk, writeError, writeDrop, shardWriteHH atomic.Int64
	// shardWriteHHFail: queue appends that failed (the owner misses the
	// points unless the write was refused, or the client retries).
	shardWriteHHFail atomic.Int64
}

// Statistics is the writer's "write" statistic.
func (w *Writer) Statistics() []models.Statistic {
	return []models.Statistic{{Name: "write", Values: w.stats.values()}}
}

func (s *writerStats) values() map[string]any {
	return map[string]any{"req": s.req.Load(), "pointReq": s.pointReq.Load(), "writeOk": s.writeOk.Load(),
		"writeError": s.writeError.Load(), "writeDrop": s.writeDrop.Load(), "shardWriteHH": s.shardWriteHH.Load(),
		"shardWriteHHFail": s.shardWriteHHFail.Load()}
}

// startSend registers a remote send; false once the writer is closing.
func (w *Writer) startSend() bool {
	w.sendsMu.Lock()
	defer w.sendsMu.Unlock()
	if w.closing {
		return false
	}
	w.sends.Add(1)
	return true
}

// Wait waits for the remote sends still running, at most d.
func (w *Writer) Wait(d time.Duration) {
	w.sendsMu.Lock()
	w.closing = true
	w.sendsMu.Unlock()
	done := make(chan struct{})
	go func() { w.sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		w.c.Log.Warn("remote shard writes still running at shutdown", "waited", d)
	}
}

// WritePoints implements the HTTP handler's write: user is recorded as the
// writer, as the engine does.
func (w *Writer) WritePoints(db, rp string, cl models.ConsistencyLevel, user meta.User, points []models.Point) error {
	wctx := tsdb.WriteContext{UserId: tsdb.UnknownUser}
	if user != nil {
		wctx.UserId = user.ID()
	}
	return w.write(wctx, db, rp, cl, points)
}

// WritePointsInto implements the statement executor's writer for SELECT
// INTO.
func (w *Writer) WritePointsInto(req *influxcoord.IntoWriteRequest) error {
	return w.write(tsdb.WriteContext{UserId: tsdb.SelectIntoUser}, req.Database, req.RetentionPolicy, consistencyEveryOwner, req.Points)
}

// consistencyEveryOwner is the writer's own level for SELECT INTO (and the
// continuous queries that run it): the write is answered once every owner
// has acknowledged the points or, for an owner that does not, they are
// queued durably for it. The next query, through any node, then reads
// what the statement wrote whenever every owner is up, as on a single
// node; an owner that is down does not fail the statement.
const consistencyEveryOwner models.ConsistencyLevel = 100

func (w *Writer) write(wctx tsdb.WriteContext, db, rp string, cl models.ConsistencyLevel, points []models.Point) error {
	w.stats.req.Add(1)
	w.stats.pointReq.Add(int64(len(points)))
	err := w.writeMapped(wctx, db, rp, cl, points)
	if err != nil {
		w.stats.writeError.Add(1)
	} else {
		w.stats.writeOk.Add(1)
	}
	return err
}

func (w *Writer) writeMapped(wctx tsdb.WriteContext, db, rp string, cl models.ConsistencyLevel, points []models.Point) error {
	if rp == "" {
		di := w.mapper.MetaClient.Database(db)
		if di == nil {
			return influxdb.ErrDatabaseNotFound(db)
		}
		rp = di.DefaultRetentionPolicy
	}
	// A point that its line would not carry unchanged to the other owners
	// is refused here, before any owner writes it (pointcodec.go), as the
	// engine refuses points it cannot store: the others are written.
	points, unsendable, unsendableReason := EncodablePoints(points)
	mapping, err := w.mapper.MapShards(&influxcoord.WritePointsRequest{Database: db, RetentionPolicy: rp, Points: points})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(w.timeout)
	errs := make(chan error, len(mapping.Points))
	for id, pts := range mapping.Points {
		go func() { errs <- w.writeShard(wctx, db, rp, cl, mapping.Shards[id], pts, deadline) }()
	}
	// The answer is the most urgent error: retry later (503), then a
	// field type conflict (400), then the first other one (500).
	var first error
	for range mapping.Points {
		if err := <-errs; err != nil && rank(err) > rank(first) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if len(mapping.Dropped) > 0 || unsendable > 0 {
		w.stats.writeDrop.Add(int64(len(mapping.Dropped) + unsendable))
		reason := unsendableReason
		if reason == "" {
			reason = "points beyond retention policy"
		}
		return tsdb.PartialWriteError{Reason: reason, Dropped: len(mapping.Dropped) + unsendable}
	}
	return nil
}

// rank orders write errors by which one the client should see.
func rank(err error) int {
	var later retryLater
	var pwe tsdb.PartialWriteError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &later):
		return 3
	case errors.As(err, &pwe):
		return 2
	}
	return 1
}

// required is how many owners must acknowledge for the consistency level.
func required(cl models.ConsistencyLevel, owners int) int {
	switch cl {
	case models.ConsistencyLevelAll, consistencyEveryOwner:
		return owners
	case models.ConsistencyLevelQuorum:
		return owners/2 + 1
	}
	return 1 // any, one
}

// ownerResult is one owner's outcome for one shard write.
type ownerResult struct {
	node   uint64
	acked  bool // the owner has the points
	hinted bool // queued durably for the owner
	timed  bool // the owner did not answer in time
	// lost: the owner did not take the points and queueing them for it
	// failed (a full queue, a full disk, an I/O error): it would miss them
	// for good.
	lost bool
	err  error // why it is neither acked nor hinted, or why it was hinted
	// partial: the owner acknowledged, having dropped some points (a field
	// type conflict there).
	partial *tsdb.PartialWriteError
}

// writeShard writes one shard's points to its owners. It returns once the
// local write (if this node is an owner) has finished and either enough
// owners have acknowledged for cl or every owner has an outcome. Remote
// sends that are still running go on with their own copy of the points
// and queue them if they fail.
func (w *Writer) writeShard(wctx tsdb.WriteContext, db, rp string, cl models.ConsistencyLevel, sh *meta.ShardInfo, points []models.Point, deadline time.Time) error {
	self := w.c.Self()
	owners := make([]uint64, 0, len(sh.Owners))
	local := false
	for _, o := range sh.Owners {
		if o.NodeID == self {
			local = true
		} else {
			owners = append(owners, o.NodeID)
		}
	}
	if len(owners) == 0 && !local {
		return fmt.Errorf("%w: shard %d has no owner", ErrWriteFailed, sh.ID)
	}
	total := len(owners)
	if local {
		total++
	}
	need := required(cl, total)

	results := make(chan ownerResult, total)
	// encode makes the copy of the points that remote owners and the
	// queues get, once. It runs before the local write returns: the points
	// may not be referenced afterwards.
	var cp *shardCopy
	encode := func() (*shardCopy, error) {
		if cp != nil {
			return cp, nil
		}
		req := &datapb.WriteShardRequest{
			ShardId: sh.ID, Database: db, RetentionPolicy: rp,
			Points: EncodePoints(nil, points), MetaIndex: w.c.View.Index(), SenderNodeId: self,
		}
		payload, err := proto.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("%w: encoding shard %d: %v", ErrWriteFailed, sh.ID, err)
		}
		cp = &shardCopy{req: req, payload: payload}
		return cp, nil
	}
	if len(owners) > 0 {
		c, err := encode()
		if err != nil {
			return err
		}
		for _, n := range owners {
			// An owner that already has points queued gets these queued
			// too, behind them and at once (no send): writes reach it in
			// order, and a node that is down costs a queue append instead
			// of a timeout per write. Done here, before the local write,
			// so that a full queue is known before the write can return.
			if w.hints != nil && w.hints.Pending(n) || !w.startSend() {
				results <- w.hint(n, sh.ID, c.payload, false, nil)
				continue
			}
			ticket := w.tickets.take(n)
			go func() {
				defer w.sends.Done()
				defer w.tickets.done(n, ticket)
				results <- w.send(n, c.req, c.payload, deadline)
			}()
		}
	}
	var localErr error
	if local {
		localErr = w.writeLocal(db, rp, sh.ID, points, results, encode)
	}
	return w.collect(cl, sh.ID, total, need, results, localErr)
}

// writeLocal writes this node's copy, synchronously (the points may not be
// referenced once the write returns), and sends its outcome to results.
// While this node has points of its own queued (an earlier local write
// failed), the points are queued behind them instead, so that a replay
// never overwrites a newer write. A failed local write (not a field type
// conflict) is queued for this node like for a peer that did not answer:
// the replay comes back through this node's data service.
func (w *Writer) writeLocal(db, rp string, shardID uint64, points []models.Point, results chan<- ownerResult, encode func() (*shardCopy, error)) error {
	self := w.c.Self()
	if w.hints != nil && w.hints.Pending(self) {
		c, err := encode()
		if err != nil {
			results <- ownerResult{node: self, err: err}
			return err
		}
		results <- w.hint(self, shardID, c.payload, false, nil)
		return nil
	}
	err := WriteLocalShard(w.store, db, rp, shardID, points, w.c.Shards.Exists)
	if errors.Is(err, tsdb.ErrShardDeletion) {
		// As InfluxDB answers it.
		err = tsdb.PartialWriteError{Reason: fmt.Sprintf("shard %d is pending deletion", shardID), Dropped: len(points)}
	}
	var pwe tsdb.PartialWriteError
	switch {
	case err == nil:
		results <- ownerResult{node: self, acked: true}
	case errors.As(err, &pwe) || errors.Is(err, ErrShardGone) || w.hints == nil:
		results <- ownerResult{node: self, err: err}
	default:
		c, eerr := encode()
		if eerr != nil {
			results <- ownerResult{node: self, err: err}
			return err
		}
		w.c.Log.Warn("local shard write failed; queued for replay", "shard", shardID, "err", err)
		results <- w.hint(self, shardID, c.payload, false, err)
	}
	return err
}

// shardCopy is one shard's points encoded for a peer or a queue.
type shardCopy struct {
	req     *datapb.WriteShardRequest
	payload []byte
}

// collect waits for owner outcomes until need acknowledgements (for
// consistency any, durable hints count too) or all outcomes are in, and
// turns them into the write's answer.
//
// An owner whose points could be neither written nor queued (lost) fails
// the write whatever the consistency level and however many owners
// acknowledged: the answer would otherwise acknowledge points that an
// owner never gets (there is no anti-entropy to repair it). A full queue or
// disk is 503 with Retry-After, any other failure 500. Outcomes already in
// when the level is met are checked too, so that a queue append that failed
// before the answer (an owner with records pending is queued for at once)
// always fails it; a send that fails after the write was answered (its
// owner timed out later) can only be logged and counted.
func (w *Writer) collect(cl models.ConsistencyLevel, shardID uint64, total, need int, results <-chan ownerResult, localErr error) error {
	// A field type conflict (or a shard pending deletion) is the client's
	// answer whatever the other owners say, as on a single InfluxDB: the
	// local write has finished before collect runs.
	var pwe tsdb.PartialWriteError
	if errors.As(localErr, &pwe) {
		return localErr
	}
	var acked, hinted int
	var timedOut bool
	var firstErr error
	var partial *tsdb.PartialWriteError // the first owner's that dropped points
	done := func() error {
		if partial != nil {
			return *partial
		}
		return nil
	}
	for i := range total {
		r := <-results
		switch {
		case r.lost:
			return lostError(shardID, r)
		case r.acked:
			acked++
			if partial == nil {
				partial = r.partial
			}
		case r.hinted:
			hinted++
			timedOut = timedOut || r.timed
		default:
			if firstErr == nil {
				firstErr = r.err
			}
		}
		if acked >= need || ((cl == models.ConsistencyLevelAny || cl == consistencyEveryOwner) && acked+hinted >= need) {
			for range total - i - 1 {
				select {
				case r := <-results:
					if r.lost {
						return lostError(shardID, r)
					}
					if partial == nil {
						partial = r.partial
					}
				default:
					return done()
				}
			}
			return done()
		}
	}
	switch {
	case cl == consistencyEveryOwner && acked > 0:
		return done() // an owner refused for good (logged): the others have the points, as with one
	case timedOut:
		return ErrTimeout
	case acked+hinted >= need:
		return fmt.Errorf("%w: shard %d: %d of %d owners acknowledged (consistency %s needs %d); the others get the points by hinted handoff",
			ErrPartialWrite, shardID, acked, total, consistencyName(cl), need)
	}
	return fmt.Errorf("%w: shard %d: %v", ErrWriteFailed, shardID, firstErr)
}

// lostError is the answer to a write for which r's owner got the points
// neither directly nor queued.
func lostError(shardID uint64, r ownerResult) error {
	if errors.Is(r.err, ErrHintedHandoffFull) {
		return retryLater{fmt.Errorf("shard %d: %w", shardID, r.err), hintedHandoffRetryAfter}
	}
	return fmt.Errorf("%w: shard %d: data node %d did not take the points and queueing them for it failed: %v",
		ErrWriteFailed, shardID, r.node, r.err)
}

// send delivers one shard's points to a remote owner, or queues them for
// it when it does not answer.
func (w *Writer) send(node uint64, req *datapb.WriteShardRequest, payload []byte, deadline time.Time) ownerResult {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := w.c.Peers.WriteShard(ctx, node, req)
	timedOut := ctx.Err() != nil
	cancel()
	if err == nil {
		return ownerResult{node: node, acked: true}
	}
	if reason, dropped, ok := peer.PartialWrite(err); ok {
		// The owner wrote the points it could take (as the engine does
		// here): it has the shard's points, and the client hears why some
		// were dropped.
		return ownerResult{node: node, acked: true, partial: &tsdb.PartialWriteError{Reason: reason, Dropped: dropped}}
	}
	if peer.Permanent(err) {
		w.c.Log.Warn("shard write refused by its owner", "shard", req.ShardId, "node", node, "err", err)
		return ownerResult{node: node, err: err}
	}
	return w.hint(node, req.ShardId, payload, timedOut, err)
}

// hint queues payload for node.
func (w *Writer) hint(node, shardID uint64, payload []byte, timedOut bool, cause error) ownerResult {
	if w.hints == nil {
		if cause == nil {
			cause = errors.New("hinted handoff is disabled")
		}
		return ownerResult{node: node, err: cause}
	}
	if err := w.hints.Enqueue(node, shardID, payload); err != nil {
		// The write fails if it has not been answered yet (collect); if it
		// has, only this line and the counter tell.
		w.stats.shardWriteHHFail.Add(1)
		w.c.Log.Error("queueing points for hinted handoff failed", "shard", shardID, "node", node, "err", err)
		return ownerResult{node: node, lost: true, err: err}
	}
	w.stats.shardWriteHH.Add(1)
	return ownerResult{node: node, hinted: true, timed: timedOut, err: cause}
}

func consistencyName(cl models.ConsistencyLevel) string {
	switch cl {
	case models.ConsistencyLevelAny:
		return "any"
	case models.ConsistencyLevelQuorum:
		return "quorum"
	case models.ConsistencyLevelAll:
		return "all"
	case consistencyEveryOwner:
		return "every owner, or queued for it"
	}
	return "one"
}
