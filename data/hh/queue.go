package hh

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// segment is one segment file of a queue.
type segment struct {
	id   uint64
	size int64 // final size; unused for the active segment (see queue.syncedOff)
}

// queue is the queue of one destination node. Appends come from any
// goroutine; reading, delivering and the read position belong to the queue's
// run goroutine (replay.go), which alone moves head.
type queue struct {
	svc  *Service
	node uint64
	dir  string
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	wake  chan struct{} // records became readable
	kick  chan struct{} // the node answers again
	purge chan struct{} // check max-age and dropped shards now

	// Reader state, owned by run (and by close once run has returned).
	rd       position // read position: the end of window
	rf       *os.File // rd's segment, read-only
	rbuf     []byte
	window   []item // read, not yet consumed: from head to rd
	lastSave time.Time
	limiter  limiter

	syncMu sync.Mutex // one fsync at a time; concurrent appends share it

	mu        sync.Mutex
	segs      []segment // on disk, ascending; the last is active when w != nil
	w         *os.File  // active segment, append-only; nil until the first append
	wID       uint64
	wSize     int64 // bytes written to w
	syncedOff int64 // bytes of w known durable: readable
	nextID    uint64
	retired   []*os.File // former active segments, closed by the next fsync round
	written   int64      // bytes appended since open
	synced    int64      // of those, durable
	err       error      // failed write or fsync: appends refused until restart
	closed    bool

	head     position // first byte not consumed
	saved    position // head as last saved
	bytes    int64    // frames from head to tail
	records  int64    // records to deliver (not counting purged shards')
	shards   map[uint64]int64
	dropped  map[uint64]bool // purged shards
	headTime time.Time       // enqueue time of the oldest record, when known
	changed  chan struct{}   // closed and replaced when records or bytes change
	stats    NodeStats
}

var errQueueRemoved = errors.New("hh: queue removed (node purged)")

// openQueue opens or creates the queue in dir, recovering it: segments
// before the read position are deleted, a torn tail of the last segment is
// truncated, the remaining records are counted.
func openQueue(s *Service, node uint64, dir string) (*queue, error) {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hh: %w", err)
	}
	if created {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("hh: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	q := &queue{
		svc: s, node: node, dir: dir,
		log:    s.log.With("node", node),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1), kick: make(chan struct{}, 1), purge: make(chan struct{}, 1),
		limiter: limiter{rate: s.cfg.RetryRateLimit.Int64()},
		shards:  map[uint64]int64{},
		dropped: map[uint64]bool{},
		changed: make(chan struct{}),
	}
	q.stats.Node = node
	if err := q.recover(); err != nil {
		cancel()
		return nil, err
	}
	return q, nil
}

func (q *queue) segPath(id uint64) string { return filepath.Join(q.dir, segmentName(id)) }

func (q *queue) recover() error {
	_ = os.Remove(filepath.Join(q.dir, positionFile+".tmp"))
	pos := position{}
	switch b, err := os.ReadFile(filepath.Join(q.dir, positionFile)); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("hh: %w", err)
	default:
		if pos, err = decodePosition(b); err != nil {
			// Replaying from the start resends records but loses none.
			q.log.Warn("hinted handoff: corrupt read position, replaying the whole queue", "err", err)
		}
	}
	q.saved = pos

	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("hh: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		id, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil || e.IsDir() {
			continue
		}
		if id < pos.seg {
			// Delivered: the position moved past it before a crash
			// interrupted its removal.
			if err := os.Remove(q.segPath(id)); err != nil {
				return fmt.Errorf("hh: %w", err)
			}
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	q.nextID = pos.seg + 1
	if n := len(ids); n > 0 {
		q.nextID = max(q.nextID, ids[n-1]+1)
		if empty, err := q.recoverTail(ids[n-1]); err != nil {
			return err
		} else if empty {
			ids = ids[:n-1]
		}
	}
	// Appends always go to a new segment (nextID); the head starts at the
	// first segment left, or waits for that new one.
	q.head = position{seg: q.nextID, off: segmentHeaderSize}
	for i, id := range ids {
		st, err := os.Stat(q.segPath(id))
		if err != nil {
			return fmt.Errorf("hh: %w", err)
		}
		start := int64(segmentHeaderSize)
		if i == 0 {
			if id == pos.seg {
				start = max(start, pos.off)
			}
			start = min(start, st.Size())
			q.head = position{seg: id, off: start}
		}
		q.segs = append(q.segs, segment{id: id, size: st.Size()})
		q.addBytesLocked(max(0, st.Size()-start))
		if err := q.countRecords(id, start, st.Size()); err != nil {
			return err
		}
	}
	if q.records > 0 {
		q.log.Info("hinted handoff: queue recovered", "records", q.records, "bytes", q.bytes)
	}
	return nil
}

