package hh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-db/palisade/internal/dirlock"
)

// Errors of Enqueue.
var (
	// ErrQueueFull: there is no room for the record. Every such refusal is
	// a *FullError, which says which limit the record met.
	ErrQueueFull = errors.New("hinted handoff queue full")
	ErrClosed    = errors.New("hh: service closed")
	// ErrRecordTooLarge: the payload exceeds MaxPayload.
	ErrRecordTooLarge = errors.New("hh: record too large")
)

// The limits a record can meet (FullError.Limit).
const (
	LimitMaxSize      = "max-size"       // its destination's queue holds Config.MaxSize
	LimitMaxTotalSize = "max-total-size" // all queues together hold Config.MaxTotalSize
	LimitMinFreeSpace = "min-free-space" // it would leave less than Config.MinFreeSpace free
	LimitDisk         = "disk"           // the filesystem refused it (no space left, or a quota)
)

// FullError is a record refused for want of room: nothing of it was kept.
// errors.Is(err, ErrQueueFull) holds.
type FullError struct {
	Node  uint64 // the destination
	Limit string // one of the Limit constants
	// Detail says how full, in words fit for a client's error message (no
	// paths).
	Detail string
	Err    error // the filesystem's error, for LimitDisk
}

func (e *FullError) Error() string        { return ErrQueueFull.Error() + ": " + e.Detail }
func (e *FullError) Is(target error) bool { return target == ErrQueueFull }
func (e *FullError) Unwrap() error        { return e.Err }

// Record is one queued write to one shard.
type Record struct {
	ShardID  uint64
	Enqueued time.Time
	Payload  []byte
}

// Sender delivers queued records. Send delivers one record's payload to
// node; it is called from one goroutine per node, one record at a time, in
// the order the records were enqueued, with a context that is cancelled when
// the Service closes (Send should also bound its own wait). r.Payload is
// Send's to keep but not to modify: the same slice is sent again on a retry.
//
//   - nil: delivered; the record leaves the queue.
//   - an error wrapped by Permanent (see IsPermanent): the record can never
//     be delivered (say, the node no longer owns the shard); it is dropped
//     and counted in NodeStats.Undeliverable.
//   - any other error: the node's replay stops and retries the same record
//     after RetryInterval, doubling up to RetryMaxInterval, or at once after
//     Kick.
type Sender interface {
	Send(ctx context.Context, node uint64, r Record) error
}

// BatchSender is a Sender that can deliver several consecutive records of
// one destination in one call, in order. When the Sender given to Open is a
// BatchSender, replay calls SendBatch (never Send) with up to 64 records
// whose payloads make at most Config.ReplayBatchBytes plus one record
// (always at least one record). The rules of Send apply: one goroutine per
// node, one call at a time; records and their payloads are SendBatch's to
// keep but not to modify (the records not delivered are sent again).
//
// SendBatch returns how many of the records (a prefix) were delivered, and
// the error that stopped it (nil when all were):
//
//   - a Permanent error applies to records[delivered] only: that record is
//     dropped and counted in NodeStats.Undeliverable, and replay goes on at
//     once with the records after it;
//   - any other error: the records from records[delivered] on are retried,
//     with the backoff of Send.
//
// A delivered count out of range is clamped; a count short of len(records)
// with a nil error is taken as a transient failure.
type BatchSender interface {
	Sender
	SendBatch(ctx context.Context, node uint64, records []Record) (delivered int, err error)
}

// errShortBatch: SendBatch returned fewer records than it was given, and no
// error.
var errShortBatch = errors.New("hh: SendBatch delivered part of the records without an error")

// PermanentError marks a Send error after which the record can never be
// delivered. Wrap with Permanent, test with IsPermanent (errors.As).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err in a *PermanentError (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err wraps a *PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// NodeStats describes one destination's queue. The counters count since
// Open.
type NodeStats struct {
	Node      uint64
	Records   int64         // waiting for delivery (not counting purged shards' records)
	Bytes     int64         // on disk between the read position and the tail
	OldestAge time.Duration // age of the oldest waiting record
	Dropped   uint64        // older than MaxAge
	Corrupt   uint64        // failed their CRC or framing; never sent
	// Undeliverable: Send returned a permanent error.
	Undeliverable uint64
	Delivered     uint64
	Purged        uint64 // records of shards dropped by Purge
}

// Service holds one durable queue per destination node and replays each to
// its node. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	sender Sender
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{} // RetryConcurrency slots
	wg     sync.WaitGroup

	lock *dirlock.Lock // Dir's: no other process (or Service) uses it
	// total is the bytes of records of every queue (the sum of their
	// bytes); an append reserves its frame here before it writes.
	total atomic.Int64

	mu        sync.Mutex
	queues    map[uint64]*queue
	closed    bool
	keepNode  func(uint64) bool
	keepShard func(uint64) bool
}

