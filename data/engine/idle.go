package engine

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
)

// idleEvery is how often idle shards are released (influxd: 10 s).
const idleEvery = 10 * time.Second

// ShardWriter is the write side of the engine's store: every write to a
// local shard goes through it (the cluster writer, the data service, and
// the points writer of a standalone node), so that releasing an idle
// shard's memory can never lose a write.
//
// tsdb.Store releases idle shards itself every 10 s (monitorShards): it
// checks that a shard is idle (its cache empty), then stops its compactions
// and frees its cache. A write that lands between the check and the free
// goes to the WAL and to a cache that is then replaced by an empty one: the
// write is acknowledged, no query finds it, and the next snapshot removes
// it from the WAL for good. The first write into a new shard is the usual
// victim. Palisade turns that monitor off (EngineOptions.MonitorDisabled)
// and releases idle shards here, with the shard's writes held off while it
// does.
type ShardWriter struct {
	store *tsdb.Store
	log   *slog.Logger
	// stripes guard the shards' writes: a write holds its shard's stripe
	// shared, a release exclusively.
	stripes [64]sync.RWMutex
	// maxValuesPerTag is [data] max-values-per-tag, warned about as influxd
	// does for inmem shards (0: no warnings).
	maxValuesPerTag int
	stop, done      chan struct{}
}

func newShardWriter(store *tsdb.Store, log *slog.Logger) *ShardWriter {
	return &ShardWriter{store: store, log: log, maxValuesPerTag: store.EngineOptions.Config.MaxValuesPerTag}
}

func (w *ShardWriter) stripe(id uint64) *sync.RWMutex { return &w.stripes[id%uint64(len(w.stripes))] }

// WriteToShard writes points to the local shard id.
func (w *ShardWriter) WriteToShard(ctx tsdb.WriteContext, id uint64, points []models.Point) error {
	mu := w.stripe(id)
	mu.RLock()
	defer mu.RUnlock()
	return w.store.WriteToShard(ctx, id, points)
}

// CreateShard creates the local shard id of db.rp unless it exists.
func (w *ShardWriter) CreateShard(db, rp string, id uint64, enabled bool) error {
	return w.store.CreateShard(db, rp, id, enabled)
}

// DeleteShard deletes the local shard id.
func (w *ShardWriter) DeleteShard(id uint64) error { return w.store.DeleteShard(id) }

// DeleteSeries deletes the series of sources that match cond from db.
func (w *ShardWriter) DeleteSeries(db string, sources []influxql.Source, cond influxql.Expr) error {
	return w.store.DeleteSeries(db, sources, cond)
}

// DeleteMeasurement deletes measurement name from db.
func (w *ShardWriter) DeleteMeasurement(db, name string) error {
	return w.store.DeleteMeasurement(db, name)
}

// open starts releasing idle shards every idleEvery.
func (w *ShardWriter) open() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(idleEvery)
		defer t.Stop()
		warn := time.NewTicker(time.Minute)
		defer warn.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.releaseIdle()
			case <-warn.C:
				w.warnTagValues()
			}
		}
	}()
}

// close stops the releases (before the store closes).
func (w *ShardWriter) close() {
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
}

// releaseIdle frees the memory of the shards that are idle, and turns the
// compactions of the others back on, as tsdb.Store's monitor does. A shard
// being written is not idle: it is skipped until the next round.
func (w *ShardWriter) releaseIdle() {
	for _, sh := range w.store.Shards(w.store.ShardIDs()) {
		if idle, _ := sh.IsIdle(); !idle {
			sh.SetCompactionsEnabled(true)
			continue
		}
		mu := w.stripe(sh.ID())
		if !mu.TryLock() {
			continue
		}
		// Checked again with the writes held off: a write may have landed
		// since.
		if idle, _ := sh.IsIdle(); idle {
			if err := sh.Free(); err != nil {
				w.log.Warn("freeing an idle shard's memory", "shard", sh.ID(), "err", err)
			}
		}
		mu.Unlock()
	}
}

// warnTagValues warns, as influxd does every minute, when a tag of an inmem
// shard's measurement nears [data] max-values-per-tag (at 80 %, 85 % and
// from 90 %). tsi1 shards do not enforce the limit.
func (w *ShardWriter) warnTagValues() {
	if w.maxValuesPerTag <= 0 {
		return
	}
	seen := map[string]bool{} // inmem shards of a database share one index
	for _, sh := range w.store.Shards(w.store.ShardIDs()) {
		if sh.IndexType() != tsdb.InmemIndexName || seen[sh.Database()] {
			continue
		}
		seen[sh.Database()] = true
		index, err := sh.Index()
		if err != nil {
			continue
		}
		sfile, err := sh.SeriesFile()
		if err != nil {
			continue
		}
		is := tsdb.IndexSet{Indexes: []tsdb.Index{index}, SeriesFile: sfile}
		names, err := is.MeasurementNamesByExpr(nil, nil)
		if err != nil {
			w.log.Warn("listing measurements for max-values-per-tag", "db", sh.Database(), "err", err)
			continue
		}
		for _, name := range names {
			_ = is.ForEachMeasurementTagKey(name, func(k []byte) error {
				n := sh.TagKeyCardinality(name, k)
				perc := min(100, n*100/w.maxValuesPerTag)
				if perc == 80 || perc == 85 || perc >= 90 {
					w.log.Warn("max-values-per-tag limit may be exceeded soon", "perc", fmt.Sprintf("%d%%", perc), "n", n,
						"max", w.maxValuesPerTag, "db", sh.Database(), "measurement", string(name), "tag", string(k))
				}
				return nil
			})
		}
	}
}