// recoverTail checks every frame of the last segment, id, and truncates a
// torn tail: the bytes from the first frame that does not verify, when no
// verified frame follows (a crash during an append that was never
// acknowledged). A bad frame followed by good ones is corruption: it stays,
// and replay counts and skips it. empty reports a segment that was removed
// because its header was never completely written.
func (q *queue) recoverTail(id uint64) (empty bool, err error) {
	path := q.segPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("hh: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("hh: %w", err)
	}
	size := st.Size()
	hdr := make([]byte, segmentHeaderSize)
	if size < segmentHeaderSize {
		return true, os.Remove(path)
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return false, fmt.Errorf("hh: %w", err)
	}
	if !validSegmentHeader(hdr) {
		return false, nil // corrupt segment: replay counts and skips it
	}
	var buf []byte
	off, firstBad := int64(segmentHeaderSize), int64(-1)
	for off < size {
		n, ok, err := verifyFrameAt(f, off, size, &buf)
		if err != nil {
			return false, fmt.Errorf("hh: %w", err)
		}
		if ok {
			firstBad = -1
		} else if firstBad < 0 {
			firstBad = off
		}
		if n == 0 {
			break
		}
		off += n
	}
	if firstBad < 0 {
		return false, nil
	}
	if err := f.Truncate(firstBad); err != nil {
		return false, fmt.Errorf("hh: truncating torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("hh: %w", err)
	}
	q.log.Warn("hinted handoff: truncated the torn tail of a segment (a write interrupted by a crash)",
		"segment", segmentName(id), "bytes", size-firstBad)
	return false, nil
}

// verifyFrameAt reads the frame at off of a file of the given size. n is
// the frame's size (0 when its length is impossible or runs past size); ok
// reports a matching CRC.
func verifyFrameAt(f *os.File, off, size int64, buf *[]byte) (n int64, ok bool, err error) {
	var h [frameHeaderSize]byte
	if size-off < frameHeaderSize {
		return 0, false, nil
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return 0, false, err
	}
	body, err := bodyLen(h[:])
	if err != nil || off+frameHeaderSize+int64(body) > size {
		return 0, false, nil
	}
	n = frameHeaderSize + int64(body)
	*buf = slices.Grow((*buf)[:0], int(n))[:n]
	if _, err := f.ReadAt(*buf, off); err != nil {
		return 0, false, err
	}
	_, _, err = decodeRecord(*buf)
	return n, err == nil, nil
}

// countRecords adds the records of segment id between start and size to
// the counts, reading frame headers only. It stops at an impossible length;
// replay skips what follows without counting it either.
func (q *queue) countRecords(id uint64, start, size int64) error {
	f, err := os.Open(q.segPath(id))
	if err != nil {
		return fmt.Errorf("hh: %w", err)
	}
	defer f.Close()
	var hdr [segmentHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || !validSegmentHeader(hdr[:]) {
		return nil // corrupt segment
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, size-start), 64<<10)
	var h [recordOverhead]byte
	for off := start; off < size; {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil
		}
		n, err := bodyLen(h[:])
		if err != nil || off+frameHeaderSize+int64(n) > size {
			return nil
		}
		q.countLocked(peekShard(h[:]), 1)
		if q.headTime.IsZero() {
			q.headTime = time.Unix(0, int64(binary.BigEndian.Uint64(h[16:])))
		}
		if _, err := r.Discard(n - bodyHeaderSize); err != nil {
			return nil
		}
		off += frameHeaderSize + int64(n)
	}
	return nil
}

