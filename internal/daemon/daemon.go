// Package daemon is what palisade-meta and palisade-data share: their
// command line (run, config, version, healthcheck) and the life of the
// process that `run` starts:
//
//	flags → configuration (defaults, file, INFLUXDB_* variables) → flags
//	over it → Validate → logger → warnings logged → umask 077 → node opened
//	→ SIGINT or SIGTERM, or the node stops by itself → node closed
//
// A binary states only what is its own, in a [Binary]: its name and
// version, how it loads its configuration, its flags, how it opens its
// node, and how its healthcheck finds and asks the node.
package daemon

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

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/internal/healthcheck"
	"github.com/palisade-db/palisade/internal/logging"
)

// Config is a node's configuration: *configs.Meta or *data.Config.
type Config interface {
	Validate() error
}

// Binary is one node binary.
type Binary[C Config] struct {
	// Name is the binary's name, "palisade-meta": it names the flag set
	// and starts the `version` line and every error message.
	Name string
	// Version is the rest of the `version` line.
	Version string
	// Component is the component attribute of the shutdown's log lines.
	Component string

	// Defaults returns the default configuration, which `config` prints.
	Defaults func() C
	// Load returns the defaults overridden by the TOML file at path
	// (unless path is "") and by the INFLUXDB_* variables of environ, and
	// the warnings about settings it ignores.
	Load func(path string, environ []string) (C, []configs.Warning, error)
	// Logging returns the [logging] table of cfg.
	Logging func(cfg C) configs.Logging
	// NewRunner returns a Runner for one run of `run`.
	NewRunner func() Runner[C]
	// Health is what `healthcheck` asks.
	Health Health[C]
}

// Runner is one run of `run`: the flags it adds to -config, and the node
// it opens.
type Runner[C Config] interface {
	// Flags registers the flags besides -config.
	Flags(fs *flag.FlagSet)
	// Configure applies the parsed flags to the loaded configuration,
	// before it is validated.
	Configure(cfg C)
	// Open opens the node of the validated configuration, logging to log;
	// stderr takes the logs that are not slog's (Raft's, the storage
	// engine's). A node that can stop by itself has a method
	// Done() <-chan error, sent its gRPC server's error when it stops.
	Open(cfg C, log *slog.Logger, stderr io.Writer) (io.Closer, error)
}

// Health is how `healthcheck` asks this host's node whether it is healthy.
type Health[C Config] struct {
	// Options returns where the node listens, and how to reach it, by its
	// configuration; flags override them.
	Options func(cfg C) healthcheck.Options
	// Check asks the node.
	Check func(healthcheck.Options) error
	// Credentials adds -username and -password, for a node that may want
	// them.
	Credentials bool
}

// Main runs the binary with the process's arguments and exits 1 on an error.
func (b Binary[C]) Main() {
	if err := b.Command(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, b.Name+":", err)
		os.Exit(1)
	}
}

// Command runs the command that args name: `run` when args are empty or
// start with a flag.
func (b Binary[C]) Command(args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return b.run(args, stderr)
	case "config":
		return configs.WriteTOML(stdout, b.Defaults())
	case "version":
		fmt.Fprintln(stdout, b.Name, b.Version)
		return nil
	case "healthcheck":
		return b.healthcheck(args, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q (want run, config, version or healthcheck)", cmd)
	}
}

// run runs a node until a signal, or until it stops by itself.
func (b Binary[C]) run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(b.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (default: built-in defaults)")
	r := b.NewRunner()
	r.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, warnings, err := b.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	r.Configure(cfg)
	if err := cfg.Validate(); err != nil {
		return err
	}
	l := b.Logging(cfg)
	log, err := logging.New(stderr, l.Level, l.Format)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn(w.String(), "component", "configs", "key", w.Key)
	}
	syscall.Umask(0o077) // every file a node writes may hold hashes or secrets

	node, err := r.Open(cfg, log, stderr)
	if err != nil {
		return err
	}
	var done <-chan error // nil: the node stops only when closed
	if d, ok := node.(interface{ Done() <-chan error }); ok {
		done = d.Done()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "component", b.Component, "signal", s.String())
	case err = <-done:
		log.Error("gRPC server stopped", "component", b.Component, "err", err)
	}
	return errors.Join(err, node.Close())
}

// healthcheck is `healthcheck`: the address and TLS come from the
// configuration (a -config file and the INFLUXDB_* variables, as the node
// reads them) unless flags say otherwise.
func (b Binary[C]) healthcheck(args []string, stdout, stderr io.Writer) error {
	h := b.Health
	return healthcheck.Command(b.Name+" healthcheck", args, stdout, stderr, h.Credentials, func(path string) (healthcheck.Options, error) {
		cfg, _, err := b.Load(path, os.Environ())
		if err != nil {
			return healthcheck.Options{}, err
		}
		return h.Options(cfg), nil
	}, h.Check)
}
