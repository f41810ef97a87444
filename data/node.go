package data

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/internal/dirlock"
	"github.com/palisade-db/palisade/internal/version"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Options are what a Node needs beyond its config.
type Options struct {
	Logger *slog.Logger
	// HTTPListener, when set, serves the HTTP API instead of listening on
	// [http] bind-address (tests bind 127.0.0.1:0).
	HTTPListener net.Listener
	// Provision (INFLUXDB_ADMIN_USER, INFLUXDB_DB, INFLUXDB_USER, …: see
	// ProvisionFromEnv) creates what is missing at every start.
	Provision Provision
	// HeartbeatInterval defaults to 5s.
	HeartbeatInterval time.Duration
	// EngineLogger receives the storage engine's logs; nil discards them.
	EngineLogger *zap.Logger
	// ClusterListener, when set, serves the data service instead of
	// listening on [cluster] bind-address (cluster mode only).
	ClusterListener net.Listener
	// HTTPConnState, when set, observes the HTTP connections' states.
	HTTPConnState func(net.Conn, http.ConnState)
	// Rejoin (palisade-data -rejoin) makes a cluster node forget the meta
	// cluster it belonged to: its saved state and identity are moved aside
	// and it joins the cluster its [meta] servers belong to now. Local data
	// is kept.
	Rejoin bool
}

// Node is a running data node.
type Node struct {
	cfg  *configs.Data
	opts Options
	log  *slog.Logger

	view   *MetaView
	shards *shardDirectory
	cache  *auth.Cache
	engine *Engine
	exec   MetaExecutor

	// Exactly one of these is set.
	store  *meta.Store  // standalone: the embedded meta store
	client *meta.Client // cluster: the meta nodes
	fol    *follower    // cluster: follows the meta nodes

	// standaloneID is a standalone node's ID in its embedded store.
	standaloneID uint64
	// registered: the node registered with the meta cluster at start.
	registered bool

	// Cluster mode only: the other data nodes, hinted handoff, and the
	// data service.
	peers   *peers
	cqs     *cqService
	mon     *monitoring
	started time.Time
	writer  *clusterWriter
	hints   *hintedHandoff
	dataSvc *shardService
	dataSrv *grpc.Server
	dataLn  net.Listener
	// provisioning is true from Open until first-start provisioning has
	// finished (only when there is something to provision).
	provisioning atomic.Bool
	// dataStats and dataConnsRefused count what the data service's guards
	// refused and recovered.
	dataStats        *cluster.ServerStats
	dataConnsRefused *atomic.Int64

	httpSrv *http.Server
	httpLn  net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// locks are the directories' locks (lockDirs), released by Close.
	locks dirlock.Set

	// opened are the services opened so far, closed in reverse order.
	opened    []service
	closeOnce sync.Once
	closeErr  error
}

// service is one part of a data node. A node opens its services in order
// and closes them in reverse, so that each is opened after, and closed
// before, the services it uses.
type service struct {
	name  string
	open  func() error
	close func() error // nil: nothing to close
}

// services lists the node's services in the order they open:
//
//   - meta: the embedded meta store, or the saved state and registration
//     with the meta cluster;
//   - engine: the storage and query engine;
//   - hinted-handoff and peers (cluster mode): queues for owners that do
//     not answer, connections to the other data nodes, and the cluster
//     writer that sends points to every owner;
//   - data-service (cluster mode): the gRPC service on [cluster]
//     bind-address that the other data nodes write to;
//   - follow: keeps the meta view current (and closing it stops the
//     node's background work);
//   - http: the client API;
//   - provision: INFLUXDB_ADMIN_USER, INFLUXDB_DB and the other first-start
//     variables (Provision).
func (n *Node) services() []service {
	return []service{
		{name: "meta", open: n.openMeta, close: n.closeMeta},
		{name: "engine", open: n.openEngine, close: func() error { return n.engine.Close() }},
		{name: "cluster-writer", open: n.openClusterWriter, close: n.closeClusterWriter},
		{name: "data-service", open: n.openDataService, close: n.closeDataService},
		{name: "monitoring", open: n.openMonitoring, close: n.closeMonitoring},
		{name: "follow", open: n.startFollowing, close: n.stopBackground},
		{name: "continuous-queries", open: n.openContinuousQueries, close: n.closeContinuousQueries},
		{name: "http", open: n.serveHTTP, close: n.closeHTTP},
		{name: "provision", open: n.startProvision},
	}
}

