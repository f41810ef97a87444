package daemon

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/internal/healthcheck"
)

// testConfig is a configuration that is valid once it has a hostname.
type testConfig struct {
	Hostname string
	Logging  configs.Logging
}

func (c *testConfig) Validate() error {
	if c.Hostname == "" {
		return errors.New("hostname: empty")
	}
	return nil
}

// testRunner has -hostname and opens a testNode.
type testRunner struct {
	hostname string
	node     *testNode
}

func (r *testRunner) Flags(fs *flag.FlagSet) { fs.StringVar(&r.hostname, "hostname", "", "hostname") }

func (r *testRunner) Configure(cfg *testConfig) { cfg.Hostname = r.hostname }

func (r *testRunner) Open(_ *testConfig, log *slog.Logger, _ io.Writer) (io.Closer, error) {
	log.Info("opened")
	return r.node, nil
}

// testNode stops by itself with the error in done.
type testNode struct {
	done   chan error
	closed bool
}

func (n *testNode) Done() <-chan error { return n.done }

func (n *testNode) Close() error {
	n.closed = true
	return nil
}

func testBinary(node *testNode) Binary[*testConfig] {
	return Binary[*testConfig]{
		Name:      "palisade-test",
		Version:   "v0",
		Component: "test",
		Defaults:  func() *testConfig { return &testConfig{} },
		Load: func(string, []string) (*testConfig, []configs.Warning, error) {
			return &testConfig{Logging: configs.Logging{Level: "info", Format: "text"}}, []configs.Warning{{Key: "x.y"}}, nil
		},
		Logging:   func(cfg *testConfig) configs.Logging { return cfg.Logging },
		NewRunner: func() Runner[*testConfig] { return &testRunner{node: node} },
		Health: Health[*testConfig]{
			Options: func(*testConfig) healthcheck.Options { return healthcheck.Options{} },
			Check:   func(healthcheck.Options) error { return nil },
		},
	}
}

// TestRunEndsWhenTheNodeStops: a node whose server stops by itself ends
// the run with that error and is closed; the flags applied before Validate,
// and the config's warnings were logged before the node opened.
func TestRunEndsWhenTheNodeStops(t *testing.T) {
	node := &testNode{done: make(chan error, 1)}
	node.done <- errors.New("listener gone")
	var stdout, stderr bytes.Buffer
	err := testBinary(node).Command([]string{"-hostname", "h"}, &stdout, &stderr)
	if err == nil || err.Error() != "listener gone" || !node.closed {
		t.Fatalf("run: %v (closed %t), want the node's error and the node closed", err, node.closed)
	}
	log := stderr.String()
	warn, opened, stopped := strings.Index(log, "key=x.y"), strings.Index(log, "msg=opened"), strings.Index(log, `msg="gRPC server stopped" component=test err="listener gone"`)
	if warn < 0 || opened < warn || stopped < opened {
		t.Fatalf("log out of order or incomplete:\n%s", log)
	}
}

func TestCommands(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		stdout  string
		wantErr string
	}{
		{args: []string{"version"}, stdout: "palisade-test v0\n"},
		{args: []string{"config"}, stdout: "Hostname = \"\"\n\n[Logging]\nlevel = \"\"\nformat = \"\"\n"},
		{args: []string{"healthcheck"}, stdout: "ok\n"},
		{args: []string{"bogus"}, wantErr: `unknown command "bogus" (want run, config, version or healthcheck)`},
		{args: []string{"run"}, wantErr: "hostname: empty"},
		{args: []string{"-nope"}, wantErr: "flag provided but not defined: -nope"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			node := &testNode{}
			var stdout, stderr bytes.Buffer
			err := testBinary(node).Command(tt.args, &stdout, &stderr)
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) || tt.wantErr == "" && err != nil {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if tt.stdout != "" && stdout.String() != tt.stdout {
				t.Fatalf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if node.closed {
				t.Fatal("a node was opened")
			}
		})
	}
}
