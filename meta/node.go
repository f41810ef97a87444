package meta

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"google.golang.org/grpc"

	"github.com/palisade-db/palisade/cluster"
)

// Node is a running meta node: a Store and the MetaService gRPC server.
type Node struct {
	Store   *Store
	srv     *grpc.Server
	ln      net.Listener
	metrics *http.Server // nil unless NodeConfig.MetricsBind is set
	done    chan error
	once    sync.Once
}

// NodeConfig configures OpenNode.
type NodeConfig struct {
	Store Config
	// RPCListener, when set, serves the MetaService; otherwise RPCBind is listened on.
	RPCListener net.Listener
	RPCBind     string
	Server      ServerOptions
	// MetricsBind, when set, serves /metrics (Prometheus) over plain HTTP
	// ([meta] metrics-bind-address); MetricsListener, when set, instead.
	MetricsBind     string
	MetricsListener net.Listener
}

// OpenNode opens the store and starts serving the MetaService.
func OpenNode(cfg NodeConfig) (*Node, error) {
	ln := cfg.RPCListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RPCBind); err != nil {
			return nil, fmt.Errorf("meta: listening for gRPC on %s: %w", cfg.RPCBind, err)
		}
	}
	limited := cluster.LimitListener(ln, 0)
	ln = limited
	if cfg.Server.Logger == nil {
		cfg.Server.Logger = cfg.Store.Logger
	}
	store, err := Open(cfg.Store)
	if err != nil {
		ln.Close()
		return nil, err
	}
	n := &Node{Store: store, ln: ln, done: make(chan error, 1)}
	var stats *cluster.ServerStats
	n.srv, stats = NewGRPCServer(store, cfg.Server)
	if err := n.serveMetrics(cfg, rpcCollector(stats, limited)); err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	go func() { n.done <- Serve(n.srv, ln) }()
	return n, nil
}

// serveMetrics serves /metrics: the Go runtime, the process, and the
// store's Raft and state numbers. It changes nothing, so it needs no
// credentials (like a data node's with ping-auth-enabled off).
func (n *Node) serveMetrics(cfg NodeConfig, rpc []prometheus.Collector) error {
	ln := cfg.MetricsListener
	if ln == nil {
		if cfg.MetricsBind == "" {
			return nil
		}
		var err error
		if ln, err = net.Listen("tcp", cfg.MetricsBind); err != nil {
			return fmt.Errorf("meta: listening for /metrics on %s: %w", cfg.MetricsBind, err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), n.Store.Collector())
	reg.MustRegister(rpc...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	n.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.metrics.Serve(ln) }()
	return nil
}

// rpcCollector reports what the MetaService's guards refused and recovered.
func rpcCollector(s *cluster.ServerStats, ln *cluster.LimitedListener) []prometheus.Collector {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "palisade_meta_rpc_" + name, Help: help},
			func() float64 { return float64(v()) })
	}
	return []prometheus.Collector{
		counter("unauthenticated_total", "RPCs refused on their headers: no, a bad, an expired or a replayed internal token.", s.Refused.Load),
		counter("panics_total", "RPC handlers that panicked (recovered; the call failed with Internal).", s.Panics.Load),
		counter("connections_refused_total", "Connections closed at once for being over the per-host limit.", ln.Refused.Load),
	}
}

// Done is sent the gRPC server's error (nil on a normal stop) when it stops.
func (n *Node) Done() <-chan error { return n.done }

// Close stops serving and closes the store.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		// Stop makes open Watch streams end; GracefulStop would wait on them.
		n.srv.Stop()
		if n.metrics != nil {
			n.metrics.Close()
		}
		err = errors.Join(n.Store.Close())
	})
	return err
}
