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

	"github.com/influxdata/influxdb/models"
	"go.uber.org/zap"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/data/coordinator"
	"github.com/palisade-db/palisade/data/cq"
	"github.com/palisade-db/palisade/data/dataservice"
	"github.com/palisade-db/palisade/data/engine"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/data/monitoring"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/data/provision"
	"github.com/palisade-db/palisade/data/remote"
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
	// provision.FromEnv) is done once per cluster.
	Provision provision.Plan
	// HeartbeatInterval defaults to 5s, or a quarter of [meta]
	// change-visibility-timeout when that is shorter.
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
	cfg  *Config
	opts Options
	log  *slog.Logger

	view   *metastate.View
	shards *metastate.Shards
	cache  *auth.Cache
	engine *engine.Engine
	exec   metastate.Executor
	// cluster is what the node's parts work with (its Peers: cluster mode
	// only, set by openClusterWriter).
	cluster *peer.Cluster

	// Exactly one of these is set.
	store  *meta.Store         // standalone: the embedded meta store
	client *meta.Client        // cluster: the meta nodes
	fol    *metastate.Follower // cluster: follows the meta nodes

	// standaloneID is a standalone node's ID in its embedded store.
	standaloneID uint64
	// registered: the node registered with the meta cluster at start.
	registered bool

	// Cluster mode only: the other data nodes, hinted handoff, the writer
	// and the data service.
	peers   *peer.Peers
	hints   *coordinator.Hints
	writer  *coordinator.Writer
	mapper  *remote.ShardMapper
	dataSvc *dataservice.Service
	dataSrv *dataservice.Server

	cqs     *cq.Service
	mon     *monitoring.Monitoring
	started time.Time
	// provisioning is true from Open until first-start provisioning has
	// finished (only when there is something to provision).
	provisioning atomic.Bool

	httpSrv *http.Server
	httpLn  net.Listener
	// handler is the HTTP API's, for its statistics (nil until it is made).
	handler atomic.Pointer[httpd.Handler]

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
//   - cluster-writer (cluster mode): connections to the other data nodes,
//     hinted-handoff queues for owners that do not answer, the writer that
//     sends points to every owner, and the query side that reads every
//     owner's shards (data/coordinator, data/remote);
//   - data-service (cluster mode): the gRPC service on [cluster]
//     bind-address that the other data nodes write to and read from
//     (data/dataservice);
//   - monitoring: the numbers of SHOW STATS, /debug/vars and /metrics
//     (data/monitoring);
//   - follow: keeps the meta view current (and closing it stops the
//     node's background work);
//   - continuous-queries: runs them while this node holds their lease
//     (data/cq);
//   - http: the client API (data/httpd);
//   - provision: INFLUXDB_ADMIN_USER, INFLUXDB_DB and the other first-start
//     variables (data/provision).
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
func Open(cfg *Config, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatInterval <= 0 {
		// Every heartbeat that finds the state current confirms it, which
		// keeps Follower.Fresh from asking (it asks once the state was
		// last confirmed change-visibility-timeout/2 ago).
		opts.HeartbeatInterval = 5 * time.Second
		if b := time.Duration(cfg.Meta.ChangeVisibilityTimeout); b > 0 {
			opts.HeartbeatInterval = min(opts.HeartbeatInterval, b/4)
		}
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger.With("component", "data"), view: metastate.NewView(), shards: metastate.NewShards(),
		started: time.Now()}
	n.cluster = &peer.Cluster{Self: n.NodeID, View: n.view, Shards: n.shards, Now: time.Now, Log: n.log}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.provisioning.Store(opts.Provision != provision.Plan{})
	n.cache = auth.NewCache(auth.Options{
		LocalSecret:            []byte(cfg.HTTP.SharedSecret),
		JWTLeeway:              time.Duration(cfg.HTTP.JWTLeeway),
		FailureThreshold:       cfg.HTTP.AuthFailureThreshold,
		ClientFailureThreshold: cfg.HTTP.AuthClientFailureThreshold,
		FailureWindow:          time.Duration(cfg.HTTP.AuthFailureWindow),
	})
	n.view.OnUpdate(func(_, d *metapb.Data, ch *meta.Changes) { n.cache.UpdateChanged(d, ch.Users) })
	n.view.OnUpdate(n.shards.Update)
	n.view.OnUpdate(func(old, cur *metapb.Data, ch *meta.Changes) {
		if n.engine != nil {
			n.engine.DropRemoved(old, cur, ch)
		}
	})

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
	n.engine, err = engine.Open(cfg.Data, cfg.Coordinator, engine.Options{
		Logger: n.opts.EngineLogger,
		Log:    n.log,
		Shards: n.shards,
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
	n.wg.Go(func() {
		open := provision.Run(n.ctx, n.opts.Provision, provision.Config{
			View: n.view, Exec: n.exec, Meta: n.metaClient(10 * time.Second), AuthEnabled: n.cfg.HTTP.AuthEnabled, Log: n.log,
		})
		n.provisioning.Store(!open)
	})
	return nil
}

func (n *Node) serveHTTP() error {
	h := n.cfg.HTTP
	h.Version, h.Build = version.InfluxDBVersion, "OSS"
	h.MetaStatus = n.metaStatus
	if n.fol != nil {
		bound := time.Duration(n.cfg.Meta.ChangeVisibilityTimeout)
		h.Fresh = func(ctx context.Context) error { return n.fol.Fresh(ctx, bound) }
		h.Sync = func(ctx context.Context) (bool, error) {
			before := n.view.Index()
			if err := n.fol.Sync(ctx, bound); err != nil {
				return false, err
			}
			return n.view.Index() > before, nil
		}
	}
	h.Metrics, h.PublicMetrics = n.mon.MetricsHandler(), n.mon.PublicMetricsHandler()
	h.DebugVars = http.HandlerFunc(n.mon.DebugVars)
	handler := httpd.NewHandler(h, n.engine, n.cache, n.opts.Logger)
	n.handler.Store(handler)
	for _, c := range handler.Collectors() {
		if err := n.mon.Register(c); err != nil {
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

// openMonitoring makes the node's monitor, gives it to the engine (SHOW
// STATS, SHOW DIAGNOSTICS) and lists the statistics of every part, in the
// order SHOW STATS shows them.
func (n *Node) openMonitoring() error {
	mon, err := monitoring.Open(n.started)
	if err != nil {
		return err
	}
	n.engine.UseMonitor(mon.Monitor())
	mon.Add(monitoring.StoreStatistics(n.engine.Store), n.engine.QueryExecutor.Statistics,
		func(tags map[string]string) []models.Statistic {
			if h := n.handler.Load(); h != nil {
				return h.Statistics(tags)
			}
			return nil
		})
	if n.writer != nil {
		mon.Add(monitoring.Tagged(n.writer.Statistics))
	}
	if n.hints != nil {
		mon.Add(monitoring.Tagged(n.hints.Statistics))
	}
	if n.dataSrv != nil {
		mon.Add(monitoring.Tagged(n.dataSrv.Statistics))
	}
	mon.Add(monitoring.Tagged(func() []models.Statistic { return metastate.Statistics(n.view, n.fol, n.started) }))
	mon.Add(monitoring.Tagged(func() []models.Statistic {
		if n.cqs == nil {
			return nil
		}
		return n.cqs.Statistics()
	}))
	if n.mapper != nil {
		if err := mon.Register(n.mapper.Collector()); err != nil {
			mon.Close()
			return err
		}
	}
	n.mon = mon
	return nil
}

func (n *Node) closeMonitoring() error {
	if n.mon == nil {
		return nil
	}
	return n.mon.Close()
}

// openContinuousQueries starts the continuous query service
// ([continuous_queries] enabled).
func (n *Node) openContinuousQueries() error {
	c := n.cfg.ContinuousQueries
	if !c.Enabled {
		return nil
	}
	var lease cq.Leaser = cq.SelfLeaser{}
	if n.client != nil {
		lease = cq.MetaLeaser{Client: n.client}
	}
	n.cqs = cq.New(c, cq.Options{Cluster: n.cluster, Exec: n.engine.ExecuteQuery, Meta: n.exec, Users: n.cache.Lookup,
		AuthEnabled: n.cfg.HTTP.AuthEnabled, Lease: lease})
	n.cqs.Open()
	return nil
}

func (n *Node) closeContinuousQueries() error {
	if n.cqs == nil {
		return nil
	}
	return n.cqs.Close()
}
