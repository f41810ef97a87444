// Package hh is the hinted handoff queue of a data node: writes that a shard
// owner did not acknowledge are kept on disk, one queue per destination node,
// and replayed to it, in order, when it answers again.
//
// Promises:
//
//   - Enqueue returns nil only once the record is fsync'd: an acknowledged
//     record survives a crash. Concurrent Enqueues share one fsync.
//   - Delivery is at least once. Each node's records are sent in enqueue
//     order, one call at a time: one record per Send, or, when the Sender
//     is a BatchSender, up to 64 consecutive records (Config.ReplayBatchBytes
//     of payload) per SendBatch. A record leaves the queue only when it was
//     delivered (Send returned nil; SendBatch counted it in its delivered
//     prefix) or refused with a permanent error, or when it is older than
//     max-age, or its shard or node was purged. A record may be sent twice:
//     those in flight at Close, at a crash or when SendBatch fails (the
//     ones after the delivered prefix), and, after a crash, those delivered
//     in the last 100 ms (the read position is saved at most that often
//     while replay is busy, at once when it goes idle). InfluxDB writes are
//     idempotent, so a duplicate rewrites the same points.
//   - A record whose CRC or framing does not check is never sent: it is
//     counted (NodeStats.Corrupt), logged and skipped; a batch holds the
//     records on either side of it.
//   - Memory is bounded: per node, one record, or with a BatchSender
//     ReplayBatchBytes plus one record, is in memory, never a queue.
//   - Nothing here knows what a payload holds (the engine is not imported).
//   - Any error from Enqueue means nothing of the record was kept. A record
//     that does not fit is refused before anything is written, with a
//     *FullError (errors.Is ErrQueueFull) naming the limit: its node's queue
//     at MaxSize, all queues at MaxTotalSize, or less than MinFreeSpace
//     left on the disk (statfs); the disk's own ENOSPC or EDQUOT is a
//     FullError too. A full disk never wedges a queue: a finished segment
//     is deleted even when the read position cannot be saved, and a
//     drained queue deletes its last segment at once.
//   - One Service per directory: Open takes an exclusive lock
//     (internal/dirlock, the file .palisade.lock in Config.Dir) and
//     refuses a directory that another process or Service holds, naming it.
//
// On disk, under Config.Dir:
//
//	.palisade.lock          the directory's lock (holder's PID, host, start)
//	<node ID>/              one directory per destination (0700)
//	    00000001.seg        segments, appended in ID order (0600)
//	    00000002.seg
//	    position            read position: segment ID, offset
//
// A segment starts with an 8-byte header, "PHHQ" and the format version
// (uint32, 1), followed by frames (integers big-endian):
//
//	length   uint32  bytes after the CRC: 16 + len(payload), at most 256 MiB
//	crc      uint32  CRC-32C (Castagnoli) of the bytes after it
//	shard    uint64  shard ID
//	enqueued int64   enqueue time, Unix nanoseconds
//	payload  []byte
//
// The position file holds the segment ID (uint64), the offset of the first
// record not yet delivered (uint64) and a CRC-32C of both; it is replaced
// atomically (temp file, fsync, rename, fsync of the directory). A corrupt
// position file means replaying the whole queue. Segments before the read
// position are deleted once the position has moved past them.
//
// Appends go to the newest segment, which is rolled (fsync'd, closed, a new
// one created and its directory entry fsync'd) past Config.SegmentSize; after
// a restart appends always start a new segment, so only the last segment
// can end in a torn frame. Opening a queue verifies every frame of that
// segment and truncates a torn tail: from the first frame that does not
// check, when no frame that checks follows it. Other segments are only
// counted on opening (frame headers); their frames are checked when replay
// reads them. A frame with a bad CRC but a plausible length is skipped
// alone; an impossible length skips the rest of the segment.
//
// Replay reads ahead of the read position (the batch): the position moves,
// and segments are deleted, only as the records before them are delivered
// or dropped, so that a failed batch is retried from its first record not
// delivered.
//
// Purge removes the queues of nodes that left the cluster and drops the
// records of deleted shards; dropped shards' records stay on disk until
// replay passes them. MaxSize counts the frames between the read position
// and the tail, MaxTotalSize the same over every queue; on disk a queue may
// hold up to one segment more (delivered frames of the segment being read).
//
// It may import internal/dirlock; no other package of this module: the
// replay's sender is given to it (data/coordinator's hintSender).
package hh
