// Command palisade-data runs a Palisade data node: the InfluxDB 1.x HTTP API
// on the embedded InfluxDB storage engine. With no [meta] servers it runs
// standalone, with an embedded meta store.
//
//	palisade-data [run] [-config data.toml] [-hostname h] [-rejoin]
//	palisade-data config      print the default configuration
//	palisade-data version
//	palisade-data healthcheck [-config f] [-addr host:port] [-tls] [-insecure-tls] [-timeout 3s] [-username u -password p]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/provision"
	"github.com/palisade-db/palisade/internal/healthcheck"
	"github.com/palisade-db/palisade/internal/logging"
	"github.com/palisade-db/palisade/internal/version"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "palisade-data:", err)
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
		return configs.WriteTOML(stdout, configs.NewData())
	case "version":
		fmt.Fprintln(stdout, "palisade-data", version.Version, "(InfluxDB API", version.InfluxDBVersion+")")
		return nil
	case "healthcheck":
		return healthcheckCmd(args, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q (want run, config, version or healthcheck)", cmd)
	}
}

// healthcheckCmd asks this host's data node for /health: exit 0 when it
// answers 200 (it runs and has a meta state it trusts). The address and TLS
// come from the config (a -config file and INFLUXDB_* variables, as the node
// reads them) unless flags say otherwise.
func healthcheckCmd(args []string, stdout, stderr io.Writer) error {
	return healthcheck.Command("palisade-data healthcheck", args, stdout, stderr, true, func(path string) (healthcheck.Options, error) {
		cfg, _, err := configs.LoadDataWithWarnings(path, os.Environ())
		if err != nil {
			return healthcheck.Options{}, err
		}
		return healthcheck.Options{Addr: cfg.HTTP.BindAddress, TLS: cfg.HTTP.HTTPSEnabled}, nil
	}, healthcheck.Data)
}

func runNode(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("palisade-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (default: built-in defaults)")
	hostname := fs.String("hostname", "", "override hostname (advertised to the meta cluster)")
	rejoin := fs.Bool("rejoin", false, "forget the meta cluster this node belonged to and join the one its [meta] servers "+
		"belong to now (after the meta cluster was re-created); the saved state and node.json are moved aside, local data is kept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, warnings, err := configs.LoadDataWithWarnings(*path, os.Environ())
	if err != nil {
		return err
	}
	if *hostname != "" {
		cfg.Hostname = *hostname
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
	syscall.Umask(0o077) // state files hold hashes and secrets
	prov, err := provision.FromEnv(os.Getenv)
	if err != nil {
		return err
	}

	engineLog := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(stderr), zapcore.WarnLevel))
	node, err := data.Open(cfg, data.Options{
		Logger:       log,
		Provision:    prov,
		EngineLogger: engineLog,
		Rejoin:       *rejoin,
	})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "component", "data", "signal", s.String())
	return errors.Join(node.Close())
}
