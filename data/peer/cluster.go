package peer

import (
	"log/slog"
	"time"

	"github.com/palisade-db/palisade/data/metastate"
)

// Cluster is what every cluster part of a data node works with: who this
// node is, the meta state it follows and that state's shards, the other
// data nodes, the clock and the log. The node makes one and hands the same
// one to each part; a part takes what it needs from it and reaches into no
// other part. A standalone node's has no Peers.
type Cluster struct {
	// Self is this node's ID (0 until it has registered).
	Self   func() uint64
	View   *metastate.View
	Shards *metastate.Shards
	Peers  *Peers
	Now    func() time.Time
	Log    *slog.Logger
}