// standaloneRaftAddr is the Raft identity of a standalone node's embedded
// meta store; it never leaves the process.
const standaloneRaftAddr = "standalone"

// Open starts a data node: its services, in order (see services).
func Open(cfg *configs.Data, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger.With("component", "data"), view: NewMetaView(), shards: newShardDirectory(),
		started: time.Now()}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.provisioning.Store(opts.Provision != Provision{})
	n.cache = auth.NewCache(auth.Options{
		LocalSecret:            []byte(cfg.HTTP.SharedSecret),
		JWTLeeway:              time.Duration(cfg.HTTP.JWTLeeway),
		FailureThreshold:       cfg.HTTP.AuthFailureThreshold,
		ClientFailureThreshold: cfg.HTTP.AuthClientFailureThreshold,
		FailureWindow:          time.Duration(cfg.HTTP.AuthFailureWindow),
	})
	n.view.OnUpdate(func(_, d *metapb.Data) { n.cache.Update(d) })
	n.view.OnUpdate(n.shards.update)
	n.view.OnUpdate(n.dropRemoved)

	if err := os.MkdirAll(cfg.Meta.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data: creating [meta] dir %s: %w", cfg.Meta.Dir, err)
	}
	if err := n.lockDirs(); err != nil {
		return nil, err
	}
	for _, s := range n.services() {
		if err := s.open(); err != nil {
			n.Close()
			return nil, err
		}
		n.opened = append(n.opened, s)
	}
	n.log.Info("data node started", "mode", n.mode(), "http", n.httpLn.Addr().String(), "auth_enabled", cfg.HTTP.AuthEnabled,
		"data_dir", cfg.Data.Dir, "meta_dir", cfg.Meta.Dir)
	return n, nil
}

// lockDirs locks every directory the node writes ([meta] dir, [data] dir
// and wal-dir, and in a cluster the hinted-handoff dir), before any service
// opens one: a second node given one of them stops here, naming the
// process that holds it, before it registers with the meta nodes, opens the
// engine or replays a queue. Two nodes on one directory corrupt each other
// (issue 17: nodes sharing a hinted-handoff dir replayed each other's
// queues). Close releases the locks last; a killed process releases them
// with its files.
func (n *Node) lockDirs() error {
	cfg := n.cfg
	dirs := []struct{ dir, what string }{
		{cfg.Meta.Dir, "[meta] dir"}, {cfg.Data.Dir, "[data] dir"}, {cfg.Data.WALDir, "[data] wal-dir"},
	}
	if !cfg.Standalone() && cfg.HintedHandoff.Enabled {
		dirs = append(dirs, struct{ dir, what string }{cfg.HintedHandoff.Dir, "[hinted-handoff] dir"})
	}
	for _, d := range dirs {
		if err := n.locks.Acquire(d.dir, d.what); err != nil {
			n.locks.Release()
			return fmt.Errorf("data: %w", err)
		}
	}
	return nil
}

func (n *Node) openEngine() error {
	cfg := n.cfg
	var err error
	n.engine, err = OpenEngine(EngineConfig{
		Dir:                     cfg.Data.Dir,
		WALDir:                  cfg.Data.WALDir,
		IndexVersion:            cfg.Data.IndexVersion,
		CacheMaxMemorySize:      cfg.Data.CacheMaxMemorySize,
		CacheSnapshotMemorySize: cfg.Data.CacheSnapshotMemorySize,
		QueryLogEnabled:         cfg.Data.QueryLogEnabled,
		WriteTimeout:            time.Duration(cfg.Coordinator.WriteTimeout),
		MaxConcurrentQueries:    cfg.Coordinator.MaxConcurrentQueries,
		QueryTimeout:            time.Duration(cfg.Coordinator.QueryTimeout),
		LogQueriesAfter:         time.Duration(cfg.Coordinator.LogQueriesAfter),
		MaxSelectPointN:         cfg.Coordinator.MaxSelectPointN,
		MaxSelectSeriesN:        cfg.Coordinator.MaxSelectSeriesN,
		MaxSelectBucketsN:       cfg.Coordinator.MaxSelectBucketsN,
		Logger:                  n.opts.EngineLogger,
	}, n.metaClient(30*time.Second))
	return err
}

