package hh

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults: InfluxDB Enterprise 1.x's [hinted-handoff] defaults, except
// SegmentSize and ReplayBatchBytes, which are not configuration keys.
const (
	DefaultMaxSize          = 10 << 30 // 10 GiB
	DefaultMaxAge           = 168 * time.Hour
	DefaultRetryConcurrency = 20
	DefaultRetryInterval    = time.Second
	DefaultRetryMaxInterval = 10 * time.Second
	DefaultPurgeInterval    = time.Minute
	DefaultSegmentSize      = 10 << 20 // 10 MiB
	DefaultReplayBatchBytes = 4 << 20  // 4 MiB
)

// Config configures the queues, with InfluxDB Enterprise's [hinted-handoff]
// semantics. A zero field takes its default, except MaxTotalSize and
// MinFreeSpace, for which zero means no limit.
type Config struct {
	Dir     string // one subdirectory per destination node ID
	MaxSize int64  // bytes of records per destination; DefaultMaxSize
	// MaxTotalSize bounds the bytes of records of all destinations
	// together ([hinted-handoff] max-total-size); 0: only MaxSize bounds
	// them.
	MaxTotalSize int64
	// MinFreeSpace: an append that would leave less than this many bytes
	// available on the filesystem of Dir is refused ([hinted-handoff]
	// min-free-space), so that the queues never take a disk's last bytes;
	// 0: the filesystem is not asked.
	MinFreeSpace     int64
	MaxAge           time.Duration // older records are dropped (counted, logged); DefaultMaxAge
	RetryConcurrency int           // destinations replayed at once; DefaultRetryConcurrency
	RetryRateLimit   int64         // payload bytes/s per destination, 0 = unlimited
	RetryInterval    time.Duration // first retry delay; DefaultRetryInterval
	RetryMaxInterval time.Duration // cap of the doubling retry delay; DefaultRetryMaxInterval
	// PurgeInterval: how often max-age, and the filter given to
	// SetPurgeFilter, are applied to queues whose node does not answer.
	// DefaultPurgeInterval.
	PurgeInterval time.Duration
	SegmentSize   int64 // segment files roll past this size; DefaultSegmentSize
	// DirLocked: the caller holds Dir's lock (internal/dirlock) and Open
	// does not take it. A data node locks all its directories before it
	// opens anything.
	DirLocked bool
	// ReplayBatchBytes: with a BatchSender, replay reads records until
	// their payloads reach this many bytes (or 64 records) and hands them
	// over in one SendBatch call; at most RetryRateLimit bytes when that is
	// lower. It bounds a node's replay memory (plus one record).
	// DefaultReplayBatchBytes.
	ReplayBatchBytes int64

	Logger *slog.Logger     // slog.Default() when nil
	Now    func() time.Time // enqueue times and ages; time.Now when nil (tests)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("hh: Config.Dir is empty")
	}
	if c.MaxSize <= 0 {
		c.MaxSize = DefaultMaxSize
	}
	c.MaxTotalSize = max(c.MaxTotalSize, 0)
	c.MinFreeSpace = max(c.MinFreeSpace, 0)
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.RetryConcurrency <= 0 {
		c.RetryConcurrency = DefaultRetryConcurrency
	}
	if c.RetryRateLimit < 0 {
		c.RetryRateLimit = 0
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.RetryMaxInterval <= 0 {
		c.RetryMaxInterval = DefaultRetryMaxInterval
	}
	// A first delay above the cap would make the second retry come sooner
	// than the first.
	c.RetryInterval = min(c.RetryInterval, c.RetryMaxInterval)
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = DefaultPurgeInterval
	}
	if c.SegmentSize <= 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.ReplayBatchBytes <= 0 {
		c.ReplayBatchBytes = DefaultReplayBatchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
