package configs

import (
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Data is the configuration of a data node (palisade-data).
type Data struct {
	// Hostname is advertised to the other nodes, with the ports of the bind
	// addresses (see HTTPAddr, TCPAddr).
	Hostname    string             `toml:"hostname"`
	Meta        DataMetaSection    `toml:"meta"`
	Data        DataSection        `toml:"data"`
	HTTP        HTTPSection        `toml:"http"`
	Cluster     ClusterSection     `toml:"cluster"`
	Coordinator CoordinatorSection `toml:"coordinator"`
	// HintedHandoff queues writes for shard owners that do not answer.
	HintedHandoff HintedHandoffSection `toml:"hinted-handoff"`
	// Retention and ShardPrecreation take effect in standalone mode; in a
	// cluster the meta nodes' sections do.
	Retention        RetentionSection        `toml:"retention"`
	ShardPrecreation ShardPrecreationSection `toml:"shard-precreation"`
	// ContinuousQueries runs CREATE CONTINUOUS QUERY statements.
	ContinuousQueries ContinuousQueriesSection `toml:"continuous_queries"`
	Logging           Logging                  `toml:"logging"`
}

// DataMetaSection is the [meta] table of a data node: how it reaches the
// meta nodes, and where it keeps its copy of the meta state.
type DataMetaSection struct {
	// Dir holds the embedded meta store in standalone mode and the last meta
	// state received from the meta nodes.
	Dir string `toml:"dir"`
	// Servers are the gRPC MetaService addresses (host:port) of the meta
	// nodes; empty means standalone, with an embedded meta store.
	Servers []string `toml:"servers"`
	// MetaInternalSharedSecret authenticates node-to-node gRPC and must equal
	// the meta nodes' internal-shared-secret. It is not [http] shared-secret.
	MetaInternalSharedSecret string `toml:"meta-internal-shared-secret"`
	MetaTLSEnabled           bool   `toml:"meta-tls-enabled"`
	MetaInsecureTLS          bool   `toml:"meta-insecure-tls"`
	PasswordHashCost         int    `toml:"password-hash-cost"` // bcrypt, embedded meta store
	// MaxStateStaleness: with auth enabled, requests are refused (503) once
	// the node has not confirmed its meta state current for this long.
	// 0 = never.
	MaxStateStaleness Duration `toml:"max-state-staleness"`
}

// DataSection is the [data] table: the storage engine.
type DataSection struct {
	Dir                     string `toml:"dir"`
	WALDir                  string `toml:"wal-dir"`
	IndexVersion            string `toml:"index-version"` // inmem or tsi1
	QueryLogEnabled         bool   `toml:"query-log-enabled"`
	CacheMaxMemorySize      uint64 `toml:"cache-max-memory-size"`      // bytes per shard, 0 = unlimited
	CacheSnapshotMemorySize uint64 `toml:"cache-snapshot-memory-size"` // bytes
}

// HTTPSection is the [http] table: the client API.
type HTTPSection struct {
	BindAddress     string `toml:"bind-address"`
	AuthEnabled     bool   `toml:"auth-enabled"`
	PingAuthEnabled bool   `toml:"ping-auth-enabled"`
	// SharedSecret verifies the JWTs clients send as Bearer tokens; empty
	// disables Bearer authentication. It is not the internal secret.
	SharedSecret            string   `toml:"shared-secret"`
	JWTLeeway               Duration `toml:"jwt-leeway"`
	MaxBodySize             int      `toml:"max-body-size"`              // bytes, 0 = unlimited
	MaxConcurrentWriteLimit int      `toml:"max-concurrent-write-limit"` // 0 = unlimited
	LogEnabled              bool     `toml:"log-enabled"`                // access log
	HTTPSEnabled            bool     `toml:"https-enabled"`
	HTTPSCertificate        string   `toml:"https-certificate"`
	HTTPSPrivateKey         string   `toml:"https-private-key"` // default: HTTPSCertificate
	// AuthFailureThreshold is how many failed logins for one user from one
	// client, within AuthFailureWindow, are answered before 429.
	AuthFailureThreshold int `toml:"auth-failure-threshold"`
	// AuthClientFailureThreshold is how many failed logins from one client,
	// whatever the user names, within AuthFailureWindow, are answered before
	// its logins that need bcrypt get 429. Remembered passwords still pass.
	AuthClientFailureThreshold int      `toml:"auth-client-failure-threshold"`
	AuthFailureWindow          Duration `toml:"auth-failure-window"`
	// MaxQuerySize bounds a /query's query text (q), in bytes; a larger
	// one gets 413 before it is parsed. 0 = unlimited.
	MaxQuerySize int `toml:"max-query-size"`
	// ShutdownTimeout bounds the wait for in-flight requests at SIGTERM.
	ShutdownTimeout Duration `toml:"shutdown-timeout"`
	// PprofEnabled serves /debug/pprof/ (admins only while auth is on).
	PprofEnabled bool `toml:"pprof-enabled"`
	// PprofAuthEnabled puts /debug/vars behind an admin's credentials while
	// auth is on (InfluxDB's key; /debug/pprof always is).
	PprofAuthEnabled bool `toml:"pprof-auth-enabled"`
}

// ClusterSection is the [cluster] table: gRPC between data nodes.
type ClusterSection struct {
	// BindAddress serves the data nodes' gRPC service (shard writes, and
	// remote reads later); its port is advertised to the other nodes.
	BindAddress string `toml:"bind-address"`
	// HTTPSEnabled serves the data service with TLS, and makes this node dial
	// the other data nodes with TLS. InfluxDB Enterprise's key names.
	HTTPSEnabled     bool   `toml:"https-enabled"`
	HTTPSCertificate string `toml:"https-certificate"`
	HTTPSPrivateKey  string `toml:"https-private-key"` // default: HTTPSCertificate
	// HTTPSInsecureTLS skips verifying the other data nodes' certificates.
	HTTPSInsecureTLS bool `toml:"https-insecure-tls"`
}

// CoordinatorSection is the [coordinator] table: writes and queries.
type CoordinatorSection struct {
	WriteTimeout         Duration `toml:"write-timeout"`
	MaxConcurrentQueries int      `toml:"max-concurrent-queries"` // 0 = unlimited
	QueryTimeout         Duration `toml:"query-timeout"`          // 0 = none
	LogQueriesAfter      Duration `toml:"log-queries-after"`      // 0 = never
	MaxSelectPointN      int      `toml:"max-select-point"`       // 0 = unlimited
	MaxSelectSeriesN     int      `toml:"max-select-series"`      // 0 = unlimited
	MaxSelectBucketsN    int      `toml:"max-select-buckets"`     // 0 = unlimited; DefaultMaxSelectBuckets
}

// HintedHandoffSection is the [hinted-handoff] table: the durable queues of
// writes for shard owners that did not acknowledge them (package data/hh),
// with InfluxDB Enterprise's keys and defaults.
type HintedHandoffSection struct {
	Enabled bool `toml:"enabled"`
	// Dir holds one subdirectory per destination node. When neither the
	// file nor the environment sets it, it is "hh" beside [data] dir (in
	// [data] dir's parent), so that nodes with their own data directories
	// get their own queues too.
	Dir string `toml:"dir"`
	// MaxSize bounds each destination's queue, in bytes; a write whose
	// points for an owner would exceed it fails with 503.
	MaxSize uint64 `toml:"max-size"`
	// MaxTotalSize bounds all destinations' queues together, in bytes
	// (Palisade's; Enterprise has no such bound); 0 = no bound but max-size.
	MaxTotalSize uint64 `toml:"max-total-size"`
	// MinFreeSpace: a write whose points would leave less than this many
	// bytes free on the disk of Dir is not queued (503); 0 = not checked.
	MinFreeSpace uint64   `toml:"min-free-space"`
	MaxAge       Duration `toml:"max-age"` // older queued writes are dropped
	// RetryConcurrency: destinations replayed at the same time.
	RetryConcurrency int `toml:"retry-concurrency"`
	// RetryRateLimit: bytes per second replayed to one destination,
	// 0 = unlimited.
	RetryRateLimit   uint64   `toml:"retry-rate-limit"`
	RetryInterval    Duration `toml:"retry-interval"`     // first retry delay
	RetryMaxInterval Duration `toml:"retry-max-interval"` // cap of the doubling delay
	// PurgeInterval: how often max-age is applied and the queues of removed
	// nodes and the writes of deleted shards are dropped.
	PurgeInterval Duration `toml:"purge-interval"`
}

// DefaultMaxSelectBuckets bounds the GROUP BY time() buckets of one SELECT
// ([coordinator] max-select-buckets; InfluxDB's default is 0, no limit):
// GROUP BY time(1ns) over an hour asks for 3.6e12 buckets, which a node
// would try to fill. A million is a year of one-minute buckets.
const DefaultMaxSelectBuckets = 1_000_000

// Data node defaults that are not ports.
const (
	DefaultIndexVersion               = "tsi1"
	DefaultCacheMaxMemorySize         = 1 << 30  // 1 GiB
	DefaultCacheSnapshotMemorySize    = 25 << 20 // 25 MiB
	DefaultMaxBodySize                = 25000000
	DefaultAuthFailureThreshold       = 10
	DefaultAuthClientFailureThreshold = 100
	DefaultMaxQuerySize               = 1 << 20 // 1 MiB

	// [hinted-handoff], InfluxDB Enterprise's defaults, but for the two
	// bounds Enterprise does not have. max-total-size is one destination's
	// max-size: one node down costs what it did, several share that much
	// instead of taking (nodes-1) × 10 GiB of a disk that is seldom that
	// large. min-free-space keeps the queues from taking a disk's last
	// bytes, which the engine's WAL, compactions and state files need.
	DefaultHintedHandoffMaxSize          = 10 << 30  // 10 GiB
	DefaultHintedHandoffMaxTotalSize     = 10 << 30  // 10 GiB
	DefaultHintedHandoffMinFreeSpace     = 100 << 20 // 100 MiB
	DefaultHintedHandoffMaxAge           = 168 * time.Hour
	DefaultHintedHandoffRetryConcurrency = 20
	DefaultHintedHandoffRetryInterval    = time.Second
	DefaultHintedHandoffRetryMaxInterval = 10 * time.Second
	DefaultHintedHandoffPurgeInterval    = time.Minute
)

// NewData returns a data node configuration holding the defaults. The
// directories default to $HOME/.palisade/{meta,data,wal,hh}, resolved now;
// LoadData puts [hinted-handoff] dir beside the [data] dir it loaded unless
// it was set (DeriveHintedHandoffDir).
func NewData() *Data {
	return &Data{
		Hostname: DefaultHostname,
		Meta: DataMetaSection{
			Dir:              defaultDir("meta"),
			Servers:          []string{},
			PasswordHashCost: DefaultPasswordHashCost,
		},
		Data: DataSection{
			Dir:                     defaultDir("data"),
			WALDir:                  defaultDir("wal"),
			IndexVersion:            DefaultIndexVersion,
			CacheMaxMemorySize:      DefaultCacheMaxMemorySize,
			CacheSnapshotMemorySize: DefaultCacheSnapshotMemorySize,
		},
		HTTP: HTTPSection{
			BindAddress:                ":" + strconv.Itoa(DefaultHTTPPort),
			MaxBodySize:                DefaultMaxBodySize,
			LogEnabled:                 true,
			AuthFailureThreshold:       DefaultAuthFailureThreshold,
			AuthClientFailureThreshold: DefaultAuthClientFailureThreshold,
			AuthFailureWindow:          Duration(time.Minute),
			MaxQuerySize:               DefaultMaxQuerySize,
			ShutdownTimeout:            Duration(10 * time.Second),
			PprofEnabled:               true,
		},
		Cluster: ClusterSection{
			BindAddress: ":" + strconv.Itoa(DefaultClusterPort),
		},
		Coordinator: CoordinatorSection{
			WriteTimeout:      Duration(10 * time.Second),
			MaxSelectBucketsN: DefaultMaxSelectBuckets,
		},
		HintedHandoff: HintedHandoffSection{
			Enabled:          true,
			Dir:              defaultDir("hh"),
			MaxSize:          DefaultHintedHandoffMaxSize,
			MaxTotalSize:     DefaultHintedHandoffMaxTotalSize,
			MinFreeSpace:     DefaultHintedHandoffMinFreeSpace,
			MaxAge:           Duration(DefaultHintedHandoffMaxAge),
			RetryConcurrency: DefaultHintedHandoffRetryConcurrency,
			RetryInterval:    Duration(DefaultHintedHandoffRetryInterval),
			RetryMaxInterval: Duration(DefaultHintedHandoffRetryMaxInterval),
			PurgeInterval:    Duration(DefaultHintedHandoffPurgeInterval),
		},
		Retention:         newRetention(),
		ShardPrecreation:  newShardPrecreation(),
		ContinuousQueries: newContinuousQueries(),
		Logging:           newLogging(),
	}
}

// LoadData returns the defaults, overridden by the TOML file at path (unless
// path is "") and then by the INFLUXDB_* variables in environ (os.Environ
// form). It does not call Validate. It drops the warnings about accepted
// but unimplemented settings: a node should call LoadDataWithWarnings and log
// them.
func LoadData(path string, environ []string) (*Data, error) {
	return load(NewData(), path, environ)
}

// Validate reports every invalid setting; each error is a *KeyError naming
// the key.
func (c *Data) Validate() error {
	var p problems
	p.hostname("hostname", c.Hostname)

	m := &c.Meta
	p.dir("meta.dir", m.Dir)
	p.peerAddrs("meta.servers", m.Servers)
	p.hashCost("meta.password-hash-cost", m.PasswordHashCost)
	if m.MaxStateStaleness < 0 {
		p.add("meta.max-state-staleness", "must not be negative")
	}

	d := &c.Data
	p.dir("data.dir", d.Dir)
	p.dir("data.wal-dir", d.WALDir)
	p.distinctDirs("data.dir", d.Dir, "data.wal-dir", d.WALDir)
	p.distinctDirs("meta.dir", m.Dir, "data.dir", d.Dir)
	p.distinctDirs("meta.dir", m.Dir, "data.wal-dir", d.WALDir)
	switch d.IndexVersion {
	case "inmem", "tsi1":
	default:
		p.add("data.index-version", "%q is not one of inmem, tsi1", d.IndexVersion)
	}
	if d.CacheSnapshotMemorySize == 0 {
		p.add("data.cache-snapshot-memory-size", "must be greater than 0")
	}
	if d.CacheMaxMemorySize != 0 && d.CacheSnapshotMemorySize > d.CacheMaxMemorySize {
		p.add("data.cache-snapshot-memory-size", "%d must not exceed data.cache-max-memory-size (%d)",
			d.CacheSnapshotMemorySize, d.CacheMaxMemorySize)
	}

	h := &c.HTTP
	p.listenAddr("http.bind-address", h.BindAddress)
	// With the secret empty, the data service on [cluster] bind-address
	// takes reads and writes from anyone who reaches it, past every check
	// of the HTTP API.
	if len(m.Servers) > 0 && h.AuthEnabled && m.MetaInternalSharedSecret == "" {
		p.add("meta.meta-internal-shared-secret", "is empty while http.auth-enabled is on: anyone who reaches "+
			"[cluster] bind-address could read and write every database; set it to the meta nodes' "+
			"internal-shared-secret (INFLUXDB_META_META_INTERNAL_SHARED_SECRET, e.g. from `openssl rand -hex 32`)")
	}
	// Using one value for both secrets would let anyone who can sign client
	// tokens also pass as a cluster node, and the reverse.
	if h.SharedSecret != "" && h.SharedSecret == m.MetaInternalSharedSecret {
		p.add("http.shared-secret", "must differ from meta.meta-internal-shared-secret: "+
			"the first verifies client JWTs, the second protects node-to-node traffic")
	}
	p.nonNegativeDuration("http.jwt-leeway", h.JWTLeeway)
	p.nonNegative("http.max-body-size", h.MaxBodySize)
	p.nonNegative("http.max-concurrent-write-limit", h.MaxConcurrentWriteLimit)
	p.https("http.", h.HTTPSEnabled, h.HTTPSCertificate)
	if h.AuthFailureThreshold < 1 {
		p.add("http.auth-failure-threshold", "%d must be at least 1", h.AuthFailureThreshold)
	}
	if h.AuthClientFailureThreshold < 1 {
		p.add("http.auth-client-failure-threshold", "%d must be at least 1", h.AuthClientFailureThreshold)
	}
	p.nonNegative("http.max-query-size", h.MaxQuerySize)
	if h.AuthFailureWindow <= 0 {
		p.add("http.auth-failure-window", "%s must be greater than 0", h.AuthFailureWindow)
	}
	if h.ShutdownTimeout <= 0 {
		p.add("http.shutdown-timeout", "%s must be greater than 0", h.ShutdownTimeout)
	}

	p.listenAddr("cluster.bind-address", c.Cluster.BindAddress)
	p.https("cluster.", c.Cluster.HTTPSEnabled, c.Cluster.HTTPSCertificate)
	p.distinctListeners("http.bind-address", h.BindAddress, "cluster.bind-address", c.Cluster.BindAddress)

	q := &c.Coordinator
	if q.WriteTimeout <= 0 {
		p.add("coordinator.write-timeout", "%s must be greater than 0", q.WriteTimeout)
	}
	p.nonNegative("coordinator.max-concurrent-queries", q.MaxConcurrentQueries)
	p.nonNegativeDuration("coordinator.query-timeout", q.QueryTimeout)
	p.nonNegativeDuration("coordinator.log-queries-after", q.LogQueriesAfter)
	p.nonNegative("coordinator.max-select-point", q.MaxSelectPointN)
	p.nonNegative("coordinator.max-select-series", q.MaxSelectSeriesN)
	p.nonNegative("coordinator.max-select-buckets", q.MaxSelectBucketsN)

	hh := &c.HintedHandoff
	if hh.Enabled {
		p.dir("hinted-handoff.dir", hh.Dir)
		for _, other := range []struct{ key, dir string }{
			{"meta.dir", m.Dir}, {"data.dir", d.Dir}, {"data.wal-dir", d.WALDir},
		} {
			p.distinctDirs(other.key, other.dir, "hinted-handoff.dir", hh.Dir)
		}
	}
	if hh.MaxSize == 0 {
		p.add("hinted-handoff.max-size", "must be greater than 0")
	}
	if hh.MaxAge <= 0 {
		p.add("hinted-handoff.max-age", "%s must be greater than 0", hh.MaxAge)
	}
	if hh.RetryConcurrency < 1 {
		p.add("hinted-handoff.retry-concurrency", "%d must be at least 1", hh.RetryConcurrency)
	}
	if hh.RetryInterval <= 0 {
		p.add("hinted-handoff.retry-interval", "%s must be greater than 0", hh.RetryInterval)
	}
	if hh.RetryMaxInterval <= 0 {
		p.add("hinted-handoff.retry-max-interval", "%s must be greater than 0", hh.RetryMaxInterval)
	} else if hh.RetryInterval > hh.RetryMaxInterval {
		p.add("hinted-handoff.retry-interval", "%s must not exceed hinted-handoff.retry-max-interval (%s)",
			hh.RetryInterval, hh.RetryMaxInterval)
	}
	if hh.PurgeInterval <= 0 {
		p.add("hinted-handoff.purge-interval", "%s must be greater than 0", hh.PurgeInterval)
	}

	p.services(c.Retention, c.ShardPrecreation)
	p.continuousQueries(c.ContinuousQueries)
	p.logging(c.Logging)
	return p.err()
}

// DeriveHintedHandoffDir sets [hinted-handoff] dir to "hh" in the parent of
// [data] dir: ~/.palisade/data gives ~/.palisade/hh (the default), and
// /var/lib/palisade/data gives /var/lib/palisade/hh. LoadData calls it when
// neither the file nor the environment sets the key, so that two nodes
// given their own [data] dir on one host do not share one queue directory.
func (c *Data) DeriveHintedHandoffDir() {
	c.HintedHandoff.Dir = filepath.Join(filepath.Dir(filepath.Clean(c.Data.Dir)), "hh")
}

// LegacyHintedHandoffDir is the [hinted-handoff] dir that every data node
// defaulted to before the default followed [data] dir: $HOME/.palisade/hh.
// A node upgraded with a [data] dir elsewhere and no [hinted-handoff] dir
// may have left queued writes there.
func LegacyHintedHandoffDir() string { return defaultDir("hh") }

// Standalone reports whether the node runs without meta nodes, with an
// embedded meta store (meta.servers is empty).
func (c *Data) Standalone() bool { return len(c.Meta.Servers) == 0 }

// HTTPAddr returns the client API address advertised to other nodes:
// Hostname with the port of http.bind-address ("" if it has none).
func (c *Data) HTTPAddr() string { return advertise(c.Hostname, c.HTTP.BindAddress) }

// TCPAddr returns the data-node gRPC address advertised to other nodes:
// Hostname with the port of cluster.bind-address ("" if it has none).
func (c *Data) TCPAddr() string { return advertise(c.Hostname, c.Cluster.BindAddress) }

// HTTPSKeyPath returns the private key file: https-private-key, or
// https-certificate when the key is not set (one PEM file holding both).
func (h *HTTPSection) HTTPSKeyPath() string {
	if h.HTTPSPrivateKey != "" {
		return h.HTTPSPrivateKey
	}
	return h.HTTPSCertificate
}

// Redacted returns a copy of c whose non-empty secrets read "REDACTED", for
// printing or logging.
func (c *Data) Redacted() *Data {
	r := *c
	r.Meta.Servers = slices.Clone(c.Meta.Servers)
	redact(&r)
	return &r
}
