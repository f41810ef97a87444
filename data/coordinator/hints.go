package coordinator

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/influxdata/influxdb/models"

	"github.com/palisade-db/palisade/data/hh"
	"github.com/palisade-db/palisade/data/peer"
)

// Hints is hinted handoff as the writer uses it: hh's queues, replayed
// through the data service (hintSender), purged of what the meta state no
// longer has.
type Hints struct {
	svc   *hh.Service
	peers *peer.Peers
}

// OpenHints opens the queues of cfg for the cluster c.
func OpenHints(cfg hh.Config, c *peer.Cluster) (*Hints, error) {
	svc, err := hh.Open(cfg, newHintSender(c.Peers))
	if err != nil {
		return nil, err
	}
	// The purge keeps the queues of data nodes and the records of shards
	// that the meta state has. Without a state (a node just started from
	// nothing, or rejoined) everything is kept: an empty state is not a
	// removal.
	svc.SetPurgeFilter(
		func(id uint64) bool { return c.View.Index() == 0 || c.Peers.Addr(id) != "" },
		func(id uint64) bool { return c.View.Index() == 0 || c.Shards.Exists(id) },
	)
	return &Hints{svc: svc, peers: c.Peers}, nil
}

// Enqueue queues payload for node. A record refused for want of room
// (hh.FullError) is ErrHintedHandoffFull, which the client gets as 503 with
// Retry-After, with hh's words for how full (they name no path).
func (h *Hints) Enqueue(node, shardID uint64, payload []byte) error {
	err := h.svc.Enqueue(node, shardID, payload)
	var full *hh.FullError
	if errors.As(err, &full) {
		return fmt.Errorf("%w for data node %d: %s", ErrHintedHandoffFull, node, full.Detail)
	}
	return err
}

// Pending reports whether records wait for node.
func (h *Hints) Pending(node uint64) bool { return h.svc.Pending(node) }

// PendingShard reports whether records of shard wait for node, which then
// lacks some of the shard's points.
func (h *Hints) PendingShard(node, shard uint64) bool { return h.svc.PendingShard(node, shard) }

// Kick replays what is queued for node now (it said it is back), on a
// connection that tries again at once rather than after gRPC's reconnect
// backoff (up to 2 minutes).
func (h *Hints) Kick(node uint64) {
	h.peers.Reconnect(node)
	h.svc.Kick(node)
}

// TotalBytes is what the queues hold.
func (h *Hints) TotalBytes() int64 { return h.svc.TotalBytes() }

// Close closes the queues.
func (h *Hints) Close() error { return h.svc.Close() }

// Statistics are the queues' numbers, one "hh_processor" statistic per
// destination node, under the names of InfluxDB's (the monitor adds the
// node's own tags).
func (h *Hints) Statistics() []models.Statistic {
	var out []models.Statistic
	for _, q := range h.svc.Stats() {
		out = append(out, models.Statistic{Name: "hh_processor", Tags: map[string]string{"node": strconv.FormatUint(q.Node, 10)},
			Values: map[string]any{
				"queueRecords": q.Records, "queueBytes": q.Bytes, "oldestAgeSeconds": q.OldestAge.Seconds(),
				"delivered": int64(q.Delivered), "dropped": int64(q.Dropped), "corrupt": int64(q.Corrupt),
				"undeliverable": int64(q.Undeliverable), "purged": int64(q.Purged),
			}})
	}
	return out
}
