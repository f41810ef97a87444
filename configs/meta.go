package configs

import (
	"net"
	"slices"
	"strconv"
	"time"
)

// Default ports, as in InfluxDB Enterprise.
const (
	DefaultHTTPPort     = 8086 // data node: client HTTP API
	DefaultClusterPort  = 8088 // data node: gRPC between data nodes
	DefaultMetaRaftPort = 8089 // meta node: Raft
	DefaultMetaRPCPort  = 8091 // meta node: gRPC MetaService
	// DefaultMetaMetricsPort serves a meta node's /metrics (Palisade's).
	DefaultMetaMetricsPort = 8092
)

// bcrypt cost bounds (golang.org/x/crypto/bcrypt MinCost, MaxCost) and the default.
const (
	MinPasswordHashCost     = 4
	MaxPasswordHashCost     = 31
	DefaultPasswordHashCost = 10
)

// DefaultReplicationFactor is [meta] default-replication-factor's default;
// MaxReplicationFactor bounds it.
const (
	DefaultReplicationFactor = 2
	MaxReplicationFactor     = 1 << 16
)

// DefaultHostname is the host advertised to other nodes unless configured.
const DefaultHostname = "localhost"

// minRaftTimeout is the smallest election, heartbeat and leader-lease timeout
// hashicorp/raft accepts; minCommitTimeout the smallest commit timeout.
const (
	minRaftTimeout   = 5 * time.Millisecond
	minCommitTimeout = time.Millisecond
)

// Meta is the configuration of a meta node (palisade-meta).
type Meta struct {
	// Hostname is advertised to the other nodes, with the ports of the bind
	// addresses (see RaftAddr, RPCAddr).
	Hostname string      `toml:"hostname"`
	Meta     MetaSection `toml:"meta"`
	// Retention and ShardPrecreation run on the leader.
	Retention        RetentionSection        `toml:"retention"`
	ShardPrecreation ShardPrecreationSection `toml:"shard-precreation"`
	Logging          Logging                 `toml:"logging"`
}

// MetaSection is the [meta] table of a meta node.
type MetaSection struct {
	Dir             string `toml:"dir"`               // Raft log, snapshots, node state
	BindAddress     string `toml:"bind-address"`      // Raft
	HTTPBindAddress string `toml:"http-bind-address"` // gRPC MetaService
	// MetricsBindAddress serves /metrics over plain HTTP: "" (the default)
	// means the host of http-bind-address with port 8092, "off" turns it
	// off (see MetricsAddr).
	MetricsBindAddress string `toml:"metrics-bind-address"`
	// Peers are the Raft addresses (host:port) of the meta nodes that form
	// the cluster; empty means a single-node cluster.
	Peers []string `toml:"peers"`
	// InternalSharedSecret authenticates node-to-node gRPC and every Raft
	// connection; data nodes set the same value as [meta]
	// meta-internal-shared-secret. It is not the secret that signs client
	// JWTs ([http] shared-secret on data nodes).
	InternalSharedSecret string `toml:"internal-shared-secret"`
	PasswordHashCost     int    `toml:"password-hash-cost"` // bcrypt
	// HTTPSEnabled serves TLS on both ports (gRPC MetaService and Raft) with
	// one certificate, and dials the other meta nodes with TLS.
	HTTPSEnabled     bool   `toml:"https-enabled"`
	HTTPSCertificate string `toml:"https-certificate"`
	HTTPSPrivateKey  string `toml:"https-private-key"` // default: HTTPSCertificate
	// HTTPSInsecureTLS skips certificate verification when dialing other
	// meta nodes.
	HTTPSInsecureTLS bool `toml:"https-insecure-tls"`
	// AllowEmptyInternalSecret lets a meta node start without
	// InternalSharedSecret, for a test on one host: its MetaService and Raft
	// port are then open to anyone who reaches them.
	AllowEmptyInternalSecret bool     `toml:"allow-empty-internal-secret"`
	ElectionTimeout          Duration `toml:"election-timeout"`
	HeartbeatTimeout         Duration `toml:"heartbeat-timeout"`
	LeaderLeaseTimeout       Duration `toml:"leader-lease-timeout"`
	CommitTimeout            Duration `toml:"commit-timeout"`
	SnapshotThreshold        uint64   `toml:"snapshot-threshold"` // Raft log entries between snapshots
	// DefaultReplicationFactor is the replication factor of retention
	// policies created without REPLICATION (a database's first policy
	// included). The meta leader writes it into the replicated cluster
	// settings; shard groups get at most as many owners as there are data
	// nodes.
	DefaultReplicationFactor int `toml:"default-replication-factor"`
	// LeaseDuration is how long the leader's leases last (Enterprise's key):
	// the data node that runs the continuous queries renews its lease
	// well within it, and another takes over at most this long after it
	// stops.
	LeaseDuration Duration `toml:"lease-duration"`
}

