// Command palisade-ctl is the operator's tool for a Palisade cluster, like
// influxd-ctl for InfluxDB Enterprise: it shows the cluster, adds and removes
// meta and data nodes, and manages users, JWT secrets and tokens through the
// meta nodes' MetaService.
//
//	palisade-ctl [-bind host:8091] [-secret s] [-tls] [-insecure-tls] [-timeout 10s] <command> [args]
//
// Run `palisade-ctl help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run runs palisade-ctl with args (without the program name) and returns the
// exit code: 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := newFlagSet("palisade-ctl")
	a.globals.defaults(env)
	a.globals.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		return a.usageError("%v", err)
	}
	args = fs.Args()
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	cmd, ok := findCommand(commands, args[0])
	if !ok {
		return a.usageError("unknown command %q", args[0])
	}
	return a.finish(a.do(ctx, args[0], cmd, args[1:]))
}
