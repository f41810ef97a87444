package cq

import (
	"time"

	"github.com/palisade-db/palisade/configs"
)

// Config is a data node's [continuous_queries] table (InfluxDB's keys):
// every data node runs the service, and the one holding the meta leader's
// lease runs the queries.
type Config struct {
	Enabled bool `toml:"enabled"`
	// LogEnabled logs each run.
	LogEnabled bool `toml:"log-enabled"`
	// RunInterval is how often the queries are looked at.
	RunInterval configs.Duration `toml:"run-interval"`
}

// DefaultRunInterval is InfluxDB's [continuous_queries] run-interval.
const DefaultRunInterval = time.Second

// NewConfig returns [continuous_queries]'s defaults.
func NewConfig() Config {
	return Config{Enabled: true, LogEnabled: true, RunInterval: configs.Duration(DefaultRunInterval)}
}

// Validate checks the [continuous_queries] table.
func (c Config) Validate() error {
	var p configs.Problems
	if c.Enabled && c.RunInterval <= 0 {
		p.Add("continuous_queries.run-interval", "must be greater than 0 while continuous_queries.enabled is true")
	}
	return p.Err()
}
