package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/data/hh"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// Limits of a replayed WriteShard request.
const (
	// maxHintRequestPoints bounds the points bytes that consecutive records
	// are merged into (a single record larger than this goes alone).
	maxHintRequestPoints = 4 << 20
	// hintRequestTimeout bounds one replayed request: long enough for the
	// owner to take 4 MiB of points on a loaded disk, short enough that a
	// connection that hangs does not stall the queue.
	hintRequestTimeout = time.Minute
)

// hintSender replays hinted-handoff records: each record's payload is a
// marshalled WriteShardRequest for its destination. As an hh.BatchSender it
// merges consecutive records of one shard into one request.
type hintSender struct {
	// writeShard sends one request to node (Peers.ReplayShard; a fake in
	// tests).
	writeShard func(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error
}

func newHintSender(p *peer.Peers) hintSender { return hintSender{writeShard: p.ReplayShard} }

// Send delivers one record.
func (s hintSender) Send(ctx context.Context, node uint64, r hh.Record) error {
	req, err := decodeHint(r)
	if err != nil {
		return err
	}
	return hintError(s.write(ctx, node, req))
}

// SendBatch delivers records in order, merging each run of consecutive
// records with the same shard, database and retention policy into one
// request of at most maxHintRequestPoints of points (the points are line
// protocol, one point per line: they concatenate), with the highest meta
// index of the run. It returns the number of records covered by the
// requests that succeeded.
//
// Errors apply to a run as a whole, but hh.BatchSender's permanent error
// names one record, records[delivered], the first of the refused run:
//
//   - NotFound and FailedPrecondition (the shard is gone, or not the node's)
//     and an unknown node hold for every record of the run: the first is
//     reported; the next call's request for the rest is refused as fast
//     (before any point is parsed), one record per call.
//   - InvalidArgument (points the owner cannot write, such as a field type
//     conflict) may come from one record alone, and the owner may have
//     written the other points: the run's records are then sent again one
//     by one, so that only the records refused alone are dropped.
//   - A record that does not decode is permanent for itself only: the
//     records before it are sent first.
func (s hintSender) SendBatch(ctx context.Context, node uint64, records []hh.Record) (int, error) {
	reqs := make([]*datapb.WriteShardRequest, len(records))
	errs := make([]error, len(records))
	for i, r := range records {
		reqs[i], errs[i] = decodeHint(r)
	}
	done := 0
	for done < len(records) {
		if errs[done] != nil {
			return done, errs[done]
		}
		req, n := mergeHints(reqs[done:], errs[done:])
		err := s.write(ctx, node, req)
		switch {
		case err == nil:
			done += n
		case n > 1 && peer.Is(err, peer.ErrInvalid):
			for i := done; i < done+n; i++ {
				if err := hintError(s.write(ctx, node, reqs[i])); err != nil {
					return i, err
				}
			}
			done += n
		default:
			return done, hintError(err)
		}
	}
	return done, nil
}

// write sends one request with its own deadline.
func (s hintSender) write(ctx context.Context, node uint64, req *datapb.WriteShardRequest) error {
	ctx, cancel := context.WithTimeout(ctx, hintRequestTimeout)
	defer cancel()
	return s.writeShard(ctx, node, req)
}

// hintError marks the errors after which a request can never succeed as
// permanent for hinted handoff.
func hintError(err error) error {
	if err != nil && peer.Permanent(err) {
		return hh.Permanent(err)
	}
	return err
}

func decodeHint(r hh.Record) (*datapb.WriteShardRequest, error) {
	var req datapb.WriteShardRequest
	if err := proto.Unmarshal(r.Payload, &req); err != nil {
		return nil, hh.Permanent(fmt.Errorf("data: undecodable hinted-handoff record: %w", err))
	}
	return &req, nil
}

// mergeHints returns the request for the longest run at the start of reqs
// (whose first entry decoded) of records with the same shard, database and
// retention policy, that decoded, and whose points make at most
// maxHintRequestPoints bytes (at least one record), and the run's length.
// A run of one record is its own request.
func mergeHints(reqs []*datapb.WriteShardRequest, errs []error) (*datapb.WriteShardRequest, int) {
	first := reqs[0]
	n, size := 1, len(first.Points)
	for n < len(reqs) && errs[n] == nil && sameShard(first, reqs[n]) && size+len(reqs[n].Points)+1 <= maxHintRequestPoints {
		size += len(reqs[n].Points) + 1
		n++
	}
	if n == 1 {
		return first, 1
	}
	buf := make([]byte, 0, size)
	merged := &datapb.WriteShardRequest{
		ShardId: first.ShardId, Database: first.Database, RetentionPolicy: first.RetentionPolicy,
		SenderNodeId: first.SenderNodeId,
	}
	for _, r := range reqs[:n] {
		buf = append(buf, r.Points...)
		if len(r.Points) > 0 && !bytes.HasSuffix(r.Points, []byte("\n")) {
			buf = append(buf, '\n') // EncodePoints ends every point with one
		}
		merged.MetaIndex = max(merged.MetaIndex, r.MetaIndex)
	}
	merged.Points = buf
	return merged, n
}

// sameShard reports whether b's points may join a's request: same shard,
// and neither is a delete (a delete goes alone, in its place in the queue).
func sameShard(a, b *datapb.WriteShardRequest) bool {
	return a.ShardId == b.ShardId && a.Database == b.Database && a.RetentionPolicy == b.RetentionPolicy &&
		a.Delete == nil && b.Delete == nil
}
