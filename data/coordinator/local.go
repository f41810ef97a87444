package coordinator

import (
	"errors"
	"fmt"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
)

// ErrShardGone: the shard left the meta state while a write created it.
var ErrShardGone = errors.New("data: the shard was deleted during the write")

// ShardStore is the write side of this node's store: writes, deletes and
// the creation of local shards (engine.ShardWriter, which keeps the
// release of idle shards from losing writes).
type ShardStore interface {
	WriteToShard(ctx tsdb.WriteContext, shardID uint64, points []models.Point) error
	CreateShard(db, rp string, shardID uint64, enabled bool) error
	DeleteShard(shardID uint64) error
	DeleteSeries(db string, sources []influxql.Source, cond influxql.Expr) error
	DeleteMeasurement(db, name string) error
}

// WriteLocalShard writes points to a shard of this node's store, creating
// the shard first when this node has not held it yet. A shard created here
// while its deletion was being applied is deleted again (live says whether
// the meta state still has it; nil: do not check), so that a write racing a
// DROP or a retention deletion leaves no orphan behind.
func WriteLocalShard(store ShardStore, db, rp string, shardID uint64, points []models.Point, live func(uint64) bool) error {
	wctx := tsdb.WriteContext{}
	err := store.WriteToShard(wctx, shardID, points)
	if !errors.Is(err, tsdb.ErrShardNotFound) {
		return err
	}
	if err := store.CreateShard(db, rp, shardID, true); err != nil {
		return err
	}
	if live != nil && !live(shardID) {
		if derr := store.DeleteShard(shardID); derr != nil {
			return fmt.Errorf("%w (deleting it again: %v)", ErrShardGone, derr)
		}
		return ErrShardGone
	}
	return store.WriteToShard(wctx, shardID, points)
}
