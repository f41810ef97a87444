package data

import (
	"path/filepath"
	"slices"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data/cq"
	"github.com/palisade-db/palisade/data/engine"
	"github.com/palisade-db/palisade/data/hh"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/data/metastate"
)

// Config is the configuration of a data node (palisade-data): one table per
// service, each defined, defaulted and validated beside the service it
// configures (as influxd's services/*/config.go); configs.Load reads a file
// and the environment into it. Validate adds the checks across tables.
type Config struct {
	// Hostname is advertised to the other nodes, with the ports of the bind
	// addresses (see HTTPAddr, TCPAddr).
	Hostname    string                   `toml:"hostname"`
	Meta        metastate.Config         `toml:"meta"`
	Data        engine.Config            `toml:"data"`
	HTTP        httpd.Config             `toml:"http"`
	Cluster     cluster.Config           `toml:"cluster"`
	Coordinator engine.CoordinatorConfig `toml:"coordinator"`
	// HintedHandoff queues writes for shard owners that do not answer.
	HintedHandoff hh.Config `toml:"hinted-handoff"`
	// Retention and ShardPrecreation take effect in standalone mode; in a
	// cluster the meta nodes' sections do.
	Retention        configs.RetentionSection        `toml:"retention"`
	ShardPrecreation configs.ShardPrecreationSection `toml:"shard-precreation"`
	// ContinuousQueries runs CREATE CONTINUOUS QUERY statements.
	ContinuousQueries cq.Config       `toml:"continuous_queries"`
	Logging           configs.Logging `toml:"logging"`
}

// NewConfig returns a data node configuration holding the defaults. The
// directories default to $HOME/.palisade/{meta,data,wal,hh}, resolved now;
// LoadConfig puts [hinted-handoff] dir beside the [data] dir it loaded
// unless it was set (DeriveHintedHandoffDir).
func NewConfig() *Config {
	return &Config{
		Hostname:          configs.DefaultHostname,
		Meta:              metastate.NewConfig(),
		Data:              engine.NewConfig(),
		HTTP:              httpd.NewConfig(),
		Cluster:           cluster.NewConfig(),
		Coordinator:       engine.NewCoordinatorConfig(),
		HintedHandoff:     hh.NewConfig(),
		Retention:         configs.NewRetention(),
		ShardPrecreation:  configs.NewShardPrecreation(),
		ContinuousQueries: cq.NewConfig(),
		Logging:           configs.NewLogging(),
	}
}

// LoadConfig returns the defaults, overridden by the TOML file at path
// (unless path is "") and then by the INFLUXDB_* variables in environ
// (os.Environ form). It does not call Validate. It drops the warnings about
// accepted but unimplemented settings: a node should call
// LoadConfigWithWarnings and log them.
func LoadConfig(path string, environ []string) (*Config, error) {
	c, _, err := LoadConfigWithWarnings(path, environ)
	return c, err
}

// LoadConfigWithWarnings is LoadConfig that also returns a Warning for each
// setting of the file or environment that Palisade accepts but does not
// implement yet (keys of influxd and InfluxDB Enterprise data nodes). Log
// each one.
func LoadConfigWithWarnings(path string, environ []string) (*Config, []configs.Warning, error) {
	return configs.Load(NewConfig(), path, environ)
}

// Known lists the keys of influxd and InfluxDB Enterprise data node files
// that are not Palisade's (see configs.File).
func (c *Config) Known() *configs.Catalog { return configs.DataKnown }

// Loaded completes c once the file and environment are read (see
// configs.File).
func (c *Config) Loaded(set func(key string) bool) {
	c.Logging.Normalize()
	if !set("hinted-handoff.dir") {
		c.DeriveHintedHandoffDir()
	}
}

