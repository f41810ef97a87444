package engine

import (
	"time"

	"github.com/palisade-db/palisade/configs"
)

// Config is a data node's [data] table: the storage engine.
type Config struct {
	Dir                     string       `toml:"dir"`
	WALDir                  string       `toml:"wal-dir"`
	IndexVersion            string       `toml:"index-version"` // inmem or tsi1
	QueryLogEnabled         bool         `toml:"query-log-enabled"`
	CacheMaxMemorySize      configs.Size `toml:"cache-max-memory-size"`      // bytes per shard, 0 = unlimited
	CacheSnapshotMemorySize configs.Size `toml:"cache-snapshot-memory-size"` // bytes
}

// CoordinatorConfig is a data node's [coordinator] table: the limits of
// writes and queries, which the engine's points writer and query executor
// apply (the cluster writer takes write-timeout too).
type CoordinatorConfig struct {
	WriteTimeout         configs.Duration `toml:"write-timeout"`
	MaxConcurrentQueries int              `toml:"max-concurrent-queries"` // 0 = unlimited
	QueryTimeout         configs.Duration `toml:"query-timeout"`          // 0 = none
	LogQueriesAfter      configs.Duration `toml:"log-queries-after"`      // 0 = never
	MaxSelectPointN      int              `toml:"max-select-point"`       // 0 = unlimited
	MaxSelectSeriesN     int              `toml:"max-select-series"`      // 0 = unlimited
	MaxSelectBucketsN    int              `toml:"max-select-buckets"`     // 0 = unlimited; DefaultMaxSelectBuckets
}

// [data] defaults.
const (
	DefaultIndexVersion            = "tsi1"
	DefaultCacheMaxMemorySize      = 1 << 30  // 1 GiB
	DefaultCacheSnapshotMemorySize = 25 << 20 // 25 MiB
)

// DefaultMaxSelectBuckets bounds the GROUP BY time() buckets of one SELECT
// ([coordinator] max-select-buckets; InfluxDB's default is 0, no limit):
// GROUP BY time(1ns) over an hour asks for 3.6e12 buckets, which a node
// would try to fill. A million is a year of one-minute buckets.
const DefaultMaxSelectBuckets = 1_000_000

// NewConfig returns [data]'s defaults, the directories in
// $HOME/.palisade/{data,wal} (resolved now).
func NewConfig() Config {
	return Config{
		Dir:                     configs.DefaultDir("data"),
		WALDir:                  configs.DefaultDir("wal"),
		IndexVersion:            DefaultIndexVersion,
		CacheMaxMemorySize:      DefaultCacheMaxMemorySize,
		CacheSnapshotMemorySize: DefaultCacheSnapshotMemorySize,
	}
}

// NewCoordinatorConfig returns [coordinator]'s defaults.
func NewCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{
		WriteTimeout:      configs.Duration(10 * time.Second),
		MaxSelectBucketsN: DefaultMaxSelectBuckets,
	}
}

// Validate checks the [data] table alone; the node's Validate checks its
// directories against the other tables'.
func (c Config) Validate() error {
	var p configs.Problems
	p.Dir("data.dir", c.Dir)
	p.Dir("data.wal-dir", c.WALDir)
	p.DistinctDirs("data.dir", c.Dir, "data.wal-dir", c.WALDir)
	switch c.IndexVersion {
	case "inmem", "tsi1":
	default:
		p.Add("data.index-version", "%q is not one of inmem, tsi1", c.IndexVersion)
	}
	if c.CacheSnapshotMemorySize == 0 {
		p.Add("data.cache-snapshot-memory-size", "must be greater than 0")
	}
	if c.CacheMaxMemorySize != 0 && c.CacheSnapshotMemorySize > c.CacheMaxMemorySize {
		p.Add("data.cache-snapshot-memory-size", "%d must not exceed data.cache-max-memory-size (%d)",
			c.CacheSnapshotMemorySize, c.CacheMaxMemorySize)
	}
	return p.Err()
}

// Validate checks the [coordinator] table.
func (c CoordinatorConfig) Validate() error {
	var p configs.Problems
	if c.WriteTimeout <= 0 {
		p.Add("coordinator.write-timeout", "%s must be greater than 0", c.WriteTimeout)
	}
	p.NonNegative("coordinator.max-concurrent-queries", c.MaxConcurrentQueries)
	p.NonNegativeDuration("coordinator.query-timeout", c.QueryTimeout)
	p.NonNegativeDuration("coordinator.log-queries-after", c.LogQueriesAfter)
	p.NonNegative("coordinator.max-select-point", c.MaxSelectPointN)
	p.NonNegative("coordinator.max-select-series", c.MaxSelectSeriesN)
	p.NonNegative("coordinator.max-select-buckets", c.MaxSelectBucketsN)
	return p.Err()
}