// stopBackground stops the node's goroutines (following meta, the admin
// bootstrap) and waits for them.
func (n *Node) stopBackground() error {
	n.cancel()
	n.wg.Wait()
	return nil
}

func (n *Node) startProvision() error {
	n.wg.Add(1)
	go n.provision()
	return nil
}

func (n *Node) serveHTTP() error {
	h := n.cfg.HTTP
	handler := httpd.NewHandler(httpd.Config{
		AuthEnabled:             h.AuthEnabled,
		PingAuthEnabled:         h.PingAuthEnabled,
		MaxBodySize:             h.MaxBodySize,
		MaxQuerySize:            h.MaxQuerySize,
		MaxConcurrentWriteLimit: h.MaxConcurrentWriteLimit,
		LogEnabled:              h.LogEnabled,
		Version:                 version.InfluxDBVersion,
		Build:                   "OSS",
		MetaStatus:              n.metaStatus,
		BindAddress:             h.BindAddress,
		Metrics:                 n.mon.metricsHandler(),
		PublicMetrics:           n.mon.publicMetricsHandler(),
		DebugVars:               http.HandlerFunc(n.mon.debugVars),
		PprofEnabled:            h.PprofEnabled,
		PprofAuthEnabled:        h.PprofAuthEnabled,
	}, n.engine, n.cache, n.opts.Logger)
	n.mon.handler = handler
	for _, c := range handler.Collectors() {
		if err := n.mon.register(c); err != nil {
			return err
		}
	}
	ln := n.opts.HTTPListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", h.BindAddress); err != nil {
			return fmt.Errorf("data: listening on [http] bind-address %s: %w", h.BindAddress, err)
		}
	}
	if h.HTTPSEnabled {
		cert, err := tls.LoadX509KeyPair(h.HTTPSCertificate, h.HTTPSKeyPath())
		if err != nil {
			ln.Close()
			return fmt.Errorf("data: loading [http] https-certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	}
	n.httpLn = ln
	n.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, ConnState: n.opts.HTTPConnState}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP server stopped", "err", err)
		}
	}()
	return nil
}

// closeHTTP stops accepting requests and lets in-flight ones finish,
// bounded by [http] shutdown-timeout.
func (n *Node) closeHTTP() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n.cfg.HTTP.ShutdownTimeout))
	defer cancel()
	if err := n.httpSrv.Shutdown(ctx); err != nil {
		n.log.Warn("in-flight requests did not finish in time", "err", err)
		return n.httpSrv.Close()
	}
	return nil
}

// Handler returns the HTTP API's handler, e.g. to drive it in-process.
func (n *Node) Handler() http.Handler { return n.httpSrv.Handler }

// HTTPAddr returns the address the HTTP API listens on.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// NodeID returns this node's ID (0 until registered).
func (n *Node) NodeID() uint64 {
	if n.fol != nil {
		return n.fol.NodeID()
	}
	return n.standaloneID
}

// Close closes the node's services in reverse order: the HTTP API first
// (in-flight requests may finish, bounded by [http] shutdown-timeout), then
// background work, the data service, the cluster writer, the engine, and
// the meta side.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	var errs []error
	for i := len(n.opened) - 1; i >= 0; i-- {
		if s := n.opened[i]; s.close != nil {
			if err := s.close(); err != nil {
				errs = append(errs, fmt.Errorf("data: closing %s: %w", s.name, err))
			}
		}
	}
	n.opened = nil
	// A node that failed to open may have goroutines running that no
	// opened service owns.
	n.cancel()
	n.wg.Wait()
	errs = append(errs, n.locks.Release()) // nothing writes the directories any more
	return errors.Join(errs...)
}