// Validate reports every invalid setting; each error is a *configs.KeyError
// naming the key. Each table checks itself; the checks here span tables.
func (c *Config) Validate() error {
	var p configs.Problems
	p.Hostname("hostname", c.Hostname)

	m, d, h, hc := &c.Meta, &c.Data, &c.HTTP, &c.HintedHandoff
	p.Include(m.Validate())
	p.Include(d.Validate())
	p.DistinctDirs("meta.dir", m.Dir, "data.dir", d.Dir)
	p.DistinctDirs("meta.dir", m.Dir, "data.wal-dir", d.WALDir)

	p.Include(h.Validate())
	// With the secret empty, the data service on [cluster] bind-address
	// takes reads and writes from anyone who reaches it, past every check
	// of the HTTP API.
	if !m.Standalone() && h.AuthEnabled && m.MetaInternalSharedSecret == "" {
		p.Add("meta.meta-internal-shared-secret", "is empty while http.auth-enabled is on: anyone who reaches "+
			"[cluster] bind-address could read and write every database; set it to the meta nodes' "+
			"internal-shared-secret (INFLUXDB_META_META_INTERNAL_SHARED_SECRET, e.g. from `openssl rand -hex 32`)")
	}
	// Using one value for both secrets would let anyone who can sign client
	// tokens also pass as a cluster node, and the reverse.
	if h.SharedSecret != "" && h.SharedSecret == m.MetaInternalSharedSecret {
		p.Add("http.shared-secret", "must differ from meta.meta-internal-shared-secret: "+
			"the first verifies client JWTs, the second protects node-to-node traffic")
	}

	p.Include(c.Cluster.Validate())
	p.DistinctListeners("http.bind-address", h.BindAddress, "cluster.bind-address", c.Cluster.BindAddress)
	p.Include(c.Coordinator.Validate())

	p.Include(hc.Validate())
	if hc.Enabled {
		for _, other := range []struct{ key, dir string }{
			{"meta.dir", m.Dir}, {"data.dir", d.Dir}, {"data.wal-dir", d.WALDir},
		} {
			p.DistinctDirs(other.key, other.dir, "hinted-handoff.dir", hc.Dir)
		}
	}

	p.Include(c.Retention.Validate())
	p.Include(c.ShardPrecreation.Validate())
	p.Include(c.ContinuousQueries.Validate())
	p.Include(c.Logging.Validate())
	return p.Err()
}

// DeriveHintedHandoffDir sets [hinted-handoff] dir to "hh" in the parent of
// [data] dir: ~/.palisade/data gives ~/.palisade/hh (the default), and
// /var/lib/palisade/data gives /var/lib/palisade/hh. Loaded calls it when
// neither the file nor the environment sets the key, so that two nodes
// given their own [data] dir on one host do not share one queue directory.
func (c *Config) DeriveHintedHandoffDir() {
	c.HintedHandoff.Dir = filepath.Join(filepath.Dir(filepath.Clean(c.Data.Dir)), "hh")
}

// LegacyHintedHandoffDir is the [hinted-handoff] dir that every data node
// defaulted to before the default followed [data] dir: $HOME/.palisade/hh.
// A node upgraded with a [data] dir elsewhere and no [hinted-handoff] dir
// may have left queued writes there.
func LegacyHintedHandoffDir() string { return configs.DefaultDir("hh") }

// Standalone reports whether the node runs without meta nodes, with an
// embedded meta store (meta.servers is empty).
func (c *Config) Standalone() bool { return c.Meta.Standalone() }

// HTTPAddr returns the client API address advertised to other nodes:
// Hostname with the port of http.bind-address ("" if it has none).
func (c *Config) HTTPAddr() string { return configs.Advertise(c.Hostname, c.HTTP.BindAddress) }

// TCPAddr returns the data-node gRPC address advertised to other nodes:
// Hostname with the port of cluster.bind-address ("" if it has none).
func (c *Config) TCPAddr() string { return configs.Advertise(c.Hostname, c.Cluster.BindAddress) }

// Redacted returns a copy of c whose non-empty secrets read "REDACTED", for
// printing or logging.
func (c *Config) Redacted() *Config {
	r := *c
	r.Meta.Servers = slices.Clone(c.Meta.Servers)
	configs.Redact(&r)
	return &r
}
