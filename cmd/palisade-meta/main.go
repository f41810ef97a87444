// Command palisade-meta runs a Palisade meta node: the Raft-replicated
// cluster state and the MetaService gRPC API.
//
//	palisade-meta [run] [-config meta.toml] [-hostname h] [-dir d] [-peers a,b,c]
//	palisade-meta config      print the default configuration
//	palisade-meta version
//	palisade-meta healthcheck [-config f] [-addr host:port] [-tls] [-insecure-tls] [-timeout 3s]
package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/internal/daemon"
	"github.com/palisade-db/palisade/internal/healthcheck"
	"github.com/palisade-db/palisade/internal/version"
	"github.com/palisade-db/palisade/meta"
)

// binary is what palisade-meta has of its own; internal/daemon does the rest.
var binary = daemon.Binary[*configs.Meta]{
	Name:      "palisade-meta",
	Version:   version.Version,
	Component: "meta",
	Defaults:  configs.NewMeta,
	Load:      configs.LoadMetaWithWarnings,
	Logging:   func(cfg *configs.Meta) configs.Logging { return cfg.Logging },
	NewRunner: func() daemon.Runner[*configs.Meta] { return new(runner) },
	// The healthcheck asks the standard gRPC health service on the RPC
	// port, which needs no internal secret: healthy when it answers SERVING.
	Health: daemon.Health[*configs.Meta]{
		Options: func(cfg *configs.Meta) healthcheck.Options {
			m := cfg.Meta
			return healthcheck.Options{Addr: m.HTTPBindAddress, TLS: m.HTTPSEnabled, InsecureTLS: m.HTTPSInsecureTLS}
		},
		Check: healthcheck.Meta,
	},
}

func main() { binary.Main() }

// run is the command line without the process, for the tests.
func run(args []string, stdout, stderr io.Writer) error {
	return binary.Command(args, stdout, stderr)
}

// runner is one `palisade-meta run`: -hostname, -dir and -peers, and the node.
type runner struct {
	hostname, dir, peers string
}

func (r *runner) Flags(fs *flag.FlagSet) {
	fs.StringVar(&r.hostname, "hostname", "", "override hostname (advertised in Raft and gRPC addresses)")
	fs.StringVar(&r.dir, "dir", "", "override [meta] dir")
	fs.StringVar(&r.peers, "peers", "", "override [meta] peers (comma-separated Raft addresses)")
}

func (r *runner) Configure(cfg *configs.Meta) {
	if r.hostname != "" {
		cfg.Hostname = r.hostname
	}
	if r.dir != "" {
		cfg.Meta.Dir = r.dir
	}
	if r.peers != "" {
		cfg.Meta.Peers = nil
		for _, p := range strings.Split(r.peers, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.Meta.Peers = append(cfg.Meta.Peers, p)
			}
		}
	}
}

// Open opens the meta node; its Done ends the run when its gRPC server
// stops.
func (r *runner) Open(cfg *configs.Meta, log *slog.Logger, stderr io.Writer) (io.Closer, error) {
	nc, err := nodeConfig(cfg, log, stderr)
	if err != nil {
		return nil, err
	}
	node, err := meta.OpenNode(nc)
	if err != nil {
		return nil, err
	}
	m := cfg.Meta
	log.Info("meta node started", "component", "meta", "raft_addr", cfg.RaftAddr(), "rpc_addr", cfg.RPCAddr(),
		"raft_bind", m.BindAddress, "rpc_bind", m.HTTPBindAddress, "metrics_bind", cfg.MetricsAddr(), "dir", m.Dir)
	return node, nil
}

// nodeConfig is what a validated configuration asks of the meta node.
func nodeConfig(cfg *configs.Meta, log *slog.Logger, stderr io.Writer) (meta.NodeConfig, error) {
	m := cfg.Meta
	nc := meta.NodeConfig{
		Store: meta.Config{
			Dir:                m.Dir,
			RaftAddr:           cfg.RaftAddr(),
			RaftBind:           m.BindAddress,
			RPCAddr:            cfg.RPCAddr(),
			Peers:              m.Peers,
			Dial:               cluster.DialOptions{Secret: m.InternalSharedSecret, TLS: m.HTTPSEnabled, InsecureTLS: m.HTTPSInsecureTLS},
			PasswordHashCost:   m.PasswordHashCost,
			ElectionTimeout:    time.Duration(m.ElectionTimeout),
			HeartbeatTimeout:   time.Duration(m.HeartbeatTimeout),
			LeaderLeaseTimeout: time.Duration(m.LeaderLeaseTimeout),
			CommitTimeout:      time.Duration(m.CommitTimeout),
			SnapshotThreshold:  m.SnapshotThreshold,
			LeaseTTL:           time.Duration(m.LeaseDuration),
			Maintenance: meta.Maintenance{
				RetentionCheckInterval:   cfg.Retention.Interval(),
				PrecreationCheckInterval: cfg.ShardPrecreation.Interval(),
				PrecreationAdvancePeriod: time.Duration(cfg.ShardPrecreation.AdvancePeriod),
			},
			Logger:     log,
			RaftLogOut: stderr,
		},
		RPCBind:     m.HTTPBindAddress,
		MetricsBind: cfg.MetricsAddr(),
		Server:      meta.ServerOptions{InternalSecret: m.InternalSharedSecret, Logger: log},
	}
	nc.Store.DefaultReplicationFactor = uint32(m.DefaultReplicationFactor) // Validate: 1..MaxReplicationFactor
	if m.HTTPSEnabled {
		// One certificate for both ports: the MetaService and Raft.
		tlsCfg, err := cluster.ServerTLSConfig(m.HTTPSCertificate, m.HTTPSPrivateKey)
		if err != nil {
			return meta.NodeConfig{}, err
		}
		nc.Server.TLS = credentials.NewTLS(tlsCfg)
		nc.Store.RaftTLS = tlsCfg
	}
	return nc, nil
}
