// Command palisade-meta runs a Palisade meta node: the Raft-replicated
// cluster state and the MetaService gRPC API.
//
//	palisade-meta [run] [-config meta.toml] [-hostname h] [-dir d] [-peers a,b,c]
//	palisade-meta config      print the default configuration
//	palisade-meta version
//	palisade-meta healthcheck [-config f] [-addr host:port] [-tls] [-insecure-tls] [-timeout 3s]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/internal/healthcheck"
	"github.com/palisade-db/palisade/internal/logging"
	"github.com/palisade-db/palisade/internal/version"
	"github.com/palisade-db/palisade/meta"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "palisade-meta:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runNode(args, stderr)
	case "config":
		return configs.WriteTOML(stdout, configs.NewMeta())
	case "version":
		fmt.Fprintln(stdout, "palisade-meta", version.Version)
		return nil
	case "healthcheck":
		return healthcheckCmd(args, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q (want run, config, version or healthcheck)", cmd)
	}
}

// healthcheckCmd asks this host's meta node the standard gRPC health
// service on its RPC port: exit 0 when it answers SERVING. The address and
// TLS come from the config (a -config file and INFLUXDB_META_* variables,
// as the node reads them) unless flags say otherwise.
func healthcheckCmd(args []string, stdout, stderr io.Writer) error {
	return healthcheck.Command("palisade-meta healthcheck", args, stdout, stderr, false, func(path string) (healthcheck.Options, error) {
		cfg, _, err := configs.LoadMetaWithWarnings(path, os.Environ())
		if err != nil {
			return healthcheck.Options{}, err
		}
		m := cfg.Meta
		return healthcheck.Options{Addr: m.HTTPBindAddress, TLS: m.HTTPSEnabled, InsecureTLS: m.HTTPSInsecureTLS}, nil
	}, healthcheck.Meta)
}

func runNode(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("palisade-meta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (default: built-in defaults)")
	hostname := fs.String("hostname", "", "override hostname (advertised in Raft and gRPC addresses)")
	dir := fs.String("dir", "", "override [meta] dir")
	peers := fs.String("peers", "", "override [meta] peers (comma-separated Raft addresses)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, warnings, err := configs.LoadMetaWithWarnings(*path, os.Environ())
	if err != nil {
		return err
	}
	if *hostname != "" {
		cfg.Hostname = *hostname
	}
	if *dir != "" {
		cfg.Meta.Dir = *dir
	}
	if *peers != "" {
		cfg.Meta.Peers = nil
		for _, p := range strings.Split(*peers, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.Meta.Peers = append(cfg.Meta.Peers, p)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.Logging.Level, cfg.Logging.Format)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn(w.String(), "component", "configs", "key", w.Key)
	}
	syscall.Umask(0o077) // every file we write may hold hashes or secrets

	nc, err := nodeConfig(cfg, log, stderr)
	if err != nil {
		return err
	}
	node, err := meta.OpenNode(nc)
	if err != nil {
		return err
	}
	m := cfg.Meta
	log.Info("meta node started", "component", "meta", "raft_addr", cfg.RaftAddr(), "rpc_addr", cfg.RPCAddr(),
		"raft_bind", m.BindAddress, "rpc_bind", m.HTTPBindAddress, "metrics_bind", cfg.MetricsAddr(), "dir", m.Dir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "component", "meta", "signal", s.String())
	case err = <-node.Done():
		log.Error("gRPC server stopped", "component", "meta", "err", err)
	}
	return errors.Join(err, node.Close())
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
