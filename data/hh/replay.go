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

// outcome is what happened to a record that left the queue.
type outcome uint8

const (
	delivered outcome = iota
	undeliverable
	expired
	purged
)

// run replays the queue to its node, in order, until the queue is closed.
func (q *queue) run() {
	defer close(q.done)
	cfg := &q.svc.cfg
	backoff := cfg.RetryInterval
	var (
		retryAt  time.Time
		cur      *Record
		curSize  int64
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
		if cur == nil {
			rec, n, err := q.next()
			if err != nil {
				q.log.Error("hinted handoff: reading the queue", "err", err)
				q.sleep(backoff)
				continue
			}
			if rec == nil {
				reportExpired()
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
			cur, curSize = rec, n
			q.mu.Lock()
			q.headTime = rec.Enqueued
			q.mu.Unlock()
		}

		q.mu.Lock()
		drop := q.dropped[cur.ShardID]
		q.mu.Unlock()
		if drop { // counted when purged
			q.consume(cur, curSize, purged)
			cur = nil
			continue
		}
		if cfg.Now().Sub(cur.Enqueued) > cfg.MaxAge {
			q.consume(cur, curSize, expired)
			cur, expiredN = nil, expiredN+1
			continue
		}
		reportExpired()

		if d := time.Until(retryAt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-q.ctx.Done():
			case <-q.kick:
				retryAt, backoff = time.Time{}, cfg.RetryInterval
			case <-q.purge: // check max-age and dropped shards again
			case <-t.C:
			}
			t.Stop()
			continue
		}

		err := q.send(cur)
		switch {
		case err == nil:
			q.consume(cur, curSize, delivered)
			cur, backoff = nil, cfg.RetryInterval
			if failures > 0 {
				q.log.Info("hinted handoff: node answers again", "failed_attempts", failures)
				failures = 0
			}
		case IsPermanent(err):
			q.log.Warn("hinted handoff: record can never be delivered, dropped", "shard", cur.ShardID, "err", err)
			q.consume(cur, curSize, undeliverable)
			cur = nil
		case q.ctx.Err() != nil:
			// Closing: the record stays; it may have arrived (at-least-once).
		default:
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			q.log.Log(q.ctx, level, "hinted handoff: delivery failed, will retry", "err", err, "retry_in", backoff)
			retryAt = time.Now().Add(backoff)
			backoff = min(2*backoff, cfg.RetryMaxInterval)
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

// send delivers one record, within the rate limit and the service's
// retry-concurrency.
func (q *queue) send(r *Record) error {
	if err := q.limiter.wait(q.ctx, len(r.Payload)); err != nil {
		return err
	}
	select {
	case q.svc.sem <- struct{}{}:
	case <-q.ctx.Done():
		return q.ctx.Err()
	}
	defer func() { <-q.svc.sem }()
	return q.svc.sender.Send(q.ctx, q.node, *r)
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

// next reads the record at the head, moving past finished segments and
// skipping corrupt records. The record is nil when none is readable yet.
func (q *queue) next() (*Record, int64, error) {
	for q.ctx.Err() == nil {
		q.mu.Lock()
		limit, complete, next, hasNext, exists := q.limitLocked(q.head.seg)
		q.mu.Unlock()
		if !exists {
			return nil, 0, nil
		}
		if q.rf == nil {
			if err := q.openHead(limit); err != nil {
				return nil, 0, err
			}
			continue
		}
		off := q.head.off
		if off >= limit {
			if !complete || !hasNext {
				return nil, 0, nil
			}
			if err := q.finishSegment(next); err != nil {
				return nil, 0, err
			}
			continue
		}
		rec, n, err := q.readAt(off, limit)
		switch {
		case err == nil:
			return rec, n, nil
		case errors.Is(err, errBadCRC):
			// The length looked right: the next frame is probably intact.
			q.skipCorrupt(n, &rec.ShardID, err)
		case errors.Is(err, errCorrupt), errors.Is(err, errShortFrame), errors.Is(err, io.EOF):
			// Nothing to resync on: skip the rest of what is readable.
			q.skipCorrupt(limit-off, nil, err)
		default:
			return nil, 0, err
		}
	}
	return nil, 0, nil
}

// openHead opens the head segment; a segment with a bad header is skipped
// as one corrupt record.
func (q *queue) openHead(limit int64) error {
	f, err := os.Open(q.segPath(q.head.seg))
	if err != nil {
		return err
	}
	q.rf = f
	var hdr [segmentHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !validSegmentHeader(hdr[:]) && q.head.off < limit {
		q.skipCorrupt(limit-q.head.off, nil, errors.New("hh: bad segment header"))
	}
	return nil
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

// skipCorrupt moves the head past n corrupt bytes, never delivering them.
// shard is the frame's shard when its length could be trusted (the frame
// was counted when the queue was opened or appended to).
func (q *queue) skipCorrupt(n int64, shard *uint64, why error) {
	q.log.Error("hinted handoff: skipped a corrupt record", "segment", segmentName(q.head.seg),
		"offset", q.head.off, "bytes", n, "err", why)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.head.off += n
	q.bytes -= n
	if shard != nil {
		q.countLocked(*shard, -1)
	}
	q.stats.Corrupt++
	q.changedLocked()
}

// finishSegment moves the head to segment next, saves the position and
// deletes the finished segment.
func (q *queue) finishSegment(next uint64) error {
	old := q.head.seg
	q.rf.Close()
	q.rf = nil
	q.mu.Lock()
	if i := slices.IndexFunc(q.segs, func(s segment) bool { return s.id == old }); i >= 0 {
		q.bytes -= max(0, q.segs[i].size-q.head.off)
		q.segs = slices.Delete(q.segs, i, i+1)
	}
	q.head = position{seg: next, off: segmentHeaderSize}
	q.changedLocked()
	q.mu.Unlock()
	if err := q.savePosition(); err != nil {
		return err // the old segment stays until a later start deletes it
	}
	if err := os.Remove(q.segPath(old)); err != nil {
		q.log.Warn("hinted handoff: removing a delivered segment", "err", err)
	}
	return nil
}

// consume moves the head past the record r of n bytes.
func (q *queue) consume(r *Record, n int64, o outcome) {
	q.mu.Lock()
	q.head.off += n
	q.bytes -= n
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