// Logging is the [logging] table of both node kinds.
type Logging struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
}

// NewLogging returns [logging]'s defaults.
func NewLogging() Logging {
	return Logging{Level: "info", Format: "text"}
}

// NewMeta returns a meta node configuration holding the defaults. The
// directory defaults to $HOME/.palisade/meta-node, resolved now.
func NewMeta() *Meta {
	return &Meta{
		Hostname: DefaultHostname,
		Meta: MetaSection{
			Dir:                DefaultDir("meta-node"),
			BindAddress:        ":" + strconv.Itoa(DefaultMetaRaftPort),
			HTTPBindAddress:    ":" + strconv.Itoa(DefaultMetaRPCPort),
			Peers:              []string{},
			PasswordHashCost:   DefaultPasswordHashCost,
			ElectionTimeout:    Duration(time.Second),
			HeartbeatTimeout:   Duration(time.Second),
			LeaderLeaseTimeout: Duration(500 * time.Millisecond),
			CommitTimeout:      Duration(50 * time.Millisecond),
			SnapshotThreshold:  8192,
			// As InfluxDB Enterprise: two copies of every shard.
			DefaultReplicationFactor: DefaultReplicationFactor,
			LeaseDuration:            Duration(time.Minute),
		},
		Retention:        NewRetention(),
		ShardPrecreation: NewShardPrecreation(),
		Logging:          NewLogging(),
	}
}

// LoadMeta returns the defaults, overridden by the TOML file at path (unless
// path is "") and then by the INFLUXDB_* variables in environ (os.Environ
// form). It does not call Validate. It drops the warnings about accepted
// but unimplemented settings: a node should call LoadMetaWithWarnings and log
// them.
func LoadMeta(path string, environ []string) (*Meta, error) {
	c, _, err := Load(NewMeta(), path, environ)
	return c, err
}

