package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
)

func openTestStore(t *testing.T) *tsdb.Store {
	t.Helper()
	dir := t.TempDir()
	store := tsdb.NewStore(filepath.Join(dir, "data"))
	store.EngineOptions.Config = tsdb.NewConfig()
	store.EngineOptions.Config.Dir = filepath.Join(dir, "data")
	store.EngineOptions.Config.WALDir = filepath.Join(dir, "wal")
	store.EngineOptions.Config.Index = "tsi1"
	store.EngineOptions.IndexVersion = "tsi1"
	store.EngineOptions.MonitorDisabled = true
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// countV counts the values of cpu.v in shard id, read through the engine.
func countV(t *testing.T, store *tsdb.Store, id uint64) int64 {
	t.Helper()
	opt := query.IteratorOptions{
		Expr:      &influxql.Call{Name: "count", Args: []influxql.Expr{&influxql.VarRef{Val: "v"}}},
		StartTime: influxql.MinTime, EndTime: influxql.MaxTime, Ascending: true, Ordered: true,
	}
	itr, err := store.ShardGroup([]uint64{id}).CreateIterator(context.Background(), &influxql.Measurement{Database: "db", Name: "cpu"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if itr == nil {
		return 0
	}
	defer itr.Close()
	var n int64
	for {
		p, err := itr.(query.IntegerIterator).Next()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return n
		}
		n += p.Value
	}
}

// TestReleasingIdleShardsLosesNoWrite performs the race that tsdb.Store's
// own monitor loses writes to: the first write into a new shard (idle until
// then) while idle shards are released over and over. Every write must be
// read back. With the release not holding the shard's writes off (the
// store's monitor), writes land in a cache that is then thrown away and
// this test fails within a few shards.
func TestReleasingIdleShardsLosesNoWrite(t *testing.T) {
	store := openTestStore(t)
	w := newShardWriter(store, slog.New(slog.DiscardHandler))
	stop := make(chan struct{})
	var rounds atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			w.releaseIdle()
			rounds.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()

	const shards = 40
	ts := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for id := uint64(1); id <= shards; id++ {
		if err := w.CreateShard("db", "rp", id, true); err != nil {
			t.Fatal(err)
		}
		// Let a release round find the new shard idle.
		for r := rounds.Load(); rounds.Load() < r+2; {
			time.Sleep(10 * time.Microsecond)
		}
		pt := models.MustNewPoint("cpu", models.NewTags(map[string]string{"host": fmt.Sprint(id)}), models.Fields{"v": 1.0}, ts)
		if err := w.WriteToShard(tsdb.WriteContext{}, id, []models.Point{pt}); err != nil {
			t.Fatal(err)
		}
		if n := countV(t, store, id); n != 1 {
			t.Fatalf("shard %d: the acknowledged point reads back %d times (release rounds so far: %d)", id, n, rounds.Load())
		}
	}
	// Written shards are not idle: no release may have thrown their
	// caches away since.
	for id := uint64(1); id <= shards; id++ {
		if n := countV(t, store, id); n != 1 {
			t.Fatalf("shard %d: the point reads back %d times after later releases", id, n)
		}
	}
}
