package hh

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/palisade-db/palisade/configs"
)

// Defaults: InfluxDB Enterprise 1.x's [hinted-handoff] defaults, but for
// the two bounds Enterprise does not have, and SegmentSize and
// ReplayBatchBytes, which are not configuration keys. max-total-size is one
// destination's max-size: one node down costs what it did, several share
// that much instead of taking (nodes-1) × 10 GiB of a disk that is seldom
// that large. min-free-space keeps the queues from taking a disk's last
// bytes, which the engine's WAL, compactions and state files need.
const (
	DefaultMaxSize          = 10 << 30  // 10 GiB
	DefaultMaxTotalSize     = 10 << 30  // 10 GiB
	DefaultMinFreeSpace     = 100 << 20 // 100 MiB
	DefaultMaxAge           = 168 * time.Hour
	DefaultRetryConcurrency = 20
	DefaultRetryInterval    = time.Second
	DefaultRetryMaxInterval = 10 * time.Second
	DefaultPurgeInterval    = time.Minute
	DefaultSegmentSize      = 10 << 20 // 10 MiB
	DefaultReplayBatchBytes = 4 << 20  // 4 MiB
)

// Config is a data node's [hinted-handoff] table, with InfluxDB
// Enterprise's keys, and what the queues need besides (the fields tagged
// toml:"-"). Given to Open directly, a zero field takes its default, except
// MaxTotalSize and MinFreeSpace, for which zero means no limit.
type Config struct {
	// Enabled queues writes for owners that do not acknowledge them; the
	// node opens no queues without it.
	Enabled bool `toml:"enabled"`
	// Dir holds one subdirectory per destination node. When neither the
	// file nor the environment sets it, it is "hh" beside [data] dir (in
	// [data] dir's parent), so that nodes with their own data directories
	// get their own queues too.
	Dir string `toml:"dir"`
	// MaxSize bounds each destination's queue, in bytes; a write whose
	// points for an owner would exceed it fails with 503.
	MaxSize configs.Size `toml:"max-size"`
	// MaxTotalSize bounds all destinations' queues together, in bytes
	// (Palisade's; Enterprise has no such bound); 0: only MaxSize bounds
	// them.
	MaxTotalSize configs.Size `toml:"max-total-size"`
	// MinFreeSpace: an append that would leave less than this many bytes
	// available on the filesystem of Dir is refused (503), so that the
	// queues never take a disk's last bytes; 0: the filesystem is not
	// asked.
	MinFreeSpace configs.Size     `toml:"min-free-space"`
	MaxAge       configs.Duration `toml:"max-age"` // older records are dropped (counted, logged)
	// RetryConcurrency: destinations replayed at the same time.
	RetryConcurrency int `toml:"retry-concurrency"`
	// RetryRateLimit: payload bytes per second replayed to one
	// destination, 0 = unlimited.
	RetryRateLimit   configs.Size     `toml:"retry-rate-limit"`
	RetryInterval    configs.Duration `toml:"retry-interval"`     // first retry delay
	RetryMaxInterval configs.Duration `toml:"retry-max-interval"` // cap of the doubling delay
	// PurgeInterval: how often max-age, and the filter given to
	// SetPurgeFilter, are applied to queues whose node does not answer.
	PurgeInterval configs.Duration `toml:"purge-interval"`

	SegmentSize int64 `toml:"-"` // segment files roll past this size; DefaultSegmentSize
	// DirLocked: the caller holds Dir's lock (internal/dirlock) and Open
	// does not take it. A data node locks all its directories before it
	// opens anything.
	DirLocked bool `toml:"-"`
	// ReplayBatchBytes: with a BatchSender, replay reads records until
	// their payloads reach this many bytes (or 64 records) and hands them
	// over in one SendBatch call; at most RetryRateLimit bytes when that is
	// lower. It bounds a node's replay memory (plus one record).
	// DefaultReplayBatchBytes.
	ReplayBatchBytes int64 `toml:"-"`

	Logger *slog.Logger     `toml:"-"` // slog.Default() when nil
	Now    func() time.Time `toml:"-"` // enqueue times and ages; time.Now when nil (tests)
}

// NewConfig returns [hinted-handoff]'s defaults, the queues in
// $HOME/.palisade/hh (resolved now).
func NewConfig() Config {
	return Config{
		Enabled:          true,
		Dir:              configs.DefaultDir("hh"),
		MaxSize:          DefaultMaxSize,
		MaxTotalSize:     DefaultMaxTotalSize,
		MinFreeSpace:     DefaultMinFreeSpace,
		MaxAge:           configs.Duration(DefaultMaxAge),
		RetryConcurrency: DefaultRetryConcurrency,
		RetryInterval:    configs.Duration(DefaultRetryInterval),
		RetryMaxInterval: configs.Duration(DefaultRetryMaxInterval),
		PurgeInterval:    configs.Duration(DefaultPurgeInterval),
	}
}

// Validate checks the [hinted-handoff] table alone; the node's Validate
// checks Dir against its other directories.
func (c Config) Validate() error {
	var p configs.Problems
	if c.Enabled {
		p.Dir("hinted-handoff.dir", c.Dir)
	}
	if c.MaxSize == 0 {
		p.Add("hinted-handoff.max-size", "must be greater than 0")
	}
	if c.MaxAge <= 0 {
		p.Add("hinted-handoff.max-age", "%s must be greater than 0", c.MaxAge)
	}
	if c.RetryConcurrency < 1 {
		p.Add("hinted-handoff.retry-concurrency", "%d must be at least 1", c.RetryConcurrency)
	}
	if c.RetryInterval <= 0 {
		p.Add("hinted-handoff.retry-interval", "%s must be greater than 0", c.RetryInterval)
	}
	if c.RetryMaxInterval <= 0 {
		p.Add("hinted-handoff.retry-max-interval", "%s must be greater than 0", c.RetryMaxInterval)
	} else if c.RetryInterval > c.RetryMaxInterval {
		p.Add("hinted-handoff.retry-interval", "%s must not exceed hinted-handoff.retry-max-interval (%s)",
			c.RetryInterval, c.RetryMaxInterval)
	}
	if c.PurgeInterval <= 0 {
		p.Add("hinted-handoff.purge-interval", "%s must be greater than 0", c.PurgeInterval)
	}
	return p.Err()
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("hh: Config.Dir is empty")
	}
	// A Size fits in 63 bits, so the counts the queues compare with int64
	// byte counts never wrap.
	c.MaxSize = min(c.MaxSize, math.MaxInt64)
	c.MaxTotalSize = min(c.MaxTotalSize, math.MaxInt64)
	c.MinFreeSpace = min(c.MinFreeSpace, math.MaxInt64)
	c.RetryRateLimit = min(c.RetryRateLimit, math.MaxInt64)
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxAge <= 0 {
		c.MaxAge = configs.Duration(DefaultMaxAge)
	}
	if c.RetryConcurrency <= 0 {
		c.RetryConcurrency = DefaultRetryConcurrency
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = configs.Duration(DefaultRetryInterval)
	}
	if c.RetryMaxInterval <= 0 {
		c.RetryMaxInterval = configs.Duration(DefaultRetryMaxInterval)
	}
	// A first delay above the cap would make the second retry come sooner
	// than the first.
	c.RetryInterval = min(c.RetryInterval, c.RetryMaxInterval)
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = configs.Duration(DefaultPurgeInterval)
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