// Open opens every queue under cfg.Dir (creating it), recovering each: a
// torn tail left by a crash is truncated, corrupt records are skipped when
// replay reaches them. It starts replaying every queue that holds records.
// It locks cfg.Dir (internal/dirlock) until Close, unless cfg.DirLocked: a
// directory that another process or Service holds is refused with a
// *dirlock.InUseError naming the holder, since two services replaying one
// queue send its records twice to the wrong nodes and collide creating its
// segments.
func Open(cfg Config, s Sender) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("hh: nil Sender")
	}
	var lock *dirlock.Lock // nil: Release does nothing
	if cfg.DirLocked {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("hh: %w", err)
		}
	} else if lock, err = dirlock.Acquire(cfg.Dir, "[hinted-handoff] dir"); err != nil {
		return nil, fmt.Errorf("hh: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc := &Service{
		cfg: cfg, sender: s, ctx: ctx, cancel: cancel, lock: lock,
		sem:    make(chan struct{}, cfg.RetryConcurrency),
		queues: map[uint64]*queue{},
	}
	logger := cfg.Logger.With("component", "hh")
	svc.log = logger
	svc.cfg.Logger = logger

	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		cancel()
		lock.Release()
		return nil, fmt.Errorf("hh: %w", err)
	}
	for _, e := range entries {
		node, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() || strconv.FormatUint(node, 10) != e.Name() {
			continue
		}
		q, err := openQueue(svc, node, filepath.Join(cfg.Dir, e.Name()))
		if err != nil {
			svc.Close()
			return nil, fmt.Errorf("hh: opening the queue of node %d: %w", node, err)
		}
		svc.start(q)
	}
	svc.wg.Add(1)
	go svc.purgeLoop()
	return svc, nil
}

func (s *Service) start(q *queue) {
	s.queues[q.node] = q
	go q.run()
}

// queue returns node's queue, creating it when create is set (nil, nil
// when it does not exist and create is not set).
func (s *Service) queue(node uint64, create bool) (*queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if q := s.queues[node]; q != nil || !create {
		return q, nil
	}
	q, err := openQueue(s, node, filepath.Join(s.cfg.Dir, strconv.FormatUint(node, 10)))
	if err != nil {
		return nil, err
	}
	s.start(q)
	return q, nil
}

// Enqueue appends a write for node's shard to node's queue and returns nil
// once it is durable (fsync'd; concurrent calls share fsyncs). It returns a
// *FullError (errors.Is ErrQueueFull) when the record does not fit: node's
// queue would exceed MaxSize, all queues MaxTotalSize, the filesystem would
// keep less than MinFreeSpace free, or the filesystem has no room; and
// ErrClosed after Close. It never blocks longer than the disk does. Any
// error means that nothing of the record was kept.
func (s *Service) Enqueue(node, shardID uint64, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrRecordTooLarge, len(payload), MaxPayload)
	}
	if margin := s.cfg.MinFreeSpace.Int64(); margin > 0 {
		// Checked before the lock and without a reservation: appends that
		// run at once may each pass, and take the margin down by a few
		// records at most.
		if avail, ok := freeSpace(s.cfg.Dir); ok && avail-frameSize(len(payload)) < margin {
			return &FullError{Node: node, Limit: LimitMinFreeSpace,
				Detail: fmt.Sprintf("%d bytes free on the disk of the queues (min-free-space %d)", avail, margin)}
		}
	}
	q, err := s.queue(node, true)
	if err == nil {
		err = q.append(shardID, payload)
	}
	if err != nil && !errors.Is(err, ErrQueueFull) {
		if errno, ok := noSpace(err); ok {
			return &FullError{Node: node, Limit: LimitDisk, Detail: errno.Error(), Err: err}
		}
	}
	return err
}

// reserve adds n bytes to the total unless that would pass MaxTotalSize.
func (s *Service) reserve(n int64) (total int64, ok bool) {
	limit := s.cfg.MaxTotalSize.Int64()
	for {
		cur := s.total.Load()
		if limit > 0 && cur+n > limit {
			return cur, false
		}
		if s.total.CompareAndSwap(cur, cur+n) {
			return cur + n, true
		}
	}
}

// TotalBytes returns the bytes of records of all queues together (what
// MaxTotalSize bounds).
func (s *Service) TotalBytes() int64 { return s.total.Load() }

// Pending reports whether records wait for node.
func (s *Service) Pending(node uint64) bool {
	q, _ := s.queue(node, false)
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.records > 0
}