// Validate reports every invalid setting; each error is a *KeyError naming
// the key.
func (c *Meta) Validate() error {
	var p Problems
	m := &c.Meta
	p.Hostname("hostname", c.Hostname)
	p.Dir("meta.dir", m.Dir)
	p.ListenAddr("meta.bind-address", m.BindAddress)
	p.ListenAddr("meta.http-bind-address", m.HTTPBindAddress)
	p.DistinctListeners("meta.bind-address", m.BindAddress, "meta.http-bind-address", m.HTTPBindAddress)
	if metrics := c.MetricsAddr(); metrics != "" {
		p.ListenAddr("meta.metrics-bind-address", metrics)
		p.DistinctListeners("meta.bind-address", m.BindAddress, "meta.metrics-bind-address", metrics)
		p.DistinctListeners("meta.http-bind-address", m.HTTPBindAddress, "meta.metrics-bind-address", metrics)
	}
	p.PeerAddrs("meta.peers", m.Peers)
	if m.InternalSharedSecret == "" && !m.AllowEmptyInternalSecret {
		p.Add("meta.internal-shared-secret", "is empty: anyone who reaches the MetaService or the Raft port could read "+
			"every password hash and change the cluster; set the same long random value on every meta node and as "+
			"meta-internal-shared-secret on every data node (INFLUXDB_META_INTERNAL_SHARED_SECRET, e.g. from "+
			"`openssl rand -hex 32`), or for a test on one host set meta.allow-empty-internal-secret = true")
	}
	p.HashCost("meta.password-hash-cost", m.PasswordHashCost)
	p.HTTPS("meta.", m.HTTPSEnabled, m.HTTPSCertificate)

	// The bounds hashicorp/raft's ValidateConfig enforces, so that a bad
	// value is reported here with its key rather than at Raft start-up.
	// The comparisons are made only between values that are valid alone.
	electionOK := p.AtLeast("meta.election-timeout", m.ElectionTimeout, minRaftTimeout)
	heartbeatOK := p.AtLeast("meta.heartbeat-timeout", m.HeartbeatTimeout, minRaftTimeout)
	leaseOK := p.AtLeast("meta.leader-lease-timeout", m.LeaderLeaseTimeout, minRaftTimeout)
	p.AtLeast("meta.commit-timeout", m.CommitTimeout, minCommitTimeout)
	if leaseOK && heartbeatOK && m.LeaderLeaseTimeout > m.HeartbeatTimeout {
		p.Add("meta.leader-lease-timeout", "%s must not exceed meta.heartbeat-timeout (%s)",
			m.LeaderLeaseTimeout, m.HeartbeatTimeout)
	}
	if electionOK && heartbeatOK && m.ElectionTimeout < m.HeartbeatTimeout {
		p.Add("meta.election-timeout", "%s must not be less than meta.heartbeat-timeout (%s)",
			m.ElectionTimeout, m.HeartbeatTimeout)
	}
	if m.SnapshotThreshold == 0 {
		p.Add("meta.snapshot-threshold", "must be greater than 0")
	}
	if m.DefaultReplicationFactor < 1 || m.DefaultReplicationFactor > MaxReplicationFactor {
		p.Add("meta.default-replication-factor", "%d is out of range 1..%d", m.DefaultReplicationFactor, MaxReplicationFactor)
	}
	if m.LeaseDuration < Duration(time.Second) {
		p.Add("meta.lease-duration", "%s is less than 1s", m.LeaseDuration)
	}
	p.Include(c.Retention.Validate())
	p.Include(c.ShardPrecreation.Validate())
	p.Include(c.Logging.Validate())
	return p.Err()
}

// MetricsOff is the [meta] metrics-bind-address that serves no /metrics.
const MetricsOff = "off"

// MetricsAddr returns the address /metrics listens on, "" for none: [meta]
// metrics-bind-address, or when it is empty the host of http-bind-address
// (the gRPC MetaService's) with port 8092. Meta nodes that share a machine
// on different loopback or interface addresses (127.0.0.1, .2, .3) then
// serve /metrics each on its own; ":8091" gives ":8092", every interface.
func (c *Meta) MetricsAddr() string {
	switch addr := c.Meta.MetricsBindAddress; addr {
	case MetricsOff:
		return ""
	case "":
		host, _, err := net.SplitHostPort(c.Meta.HTTPBindAddress)
		if err != nil {
			host = "" // reported by Validate for http-bind-address
		}
		return net.JoinHostPort(host, strconv.Itoa(DefaultMetaMetricsPort))
	default:
		return addr
	}
}

// RaftAddr returns the Raft address advertised to other meta nodes:
// Hostname with the port of meta.bind-address ("" if it has none).
func (c *Meta) RaftAddr() string { return Advertise(c.Hostname, c.Meta.BindAddress) }

// RPCAddr returns the gRPC MetaService address advertised to other nodes:
// Hostname with the port of meta.http-bind-address ("" if it has none).
func (c *Meta) RPCAddr() string { return Advertise(c.Hostname, c.Meta.HTTPBindAddress) }

// HTTPSKeyPath returns the private key file: https-private-key, or
// https-certificate when the key is not set (one PEM file holding both).
func (m *MetaSection) HTTPSKeyPath() string {
	if m.HTTPSPrivateKey != "" {
		return m.HTTPSPrivateKey
	}
	return m.HTTPSCertificate
}

// Known lists the keys of InfluxDB Enterprise meta node files that are not
// Palisade's (see [File]).
func (c *Meta) Known() *Catalog { return metaKnown }

// Loaded completes c once the file and environment are read (see [File]).
func (c *Meta) Loaded(func(key string) bool) { c.Logging.Normalize() }

// Redacted returns a copy of c whose non-empty secrets read "REDACTED", for
// printing or logging.
func (c *Meta) Redacted() *Meta {
	r := *c
	r.Meta.Peers = slices.Clone(c.Meta.Peers)
	Redact(&r)
	return &r
}
