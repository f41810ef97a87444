package testcluster

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
)

// DataNode is an in-process data node. Its directories and addresses stay
// the same across Kill and Restart.
type DataNode struct {
	t    testing.TB
	Cfg  *data.Config
	Opts data.Options
	// URL is the HTTP API's base URL, e.g. http://127.0.0.1:41234.
	URL  string
	addr string
	// clusterAddr is the data service's address (cluster mode).
	clusterAddr string
	*data.Node
}

// DataOptions configure a data node.
type DataOptions struct {
	// Configure changes the config before the node starts.
	Configure func(*data.Config)
	// Node options (admin bootstrap, logger).
	Node data.Options
}

// StartStandalone starts a standalone data node (embedded meta store).
func StartStandalone(t testing.TB, o DataOptions) *DataNode {
	t.Helper()
	return startData(t, nil, "", o)
}

// AddData starts a data node that follows this meta cluster. When a meta
// node is running, it returns once the data node has its first meta state
// (until then the node answers 503 to requests that need it).
func (c *Cluster) AddData(o DataOptions) *DataNode {
	c.t.Helper()
	d := startData(c.t, c.RPCAddrs(), c.opts.Secret, o)
	if len(c.Running()) > 0 {
		WaitFor(c.t, 30*time.Second, "the data node's first meta state", func() bool { return d.MetaIndex() > 0 })
	}
	return d
}

func startData(t testing.TB, servers []string, secret string, o DataOptions) *DataNode {
	t.Helper()
	dir := t.TempDir()
	cfg := data.NewConfig()
	cfg.Hostname = "127.0.0.1"
	cfg.Meta.Dir = filepath.Join(dir, "meta")
	cfg.Meta.Servers = servers
	cfg.Meta.MetaInternalSharedSecret = secret
	cfg.Meta.PasswordHashCost = 4
	cfg.Data.Dir = filepath.Join(dir, "data")
	cfg.Data.WALDir = filepath.Join(dir, "wal")
	cfg.HintedHandoff.Dir = filepath.Join(dir, "hh")
	cfg.HTTP.LogEnabled = false
	cfg.HTTP.ShutdownTimeout = configs.Duration(5 * time.Second)
	// The cluster port is this node's identity in the meta state, and a
	// cluster node serves the data service on it.
	cl := listen(t, "127.0.0.1:0")
	cfg.Cluster.BindAddress = cl.Addr().String()
	cl.Close()
	if o.Configure != nil {
		o.Configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testcluster: data config: %v", err)
	}
	if o.Node.Logger == nil {
		o.Node.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Node.HeartbeatInterval == 0 {
		o.Node.HeartbeatInterval = 200 * time.Millisecond
	}
	d := &DataNode{t: t, Cfg: cfg, Opts: o.Node, clusterAddr: cfg.Cluster.BindAddress}
	ln := listen(t, "127.0.0.1:0")
	d.addr = ln.Addr().String()
	d.URL = "http://" + d.addr
	d.start(ln)
	t.Cleanup(func() {
		if d.Node != nil {
			d.Node.Close()
		}
	})
	return d
}

func (d *DataNode) start(ln net.Listener) {
	d.t.Helper()
	opts := d.Opts
	opts.HTTPListener = ln
	if len(d.Cfg.Meta.Servers) > 0 {
		opts.ClusterListener = listen(d.t, d.clusterAddr)
	}
	n, err := data.Open(d.Cfg, opts)
	if err != nil {
		ln.Close()
		if opts.ClusterListener != nil {
			opts.ClusterListener.Close()
		}
		d.t.Fatalf("testcluster: open data node: %v", err)
	}
	d.Node = n
}

// Kill closes the node (its directories stay).
func (d *DataNode) Kill() {
	d.t.Helper()
	if d.Node == nil {
		return
	}
	if err := d.Node.Close(); err != nil {
		d.t.Logf("testcluster: closing data node: %v", err)
	}
	d.Node = nil
}

// Restart starts a killed node again with the same config and address.
func (d *DataNode) Restart() {
	d.t.Helper()
	if d.Node != nil {
		d.t.Fatalf("testcluster: data node is running")
	}
	d.start(listen(d.t, d.addr))
}
