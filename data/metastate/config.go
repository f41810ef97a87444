package metastate

import (
	"time"

	"github.com/palisade-db/palisade/configs"
)

// Config is a data node's [meta] table: how the node reaches the meta nodes,
// and where it keeps its copy of the meta state.
type Config struct {
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
	MaxStateStaleness configs.Duration `toml:"max-state-staleness"`
	// ChangeVisibilityTimeout bounds how long a meta change made through
	// this node (DDL, users, a write's new shard group) waits for every
	// other data node to apply it before the client gets its answer; a
	// node that has not by then confirms its state current before it
	// answers again. 0 = the change is not waited for.
	ChangeVisibilityTimeout configs.Duration `toml:"change-visibility-timeout"`
}

// DefaultChangeVisibilityTimeout is [meta] change-visibility-timeout's
// default.
const DefaultChangeVisibilityTimeout = 2 * time.Second

// NewConfig returns [meta]'s defaults: standalone, the state in
// $HOME/.palisade/meta (resolved now).
func NewConfig() Config {
	return Config{
		Dir:                     configs.DefaultDir("meta"),
		Servers:                 []string{},
		PasswordHashCost:        configs.DefaultPasswordHashCost,
		ChangeVisibilityTimeout: configs.Duration(DefaultChangeVisibilityTimeout),
	}
}

// Validate checks the [meta] table alone; the node's Validate checks it
// against the other tables.
func (c Config) Validate() error {
	var p configs.Problems
	p.Dir("meta.dir", c.Dir)
	p.PeerAddrs("meta.servers", c.Servers)
	p.HashCost("meta.password-hash-cost", c.PasswordHashCost)
	if c.MaxStateStaleness < 0 {
		p.Add("meta.max-state-staleness", "must not be negative")
	}
	p.NonNegativeDuration("meta.change-visibility-timeout", c.ChangeVisibilityTimeout)
	return p.Err()
}

// Standalone reports whether the node runs without meta nodes, with an
// embedded meta store (servers is empty).
func (c Config) Standalone() bool { return len(c.Servers) == 0 }
