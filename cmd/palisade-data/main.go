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
	"flag"
	"io"
	"log/slog"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/provision"
	"github.com/palisade-db/palisade/internal/daemon"
	"github.com/palisade-db/palisade/internal/healthcheck"
	"github.com/palisade-db/palisade/internal/version"
)

// binary is what palisade-data has of its own; internal/daemon does the rest.
var binary = daemon.Binary[*data.Config]{
	Name:      "palisade-data",
	Version:   version.Version + " (InfluxDB API " + version.InfluxDBVersion + ")",
	Component: "data",
	Defaults:  data.NewConfig,
	Load:      data.LoadConfigWithWarnings,
	Logging:   func(cfg *data.Config) configs.Logging { return cfg.Logging },
	NewRunner: func() daemon.Runner[*data.Config] { return new(runner) },
	// The healthcheck asks for /health: healthy when it answers 200 (the
	// node runs and has a meta state it trusts).
	Health: daemon.Health[*data.Config]{
		Options: func(cfg *data.Config) healthcheck.Options {
			return healthcheck.Options{Addr: cfg.HTTP.BindAddress, TLS: cfg.HTTP.HTTPSEnabled}
		},
		Check:       healthcheck.Data,
		Credentials: true,
	},
}

func main() { binary.Main() }

// run is the command line without the process, for the tests.
func run(args []string, stdout, stderr io.Writer) error {
	return binary.Command(args, stdout, stderr)
}

// runner is one `palisade-data run`: -hostname and -rejoin, and the node.
type runner struct {
	hostname string
	rejoin   bool
}

func (r *runner) Flags(fs *flag.FlagSet) {
	fs.StringVar(&r.hostname, "hostname", "", "override hostname (advertised to the meta cluster)")
	fs.BoolVar(&r.rejoin, "rejoin", false, "forget the meta cluster this node belonged to and join the one its [meta] servers "+
		"belong to now (after the meta cluster was re-created); the saved state and node.json are moved aside, local data is kept")
}

func (r *runner) Configure(cfg *data.Config) {
	if r.hostname != "" {
		cfg.Hostname = r.hostname
	}
}

// Open opens the data node, with the users and database that
// INFLUXDB_ADMIN_USER, INFLUXDB_DB and the like ask for (provision.Plan);
// the storage engine logs its warnings to stderr.
func (r *runner) Open(cfg *data.Config, log *slog.Logger, stderr io.Writer) (io.Closer, error) {
	prov, err := provision.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	engineLog := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(stderr), zapcore.WarnLevel))
	node, err := data.Open(cfg, data.Options{
		Logger:       log,
		Provision:    prov,
		EngineLogger: engineLog,
		Rejoin:       r.rejoin,
	})
	if err != nil {
		return nil, err
	}
	return node, nil
}
