// Package healthcheck is the client side of `palisade-meta healthcheck` and
// `palisade-data healthcheck`: one short request to a node, an error unless
// the node says it is healthy. The commands need no shell, so they serve as
// exec probes in a container image that has none.
package healthcheck

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palisade-db/palisade/cluster"
)

// PasswordEnv holds the -password of a data node's healthcheck when the
// flag is not given.
const PasswordEnv = "PALISADE_HEALTHCHECK_PASSWORD"

// Options say where the node is and how to reach it.
type Options struct {
	// Addr is host:port. An empty host means this host (127.0.0.1).
	Addr        string
	TLS         bool
	InsecureTLS bool
	Timeout     time.Duration
	// Username and Password (data nodes) are sent as Basic credentials, for
	// a node with [http] ping-auth-enabled.
	Username, Password string
}

// Command is the `healthcheck` subcommand of a node's binary: it parses
// args (the flags below and -config), takes from fromConfig (the node's own
// config file and INFLUXDB_* variables, as the node reads them) the address
// and TLS settings no flag gave, runs check, and prints "ok".
func Command(name string, args []string, stdout, stderr io.Writer, withCredentials bool,
	fromConfig func(path string) (Options, error), check func(Options) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the node's TOML config file (default: built-in defaults and INFLUXDB_* variables)")
	o := flags(fs, withCredentials)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if withCredentials && o.Password == "" {
		// A password in the arguments is visible to every user of the host
		// (ps): the environment is the better place.
		o.Password = os.Getenv(PasswordEnv)
	}
	cfg, err := fromConfig(*path)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["addr"] {
		o.Addr = cfg.Addr
	}
	if !set["tls"] {
		o.TLS = cfg.TLS
	}
	if !set["insecure-tls"] {
		o.InsecureTLS = cfg.InsecureTLS
	}
	if err := check(*o); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// flags registers the options' flags on fs.
func flags(fs *flag.FlagSet, withCredentials bool) *Options {
	o := &Options{}
	fs.StringVar(&o.Addr, "addr", "", "the node's address (host:port; an empty host is 127.0.0.1; default: from the config)")
	fs.BoolVar(&o.TLS, "tls", false, "use TLS (default: from the config)")
	fs.BoolVar(&o.InsecureTLS, "insecure-tls", false, "with -tls, do not verify the node's certificate")
	fs.DurationVar(&o.Timeout, "timeout", 3*time.Second, "give up after this long")
	if withCredentials {
		fs.StringVar(&o.Username, "username", "", "user for a node with [http] ping-auth-enabled")
		fs.StringVar(&o.Password, "password", "", "that user's password (better: $"+PasswordEnv+", not visible in ps)")
	}
	return o
}

// addr is o.Addr with an empty host made loopback.
func (o *Options) addr() (string, error) {
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return "", fmt.Errorf("-addr %q: %w", o.Addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Meta asks the standard gRPC health service on a meta node's RPC port.
func Meta(o Options) error {
	addr, err := o.addr()
	if err != nil {
		return err
	}
	conn, err := cluster.Dial(addr, cluster.DialOptions{TLS: o.TLS, InsecureTLS: o.InsecureTLS})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("meta node %s: %w", addr, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("meta node %s: %s", addr, s)
	}
	return nil
}

// Data asks a data node's /health, which answers 200 only once the node
// has a meta state it trusts.
func Data(o Options) error {
	addr, err := o.addr()
	if err != nil {
		return err
	}
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true}
	if o.TLS {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.InsecureTLS, MinVersion: tls.VersionTLS12} //nolint:gosec // operator's explicit choice
	}
	client := &http.Client{Transport: tr, Timeout: o.Timeout}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/health", nil)
	if err != nil {
		return err
	}
	if o.Username != "" {
		req.SetBasicAuth(o.Username, o.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("data node %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("data node %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
