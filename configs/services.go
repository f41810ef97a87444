package configs

import "time"

// RetentionSection is the [retention] table (InfluxDB's keys): the meta
// leader deletes the shard groups whose end is older than their retention
// policy's duration. It takes effect on meta nodes, and on a standalone data
// node (its embedded meta store); a clustered data node ignores it.
type RetentionSection struct {
	Enabled       bool     `toml:"enabled"`
	CheckInterval Duration `toml:"check-interval"`
}

// ShardPrecreationSection is the [shard-precreation] table (InfluxDB's
// keys): the meta leader creates a policy's next shard group when its newest
// one ends within advance-period. Where it takes effect: as [retention].
type ShardPrecreationSection struct {
	Enabled       bool     `toml:"enabled"`
	CheckInterval Duration `toml:"check-interval"`
	AdvancePeriod Duration `toml:"advance-period"`
}

// InfluxDB's defaults.
const (
	DefaultRetentionCheckInterval   = 30 * time.Minute
	DefaultPrecreationCheckInterval = 10 * time.Minute
	DefaultPrecreationAdvancePeriod = 30 * time.Minute
)

// NewRetention returns [retention]'s defaults.
func NewRetention() RetentionSection {
	return RetentionSection{Enabled: true, CheckInterval: Duration(DefaultRetentionCheckInterval)}
}

// NewShardPrecreation returns [shard-precreation]'s defaults.
func NewShardPrecreation() ShardPrecreationSection {
	return ShardPrecreationSection{Enabled: true, CheckInterval: Duration(DefaultPrecreationCheckInterval),
		AdvancePeriod: Duration(DefaultPrecreationAdvancePeriod)}
}

// Interval is how often retention runs: 0 when it is disabled.
func (r RetentionSection) Interval() time.Duration {
	if !r.Enabled {
		return 0
	}
	return time.Duration(r.CheckInterval)
}

// Interval is how often precreation runs: 0 when it is disabled.
func (s ShardPrecreationSection) Interval() time.Duration {
	if !s.Enabled {
		return 0
	}
	return time.Duration(s.CheckInterval)
}

// Validate checks the [retention] table.
func (r RetentionSection) Validate() error {
	var p Problems
	if r.Enabled && r.CheckInterval <= 0 {
		p.Add("retention.check-interval", "must be greater than 0 while retention.enabled is true")
	}
	return p.Err()
}

// Validate checks the [shard-precreation] table.
func (s ShardPrecreationSection) Validate() error {
	var p Problems
	if s.Enabled {
		if s.CheckInterval <= 0 {
			p.Add("shard-precreation.check-interval", "must be greater than 0 while shard-precreation.enabled is true")
		}
		if s.AdvancePeriod <= 0 {
			p.Add("shard-precreation.advance-period", "must be greater than 0 while shard-precreation.enabled is true")
		}
	}
	return p.Err()
}