// PendingShard reports whether records of shardID wait for node: until they
// are delivered, node's copy of the shard lacks them.
func (s *Service) PendingShard(node, shardID uint64) bool {
	q, _ := s.queue(node, false)
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shards[shardID] > 0
}

// Kick retries node's queue now, instead of after the remaining backoff:
// call it when the node answers again.
func (s *Service) Kick(node uint64) {
	if q, _ := s.queue(node, false); q != nil {
		signal(q.kick)
	}
}

// SetPurgeFilter sets the functions that every PurgeInterval's purge passes
// to Purge (nil: keep every node, or every shard).
func (s *Service) SetPurgeFilter(keepNode func(uint64) bool, keepShard func(uint64) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepNode, s.keepShard = keepNode, keepShard
}

// Purge deletes the queues of nodes for which keepNode returns false (the
// node left the cluster), and drops the records of shards for which
// keepShard returns false (the shard was deleted): they stop counting as
// pending at once and are skipped, never sent, when replay reaches them.
// Either function may be nil. It also applies MaxAge to queues whose node
// does not answer. The functions are called without locks held.
// Dropped shards are remembered in memory: after a restart, the next purge
// drops them again.
func (s *Service) Purge(keepNode func(uint64) bool, keepShard func(uint64) bool) {
	s.mu.Lock()
	qs := make([]*queue, 0, len(s.queues))
	for _, q := range s.queues {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	for _, q := range qs {
		if keepNode != nil && !keepNode(q.node) {
			s.remove(q)
			continue
		}
		if keepShard != nil {
			q.dropShards(keepShard)
		}
		signal(q.purge)
	}
}

// remove stops node q's replay and deletes its queue.
func (s *Service) remove(q *queue) {
	s.mu.Lock()
	if s.closed || s.queues[q.node] != q {
		s.mu.Unlock()
		return
	}
	delete(s.queues, q.node)
	s.mu.Unlock()
	q.cancel()
	<-q.done
	st := q.snapshot(s.cfg.Now())
	q.mu.Lock()
	q.addBytesLocked(-q.bytes)
	q.mu.Unlock()
	if err := errors.Join(q.close(), os.RemoveAll(q.dir)); err != nil {
		q.log.Error("hinted handoff: removing the queue of a removed node", "err", err)
		return
	}
	q.log.Warn("hinted handoff: node removed from the cluster, queue deleted",
		"records", st.Records, "bytes", st.Bytes)
}

// dropShards drops the queued records of the shards keepShard rejects.
func (q *queue) dropShards(keepShard func(uint64) bool) {
	q.mu.Lock()
	shards := make([]uint64, 0, len(q.shards))
	for id := range q.shards {
		shards = append(shards, id)
	}
	q.mu.Unlock()
	var gone []uint64
	for _, id := range shards {
		if !keepShard(id) {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	q.mu.Lock()
	var n int64
	for _, id := range gone {
		c := q.shards[id]
		q.countLocked(id, -c)
		q.dropped[id] = true
		n += c
	}
	q.stats.Purged += uint64(n)
	q.changedLocked()
	q.mu.Unlock()
	q.log.Info("hinted handoff: dropped the queued records of deleted shards", "shards", gone, "records", n)
}

func (s *Service) purgeLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Duration(s.cfg.PurgeInterval))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		keepNode, keepShard := s.keepNode, s.keepShard
		s.mu.Unlock()
		s.Purge(keepNode, keepShard)
	}
}

// Stats returns every queue's statistics, by node ID.
func (s *Service) Stats() []NodeStats {
	s.mu.Lock()
	qs := make([]*queue, 0, len(s.queues))
	for _, q := range s.queues {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]NodeStats, 0, len(qs))
	for _, q := range qs {
		out = append(out, q.snapshot(now))
	}
	slices.SortFunc(out, func(a, b NodeStats) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out
}

// Drain waits until node's queue is empty: every record delivered, dropped
// or skipped. It returns ctx's error if ctx ends first.
func (s *Service) Drain(ctx context.Context, node uint64) error {
	q, err := s.queue(node, false)
	if q == nil {
		return err
	}
	for {
		q.mu.Lock()
		empty, changed := q.bytes == 0, q.changed
		q.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-q.done:
			return ErrClosed
		case <-changed:
		}
	}
}

// Close stops replay (an in-flight Send sees its context cancelled; its
// record stays queued) and closes the queues, saving their read positions.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	qs := s.queues
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	var errs []error
	for _, q := range qs {
		<-q.done
		errs = append(errs, q.close())
	}
	errs = append(errs, s.lock.Release())
	return errors.Join(errs...)
}
