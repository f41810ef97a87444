package hh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"
)

// positionSaveInterval bounds how often a busy replay saves its read
// position; an idle queue saves it at once. After a crash, at most this much
// replay is sent again.
const positionSaveInterval = 100 * time.Millisecond

// replayBatchRecords bounds the records of one SendBatch call;
// maxWindowItems bounds the window's entries of any kind (a long stretch of
// corrupt frames holds no payload but must not grow it without end).
const (
	replayBatchRecords = 64
	maxWindowItems     = 4 * replayBatchRecords
)

// outcome is what happened to a record that left the queue.
type outcome uint8

const (
	delivered outcome = iota
	undeliverable
	expired
	purged
)

// itemKind tells what a window entry is.
type itemKind uint8

const (
	itemRecord     itemKind = iota
	itemCorrupt             // bytes that do not check: counted, skipped, never sent
	itemSegmentEnd          // the end of a complete segment: the head moves to the next
)

// item is one entry of the replay window, the part of the queue between the
// head and the read position that run has read but not consumed.
type item struct {
	kind  itemKind
	rec   Record   // itemRecord
	n     int64    // bytes on disk (itemRecord, itemCorrupt)
	at    position // where it starts
	shard *uint64  // itemCorrupt: the frame's shard, when its length could be trusted
	why   error    // itemCorrupt
	next  uint64   // itemSegmentEnd: the segment after it
}

// run replays the queue to its node, in order, until the queue is closed.
// It reads a window of records ahead of the head (one record for a plain
// Sender; up to ReplayBatchBytes or replayBatchRecords for a BatchSender),
// sends the window's records that are still due in one call, and consumes
// the window, in order, up to what was delivered.
func (q *queue) run() {
	defer close(q.done)
	cfg := &q.svc.cfg
	batcher, _ := q.svc.sender.(BatchSender)
	maxRecs, maxBytes := 1, int64(0)
	if batcher != nil {
		// Under a rate limit, a batch is at most one second of it: the
		// limiter then spaces batches as it spaces records.
		maxRecs, maxBytes = replayBatchRecords, cfg.ReplayBatchBytes
		if cfg.RetryRateLimit > 0 {
			maxBytes = min(maxBytes, cfg.RetryRateLimit.Int64())
		}
	}
	q.rd = q.head
	backoff := time.Duration(cfg.RetryInterval)
	var (
		retryAt  time.Time
		failures int
		expiredN int
	)
	reportExpired := func() {
		if expiredN > 0 {
			q.log.Warn("hinted handoff: dropped records older than max-age", "records", expiredN, "max_age", cfg.MaxAge)
			expiredN = 0
		}
	}
	for q.ctx.Err() == nil {
		if err := q.fill(maxRecs, maxBytes); err != nil {
			q.log.Error("hinted handoff: reading the queue", "err", err)
			if len(q.window) == 0 {
				q.sleep(backoff)
				continue
			}
		}
		fate := q.classify()
		// Pass what leads the window and is not to be sent (corrupt
		// stretches, segment ends, records of purged shards or older than
		// max-age), then read further.
		lead := 0
		for lead < len(q.window) && (q.window[lead].kind != itemRecord || fate[lead] != delivered) {
			lead++
		}
		if lead > 0 {
			expiredN += q.consumeFront(lead, fate)
			continue
		}
		if len(q.window) == 0 {
			reportExpired()
			q.releaseDrained()
			if err := q.savePosition(); err != nil {
				q.log.Error("hinted handoff: saving the read position", "err", err)
			}
			select {
			case <-q.ctx.Done():
			case <-q.wake:
			case <-q.purge:
			case <-q.kick:
			}
			continue
		}
		reportExpired()

		if d := time.Until(retryAt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-q.ctx.Done():
			case <-q.kick:
				retryAt, backoff = time.Time{}, time.Duration(cfg.RetryInterval)
			case <-q.purge: // check max-age and dropped shards again
			case <-t.C:
			}
			t.Stop()
			continue
		}

		var idx []int // window indexes of the records sent
		var recs []Record
		for i, it := range q.window {
			if it.kind == itemRecord && fate[i] == delivered {
				idx = append(idx, i)
				recs = append(recs, it.rec)
			}
		}
		n, err := q.send(batcher, recs)
		if n > 0 {
			backoff = time.Duration(cfg.RetryInterval)
			if failures > 0 {
				q.log.Info("hinted handoff: node answers again", "failed_attempts", failures)
				failures = 0
			}
		}
		if err == nil {
			expiredN += q.consumeFront(idx[n-1]+1, fate)
			continue
		}
		failed := &q.window[idx[n]]
		switch {
		case IsPermanent(err):
			q.log.Warn("hinted handoff: record can never be delivered, dropped", "shard", failed.rec.ShardID, "err", err)
			fate[idx[n]] = undeliverable
			expiredN += q.consumeFront(idx[n]+1, fate)
		case q.ctx.Err() != nil:
			// Closing: the records not delivered stay; they may have
			// arrived (at-least-once).
			expiredN += q.consumeFront(idx[n], fate)
		default:
			expiredN += q.consumeFront(idx[n], fate)
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			q.log.Log(q.ctx, level, "hinted handoff: delivery failed, will retry", "err", err, "retry_in", backoff)
			retryAt = time.Now().Add(backoff)
			backoff = min(2*backoff, time.Duration(cfg.RetryMaxInterval))
		}
	}
}

