package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// secretEnv holds the internal shared secret when -secret is not given. It
// is the variable the meta nodes read [meta] internal-shared-secret from.
const secretEnv = "INFLUXDB_META_INTERNAL_SHARED_SECRET"

// globals are the flags every command accepts, before or after its name.
type globals struct {
	bind        string
	secret      string
	tls         bool
	insecureTLS bool
	timeout     time.Duration
}

func (g *globals) defaults(env []string) {
	g.bind = "localhost:8091"
	g.secret = lookupEnv(env, secretEnv)
	g.timeout = 10 * time.Second
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.bind, "bind", g.bind, "meta node gRPC `address`es, comma-separated (host:port)")
	fs.StringVar(&g.secret, "secret", g.secret, "internal shared `secret` of the meta nodes (default $"+secretEnv+"; prefer the variable: flags show in ps)")
	fs.BoolVar(&g.tls, "tls", g.tls, "connect to the meta nodes with TLS")
	fs.BoolVar(&g.insecureTLS, "insecure-tls", g.insecureTLS, "connect with TLS without verifying certificates (implies -tls)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "give up after this `duration`")
}

// addrs returns the meta node addresses of -bind.
func (g *globals) addrs() []string {
	var out []string
	for a := range strings.SplitSeq(g.bind, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func lookupEnv(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val // a later entry wins, as in os.Getenv
		}
	}
	return v
}

// app is one run of palisade-ctl.
type app struct {
	globals globals
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer

	client *meta.Client
	cancel context.CancelFunc
}

// usageError is a mistake in the command line: exit code 2 and a pointer to
// the command's help.
type usageError struct {
	msg string
	// cmd is the command whose help to point at ("" for the general help).
	cmd string
}

func (e *usageError) Error() string { return e.msg }

func usageErr(cmd, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), cmd: cmd}
}

// errHelpShown ends a run successfully after a help text was printed.
var errHelpShown = errors.New("help shown")

// usageError reports a usage error from outside a command.
func (a *app) usageError(format string, args ...any) int {
	return a.finish(usageErr("", format, args...))
}

// finish releases the run's resources, reports err and returns the exit code.
func (a *app) finish(err error) int {
	if a.cancel != nil {
		a.cancel()
	}
	if a.client != nil {
		a.client.Close()
	}
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "palisade-ctl: %s\n", ue.msg)
		if ue.cmd != "" {
			fmt.Fprintf(a.stderr, "Run 'palisade-ctl help %s' for usage.\n", ue.cmd)
		} else {
			fmt.Fprintln(a.stderr, "Run 'palisade-ctl help' for usage.")
		}
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "palisade-ctl: %s\n", a.describe(err))
	return exitFail
}

// connect returns a client for the meta nodes of -bind and a context bounded
// by -timeout. Both are released by finish.
func (a *app) connect(ctx context.Context) (context.Context, *meta.Client, error) {
	g := a.globals
	addrs := g.addrs()
	if len(addrs) == 0 {
		return nil, nil, usageErr("", "-bind: no meta node address given")
	}
	if g.timeout <= 0 {
		return nil, nil, usageErr("", "-timeout must be positive, got %s", g.timeout)
	}
	c, err := meta.NewClient(addrs, cluster.DialOptions{
		Secret:      g.secret,
		TLS:         g.tls || g.insecureTLS,
		InsecureTLS: g.insecureTLS,
	})
	if err != nil {
		return nil, nil, err
	}
	a.client = c
	ctx, a.cancel = context.WithTimeout(ctx, g.timeout)
	return ctx, c, nil
}

// connectState connects and fetches the cluster state from a meta node.
func (a *app) connectState(ctx context.Context) (context.Context, *meta.Client, *metapb.Data, error) {
	ctx, c, err := a.connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err := c.Snapshot(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return ctx, c, data, nil
}

// warnf prints a warning that does not make the command fail.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "palisade-ctl: warning: "+format+"\n", args...)
}
