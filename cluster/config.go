package cluster

import (
	"strconv"

	"github.com/palisade-db/palisade/configs"
)

// Config is a data node's [cluster] table: the data service that the data
// nodes call each other on, with InfluxDB Enterprise's key names.
type Config struct {
	// BindAddress serves the data nodes' gRPC service (shard writes, reads,
	// deletes); its port is advertised to the other nodes.
	BindAddress string `toml:"bind-address"`
	// HTTPSEnabled serves the data service with TLS, and makes this node dial
	// the other data nodes with TLS.
	HTTPSEnabled     bool   `toml:"https-enabled"`
	HTTPSCertificate string `toml:"https-certificate"`
	HTTPSPrivateKey  string `toml:"https-private-key"` // default: HTTPSCertificate
	// HTTPSInsecureTLS skips verifying the other data nodes' certificates.
	HTTPSInsecureTLS bool `toml:"https-insecure-tls"`
}

// NewConfig returns [cluster]'s defaults.
func NewConfig() Config {
	return Config{BindAddress: ":" + strconv.Itoa(configs.DefaultClusterPort)}
}

// Validate checks the [cluster] table.
func (c Config) Validate() error {
	var p configs.Problems
	p.ListenAddr("cluster.bind-address", c.BindAddress)
	p.HTTPS("cluster.", c.HTTPSEnabled, c.HTTPSCertificate)
	return p.Err()
}

// DialOptions returns how this node dials the other data nodes: with secret
// (the internal shared secret) and, with https-enabled, over TLS.
func (c Config) DialOptions(secret string) DialOptions {
	return DialOptions{Secret: secret, TLS: c.HTTPSEnabled, InsecureTLS: c.HTTPSInsecureTLS}
}