// sleep waits d or until the queue closes or is kicked.
func (q *queue) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-q.ctx.Done():
	case <-q.kick:
	case <-t.C:
	}
}

// send delivers recs (at least one) within the rate limit and the
// service's retry-concurrency: through SendBatch when batcher is set, else
// the one record through Send. It returns how many records were delivered,
// and an error when that is fewer than len(recs).
func (q *queue) send(batcher BatchSender, recs []Record) (int, error) {
	var bytes int
	for _, r := range recs {
		bytes += len(r.Payload)
	}
	if err := q.limiter.wait(q.ctx, bytes); err != nil {
		return 0, err
	}
	select {
	case q.svc.sem <- struct{}{}:
	case <-q.ctx.Done():
		return 0, q.ctx.Err()
	}
	defer func() { <-q.svc.sem }()
	if batcher == nil {
		if err := q.svc.sender.Send(q.ctx, q.node, recs[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	n, err := batcher.SendBatch(q.ctx, q.node, recs)
	n = min(max(n, 0), len(recs))
	switch {
	case n == len(recs):
		return n, nil
	case err == nil:
		return n, errShortBatch
	}
	return n, err
}

// classify returns, for each record of the window, whether it is to be sent
// (delivered) or passed: its shard was purged, or it is older than max-age.
func (q *queue) classify() []outcome {
	fate := make([]outcome, len(q.window))
	now := q.svc.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.window {
		switch {
		case it.kind != itemRecord:
		case q.dropped[it.rec.ShardID]:
			fate[i] = purged
		case now.Sub(it.rec.Enqueued) > time.Duration(q.svc.cfg.MaxAge):
			fate[i] = expired
		}
	}
	return fate
}

// fill reads entries after the window's last until the window holds
// maxRecs records, or records of maxBytes of payload or more (0: no byte
// limit), or nothing more is readable.
func (q *queue) fill(maxRecs int, maxBytes int64) error {
	var recs int
	var bytes int64
	for _, it := range q.window {
		if it.kind == itemRecord {
			recs++
			bytes += int64(len(it.rec.Payload))
		}
	}
	for q.ctx.Err() == nil && recs < maxRecs && (maxBytes <= 0 || bytes < maxBytes) && len(q.window) < maxWindowItems {
		it, ok, err := q.read()
		if err != nil || !ok {
			return err
		}
		q.window = append(q.window, it)
		if it.kind == itemRecord {
			recs++
			bytes += int64(len(it.rec.Payload))
		}
	}
	q.noteHeadTime()
	return nil
}

// noteHeadTime records the enqueue time of the window's first record as
// the queue's oldest.
func (q *queue) noteHeadTime() {
	for _, it := range q.window {
		if it.kind == itemRecord {
			q.mu.Lock()
			q.headTime = it.rec.Enqueued
			q.mu.Unlock()
			return
		}
	}
}

// consumeFront moves the head past the window's first n entries, in order:
// records with their fate, corrupt stretches, segment ends. It returns how
// many records it dropped for their age.
func (q *queue) consumeFront(n int, fate []outcome) (expiredN int) {
	for i := range n {
		it := &q.window[i]
		switch it.kind {
		case itemCorrupt:
			q.skipCorrupt(it)
		case itemSegmentEnd:
			if err := q.finishSegment(it.next); err != nil {
				q.log.Error("hinted handoff: saving the read position", "err", err)
			}
		case itemRecord:
			if fate[i] == expired {
				expiredN++
			}
			q.consume(&it.rec, it.n, fate[i])
		}
	}
	q.window = slices.Delete(q.window, 0, n)
	q.noteHeadTime()
	return expiredN
}

// limitLocked returns how far segment id may be read, whether it is
// complete (no more appends), and the segment after it if any.
func (q *queue) limitLocked(id uint64) (limit int64, complete bool, next uint64, hasNext, exists bool) {
	i, found := slices.BinarySearchFunc(q.segs, id, func(s segment, id uint64) int {
		switch {
		case s.id < id:
			return -1
		case s.id > id:
			return 1
		}
		return 0
	})
	if !found {
		return 0, false, 0, false, false
	}
	if i+1 < len(q.segs) {
		next, hasNext = q.segs[i+1].id, true
	}
	if q.w != nil && id == q.wID {
		return q.syncedOff, false, next, hasNext, true
	}
	return q.segs[i].size, true, next, hasNext, true
}

// read reads the entry at the read position: a record, a corrupt stretch,
// or the end of a complete segment. ok is false when nothing more is
// readable yet.
func (q *queue) read() (it item, ok bool, err error) {
	for q.ctx.Err() == nil {
		q.mu.Lock()
		limit, complete, next, hasNext, exists := q.limitLocked(q.rd.seg)
		q.mu.Unlock()
		if !exists {
			return item{}, false, nil
		}
		at := q.rd
		if q.rf == nil {
			bad, err := q.openRead()
			if err != nil {
				return item{}, false, err
			}
			if bad && at.off < limit {
				q.rd.off = limit
				return item{kind: itemCorrupt, n: limit - at.off, at: at, why: errors.New("hh: bad segment header")}, true, nil
			}
			continue
		}
		if at.off >= limit {
			if !complete || !hasNext {
				return item{}, false, nil
			}
			q.rf.Close()
			q.rf = nil
			q.rd = position{seg: next, off: segmentHeaderSize}
			return item{kind: itemSegmentEnd, at: at, next: next}, true, nil
		}
		rec, n, err := q.readAt(at.off, limit)
		switch {
		case err == nil:
			q.rd.off += n
			return item{kind: itemRecord, rec: *rec, n: n, at: at}, true, nil
		case errors.Is(err, errBadCRC):
			// The length looked right: the next frame is probably intact.
			q.rd.off += n
			shard := rec.ShardID
			return item{kind: itemCorrupt, n: n, at: at, shard: &shard, why: err}, true, nil
		case errors.Is(err, errCorrupt), errors.Is(err, errShortFrame), errors.Is(err, io.EOF):
			// Nothing to resync on: skip the rest of what is readable.
			q.rd.off = limit
			return item{kind: itemCorrupt, n: limit - at.off, at: at, why: err}, true, nil
		default:
			return item{}, false, err
		}
	}
	return item{}, false, nil
}

// openRead opens the read position's segment and reports whether its
// header is bad (the segment is then skipped as one corrupt stretch).
func (q *queue) openRead() (bad bool, err error) {
	f, err := os.Open(q.segPath(q.rd.seg))
	if err != nil {
		return false, err
	}
	var hdr [segmentHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return false, err
	}
	q.rf = f
	return !validSegmentHeader(hdr[:]), nil
}

// readAt reads the frame at off. On a CRC mismatch it returns the frame's
// size and a record holding only the (unverified) shard ID.
func (q *queue) readAt(off, limit int64) (*Record, int64, error) {
	avail := limit - off
	want := min(avail, recordOverhead+4096)
	q.rbuf = slices.Grow(q.rbuf[:0], int(want))[:want]
	if _, err := q.rf.ReadAt(q.rbuf, off); err != nil {
		return nil, 0, err
	}
	n, err := bodyLen(q.rbuf)
	if err != nil {
		return nil, 0, err
	}
	size := int64(frameHeaderSize + n)
	if size > avail {
		return nil, 0, errShortFrame
	}
	if size > want {
		q.rbuf = slices.Grow(q.rbuf, int(size-want))[:size]
		if _, err := q.rf.ReadAt(q.rbuf[want:], off+want); err != nil {
			return nil, 0, err
		}
	}
	rec, _, err := decodeRecord(q.rbuf[:size])
	if err != nil {
		rec = Record{ShardID: peekShard(q.rbuf)}
	}
	if cap(q.rbuf) > 1<<20 {
		q.rbuf = nil // keep memory bounded between large records
	}
	return &rec, size, err
}

// skipCorrupt moves the head past a corrupt stretch, never delivering it.
// A frame whose length could be trusted was counted when the queue was
// opened or appended to; it is uncounted.
func (q *queue) skipCorrupt(it *item) {
	q.log.Error("hinted handoff: skipped a corrupt record", "segment", segmentName(it.at.seg),
		"offset", it.at.off, "bytes", it.n, "err", it.why)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.head.off += it.n
	q.addBytesLocked(-it.n)
	if it.shard != nil {
		q.countLocked(*it.shard, -1)
	}
	q.stats.Corrupt++
	q.changedLocked()
}

// finishSegment moves the head to segment next, saves the position and
// deletes the finished segment (the reader has closed it). The segment is
// deleted even when the position cannot be saved (a full disk: the save
// needs a new file): a start from an older position finds the segment
// gone and begins at the first segment left, which is right, since every
// record of the deleted one was consumed. Keeping it would keep a full disk
// full until a restart.
func (q *queue) finishSegment(next uint64) error {
	old := q.head.seg
	q.mu.Lock()
	if i := slices.IndexFunc(q.segs, func(s segment) bool { return s.id == old }); i >= 0 {
		q.addBytesLocked(-max(0, q.segs[i].size-q.head.off))
		q.segs = slices.Delete(q.segs, i, i+1)
	}
	q.head = position{seg: next, off: segmentHeaderSize}
	q.changedLocked()
	q.mu.Unlock()
	err := q.savePosition()
	if rerr := os.Remove(q.segPath(old)); rerr != nil {
		q.log.Warn("hinted handoff: removing a delivered segment", "err", rerr)
	}
	return err
}

// releaseDrained deletes the queue's only segment once every record in it
// was consumed, and ends it for appends: the next append starts a new
// segment, as after a restart. Before, a drained queue kept its last
// segment (up to SegmentSize) until a later append filled it or started
// another, which on a full disk never happened: the queue refused every
// append until a restart. Called by run, which owns the reader's state,
// with nothing in the window.
func (q *queue) releaseDrained() {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bytes != 0 || len(q.segs) != 1 || q.segs[0].id != q.head.seg || q.rd != q.head {
		return
	}
	id, size := q.segs[0].id, q.segs[0].size
	if q.w != nil && q.wID == id {
		size = q.wSize
	}
	if size <= segmentHeaderSize || q.head.off < size {
		return // nothing to free, or not all of it read
	}
	if q.w != nil {
		// Every byte of it was consumed, so fsync'd: nothing to sync.
		q.retired = append(q.retired, q.w)
		q.w = nil
		q.synced = q.written
	}
	for _, f := range q.retired {
		f.Close()
	}
	q.retired = nil
	if q.rf != nil {
		q.rf.Close()
		q.rf = nil
	}
	q.segs = nil
	q.head = position{seg: q.nextID, off: segmentHeaderSize}
	q.rd = q.head
	// Deleted before the position is saved: a start from the old position
	// finds no segment and waits for a new one, which is right.
	if err := os.Remove(q.segPath(id)); err != nil {
		q.log.Warn("hinted handoff: removing a delivered segment", "err", err)
	}
}

// consume moves the head past the record r of n bytes.
func (q *queue) consume(r *Record, n int64, o outcome) {
	q.mu.Lock()
	q.head.off += n
	q.addBytesLocked(-n)
	switch o {
	case delivered:
		q.stats.Delivered++
	case undeliverable:
		q.stats.Undeliverable++
	case expired:
		q.stats.Dropped++
	}
	q.countLocked(r.ShardID, -1) // purged shards are no longer counted
	q.headTime = time.Time{}
	q.changedLocked()
	q.mu.Unlock()
	if time.Since(q.lastSave) >= positionSaveInterval {
		if err := q.savePosition(); err != nil {
			q.log.Error("hinted handoff: saving the read position", "err", err)
		}
	}
}

// limiter spaces sends so that one node's replay averages at most rate
// payload bytes per second (0: unlimited). A record is never split: a large
// one goes at once and delays the next.
type limiter struct {
	rate int64
	next time.Time
}

func (l *limiter) wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return nil
	}
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	d := l.next.Sub(now)
	l.next = l.next.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