// countLocked adds d records of shard to the counts, unless the shard was
// purged (its records are then not waiting for delivery).
func (q *queue) countLocked(shard uint64, d int64) {
	if q.dropped[shard] {
		return
	}
	q.records = max(0, q.records+d)
	if c := q.shards[shard] + d; c > 0 {
		q.shards[shard] = c
	} else {
		delete(q.shards, shard)
	}
}

// changedLocked wakes Drain; when nothing is left, it resets the counts, so
// that they cannot drift past a corrupt stretch of the queue.
func (q *queue) changedLocked() {
	if q.bytes <= 0 {
		q.addBytesLocked(-q.bytes)
		q.records = 0
		clear(q.shards)
		clear(q.dropped)
		q.headTime = time.Time{}
	}
	close(q.changed)
	q.changed = make(chan struct{})
}

// addBytesLocked changes the queue's bytes, and the service's total with
// them.
func (q *queue) addBytesLocked(d int64) {
	q.bytes += d
	q.svc.total.Add(d)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// append adds one record and returns once it is durable.
func (q *queue) append(shardID uint64, payload []byte) error {
	now := q.svc.cfg.Now()
	var h [recordOverhead]byte
	binary.BigEndian.PutUint32(h[0:], uint32(bodyHeaderSize+len(payload)))
	binary.BigEndian.PutUint64(h[8:], shardID)
	binary.BigEndian.PutUint64(h[16:], uint64(now.UnixNano()))
	crc := crc32Update(crc32Update(0, h[frameHeaderSize:]), payload)
	binary.BigEndian.PutUint32(h[4:], crc)
	n := frameSize(len(payload))

	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return errQueueRemoved
	case q.err != nil:
		err := q.err
		q.mu.Unlock()
		return err
	case q.bytes+n > q.svc.cfg.MaxSize.Int64():
		q.mu.Unlock()
		return &FullError{Node: q.node, Limit: LimitMaxSize,
			Detail: fmt.Sprintf("data node %d's queue holds %d bytes (max-size %d)", q.node, q.bytes, q.svc.cfg.MaxSize)}
	}
	// The frame's bytes count towards the total from here; given back if
	// it is not written.
	if total, ok := q.svc.reserve(n); !ok {
		q.mu.Unlock()
		return &FullError{Node: q.node, Limit: LimitMaxTotalSize,
			Detail: fmt.Sprintf("this node's queues hold %d bytes (max-total-size %d)", total, q.svc.cfg.MaxTotalSize)}
	}
	if q.w == nil || (q.wSize > segmentHeaderSize && q.wSize+n > q.svc.cfg.SegmentSize) {
		if err := q.rollLocked(); err != nil {
			q.svc.total.Add(-n)
			q.mu.Unlock()
			return err
		}
	}
	if err := q.writeLocked(h[:], payload); err != nil {
		q.svc.total.Add(-n)
		q.mu.Unlock()
		return err
	}
	q.wSize += n
	q.written += n
	end := q.written
	if q.bytes == 0 {
		q.headTime = now
	}
	q.bytes += n // reserved in the total above
	if q.dropped[shardID] {
		q.stats.Purged++
	}
	q.countLocked(shardID, 1)
	q.changedLocked()
	q.mu.Unlock()
	return q.syncThrough(end)
}

// writeLocked writes one frame at the end of the active segment. A failed
// write is cut off again, so that no partial frame stays between records.
func (q *queue) writeLocked(h, payload []byte) error {
	_, err := q.w.Write(h)
	if err == nil {
		_, err = q.w.Write(payload)
	}
	if err == nil {
		return nil
	}
	if terr := q.w.Truncate(q.wSize); terr != nil {
		q.err = fmt.Errorf("hh: node %d's queue is unusable until restart: %w", q.node, errors.Join(err, terr))
		q.log.Error("hinted handoff: cannot undo a failed append", "err", q.err)
	}
	return fmt.Errorf("hh: appending to node %d's queue: %w", q.node, err)
}

// rollLocked makes the active segment durable and complete, and starts a new
// one (whose header and directory entry are durable before it is used).
func (q *queue) rollLocked() error {
	if q.w != nil {
		if err := q.w.Sync(); err != nil {
			q.err = fmt.Errorf("hh: fsync of node %d's queue failed, appends refused until restart: %w", q.node, err)
			q.log.Error("hinted handoff: fsync failed", "err", err)
			return q.err
		}
		q.synced = q.written
		q.segs[len(q.segs)-1].size = q.wSize
		q.retired = append(q.retired, q.w)
		q.w = nil
	}
	id := q.nextID
	path := q.segPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("hh: %w", err)
	}
	_, err = f.Write(segmentHeader())
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(q.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("hh: creating segment: %w", err)
	}
	q.nextID++
	q.w, q.wID, q.wSize, q.syncedOff = f, id, segmentHeaderSize, segmentHeaderSize
	q.segs = append(q.segs, segment{id: id})
	signal(q.wake)
	return nil
}

// syncThrough returns once the first end bytes appended since open are
// durable. Appends that arrive while an fsync runs share the next one.
func (q *queue) syncThrough(end int64) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	if q.synced >= end {
		q.mu.Unlock()
		return nil
	}
	if q.err != nil || q.w == nil {
		err := q.err
		q.mu.Unlock()
		if err == nil {
			err = errQueueRemoved
		}
		return err
	}
	f, target, id, off := q.w, q.written, q.wID, q.wSize
	retired := q.retired
	q.retired = nil
	q.mu.Unlock()

	for _, r := range retired {
		r.Close() // synced when retired; no fsync round uses it any more
	}
	err := f.Sync()

	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		// After a failed fsync the page cache cannot be trusted (the
		// error may not be reported twice): refuse appends until a restart
		// recovers the queue from disk.
		if q.err == nil {
			q.err = fmt.Errorf("hh: fsync of node %d's queue failed, appends refused until restart: %w", q.node, err)
			q.log.Error("hinted handoff: fsync failed", "err", err)
		}
		return q.err
	}
	q.synced = max(q.synced, target)
	if id == q.wID && off > q.syncedOff {
		q.syncedOff = off
		signal(q.wake)
	}
	return nil
}

// close releases the files and saves the read position; run has returned.
func (q *queue) close() error {
	if q.rf != nil {
		q.rf.Close()
		q.rf = nil
	}
	q.syncMu.Lock()
	q.mu.Lock()
	q.closed = true
	var errs []error
	if q.w != nil {
		if err := q.w.Sync(); err != nil {
			errs = append(errs, err)
		} else {
			q.synced = q.written
		}
		q.retired = append(q.retired, q.w)
		q.w = nil
	}
	for _, f := range q.retired {
		errs = append(errs, f.Close())
	}
	q.retired = nil
	q.mu.Unlock()
	q.syncMu.Unlock()
	errs = append(errs, q.savePosition())
	return errors.Join(errs...)
}

// savePosition saves head if it moved since the last save.
func (q *queue) savePosition() error {
	if q.head == q.saved {
		return nil
	}
	if err := writePosition(q.dir, q.head); err != nil {
		return err
	}
	q.saved = q.head
	q.lastSave = time.Now()
	return nil
}

// snapshot returns the queue's statistics.
func (q *queue) snapshot(now time.Time) NodeStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Records, st.Bytes = q.records, q.bytes
	if q.records > 0 && !q.headTime.IsZero() {
		st.OldestAge = max(0, now.Sub(q.headTime))
	}
	return st
}
