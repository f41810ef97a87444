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
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data/httpd"
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
	// AdminUser and AdminPassword (INFLUXDB_ADMIN_USER / _PASSWORD) create
	// the admin at start when it does not exist.
	AdminUser, AdminPassword string
	// HeartbeatInterval defaults to 5s.
	HeartbeatInterval time.Duration
	// EngineLogger receives the storage engine's logs; nil discards them.
	EngineLogger *zap.Logger
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

	httpSrv *http.Server
	httpLn  net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// standaloneRaftAddr is the Raft identity of a standalone node's embedded
// meta store; it never leaves the process.
const standaloneRaftAddr = "standalone"

// Open starts a data node: meta (embedded or followed), engine, HTTP API.
func Open(cfg *configs.Data, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger.With("component", "data"), view: NewMetaView()}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.cache = auth.NewCache(auth.Options{
		LocalSecret:            []byte(cfg.HTTP.SharedSecret),
		JWTLeeway:              time.Duration(cfg.HTTP.JWTLeeway),
		FailureThreshold:       cfg.HTTP.AuthFailureThreshold,
		ClientFailureThreshold: cfg.HTTP.AuthClientFailureThreshold,
		FailureWindow:          time.Duration(cfg.HTTP.AuthFailureWindow),
	})
	n.view.OnUpdate(func(_, d *metapb.Data) { n.cache.Update(d) })
	n.view.OnUpdate(n.dropRemoved)

	if err := os.MkdirAll(cfg.Meta.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data: creating [meta] dir %s: %w", cfg.Meta.Dir, err)
	}
	if err := n.openMeta(); err != nil {
		n.Close()
		return nil, err
	}
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
		Logger:                  opts.EngineLogger,
	}, n.metaClient(30*time.Second))
	if err != nil {
		n.Close()
		return nil, err
	}
	n.startFollowing()
	if err := n.serveHTTP(); err != nil {
		n.Close()
		return nil, err
	}
	n.wg.Add(1)
	go n.bootstrapAdmin()
	n.log.Info("data node started", "mode", n.mode(), "http", n.httpLn.Addr().String(), "auth_enabled", cfg.HTTP.AuthEnabled,
		"data_dir", cfg.Data.Dir, "meta_dir", cfg.Meta.Dir)
	return n, nil
}

func (n *Node) mode() string {
	if n.store != nil {
		return "standalone"
	}
	return "cluster"
}

// openMeta opens the embedded store (standalone) or starts following the meta
// cluster, and registers this node.
func (n *Node) openMeta() error {
	if n.cfg.Standalone() {
		return n.openEmbeddedMeta()
	}
	return n.openClusterMeta()
}

func (n *Node) openEmbeddedMeta() error {
	_, trans := raft.NewInmemTransport(standaloneRaftAddr)
	store, err := meta.Open(meta.Config{
		Dir:              filepath.Join(n.cfg.Meta.Dir, "raft"),
		RaftAddr:         standaloneRaftAddr,
		Transport:        trans,
		PasswordHashCost: n.cfg.Meta.PasswordHashCost,
		// A single voter needs no failure detection: elect at once.
		ElectionTimeout:    50 * time.Millisecond,
		HeartbeatTimeout:   50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		Logger:             n.opts.Logger,
		// Raft's own messages mean little for a single in-process voter.
		RaftLogLevel: "error",
	})
	if err != nil {
		return err
	}
	n.store, n.exec = store, store
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	if err := store.WaitForLeader(ctx); err != nil {
		return fmt.Errorf("data: embedded meta store did not start: %w", err)
	}
	resp, err := store.Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{
		HttpAddr: n.cfg.HTTPAddr(), TcpAddr: n.cfg.TCPAddr(),
	}}})
	if err != nil {
		return fmt.Errorf("data: registering with the embedded meta store: %w", err)
	}
	n.standaloneID = resp.NodeId
	n.view.Update(store.Data())
	return nil
}

// startFollowing keeps the view up to date from now on. It runs once the
// engine is open, so that updates can clean up local data.
func (n *Node) startFollowing() {
	if n.store == nil {
		n.fol.run(n.ctx, &n.wg, n.registered)
		return
	}
	n.wg.Go(func() {
		for {
			st := n.store.State()
			n.view.Update(st.Data)
			select {
			case <-st.Changed():
			case <-n.ctx.Done():
				return
			}
		}
	})
}

func (n *Node) openClusterMeta() error {
	mc := n.cfg.Meta
	client, err := meta.NewClient(mc.Servers, cluster.DialOptions{
		Secret: mc.MetaInternalSharedSecret, TLS: mc.MetaTLSEnabled, InsecureTLS: mc.MetaInsecureTLS,
	})
	if err != nil {
		return err
	}
	n.client, n.exec = client, client

	// Start from the last state we saw, so that users authenticate even when
	// no meta node answers.
	n.fol, err = newFollower(followerConfig{
		Logger: n.log, Client: client, View: n.view, Dir: mc.Dir,
		HTTPAddr: n.cfg.HTTPAddr(), TCPAddr: n.cfg.TCPAddr(),
		HeartbeatEvery: n.opts.HeartbeatInterval, Rejoin: n.opts.Rejoin,
	})
	if err != nil {
		return err
	}

	// Register now if the meta cluster answers; otherwise keep trying in the background.
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	regErr := n.fol.register(ctx)
	cancel()
	if regErr == nil {
		n.registered = true
		return nil
	}
	if n.view.Index() == 0 {
		n.log.Warn("meta cluster unreachable and no saved state: requests that need the meta state get 503 until it answers", "err", regErr)
	} else {
		n.log.Warn("meta cluster unreachable: serving from the saved state", "err", regErr, "index", n.view.Index())
	}
	return nil
}

// dropRemoved deletes local data of databases and retention policies that
// the new state no longer has.
//
// Local data is never deleted because of a change of cluster: a node that
// rejoined another meta cluster keeps what that cluster does not know about.
func (n *Node) dropRemoved(old, cur *metapb.Data) {
	if n.engine == nil || old == nil || old.Index == 0 || old.ClusterId != cur.ClusterId {
		return
	}
	for _, db := range old.Databases {
		ndb := meta.FindDatabase(cur, db.Name)
		if ndb == nil {
			if err := n.engine.Store.DeleteDatabase(db.Name); err != nil {
				n.log.Error("deleting dropped database", "db", db.Name, "err", err)
			}
			continue
		}
		for _, rp := range db.RetentionPolicies {
			if meta.FindRetentionPolicy(ndb, rp.Name) == nil {
				if err := n.engine.Store.DeleteRetentionPolicy(db.Name, rp.Name); err != nil {
					n.log.Error("deleting dropped retention policy", "db", db.Name, "rp", rp.Name, "err", err)
				}
			}
		}
	}
}

// bootstrapAdmin creates the admin named by INFLUXDB_ADMIN_USER when it does
// not exist. When it exists it leaves it alone (and says so if the password
// differs), so a restart with the variables still set simply starts.
func (n *Node) bootstrapAdmin() {
	defer n.wg.Done()
	name, pw := n.opts.AdminUser, n.opts.AdminPassword
	if name == "" {
		return
	}
	if pw == "" {
		n.log.Warn("INFLUXDB_ADMIN_USER is set but INFLUXDB_ADMIN_PASSWORD is empty: not creating the admin user")
		return
	}
	for attempt := 0; n.ctx.Err() == nil; attempt++ {
		if u := meta.FindUser(n.view.Data(), name); u != nil && n.view.Index() > 0 {
			if !auth.CheckPassword(u.Hash, pw) {
				n.log.Warn("admin user from INFLUXDB_ADMIN_USER exists with a different password than INFLUXDB_ADMIN_PASSWORD; leaving it unchanged", "user", name)
			} else if !u.Admin {
				n.log.Warn("user from INFLUXDB_ADMIN_USER exists but is not an admin; leaving it unchanged", "user", name)
			}
			return
		}
		_, err := n.metaClient(10*time.Second).CreateUser(name, pw, true)
		if err == nil {
			n.log.Info("created admin user from INFLUXDB_ADMIN_USER", "user", name)
			return
		}
		if errors.Is(err, meta.ErrUserExists) {
			continue // created elsewhere meanwhile: check it on the next round
		}
		if attempt == 0 {
			n.log.Warn("creating admin user from INFLUXDB_ADMIN_USER failed; retrying", "user", name, "err", err)
		}
		sleepCtx(n.ctx, time.Second)
	}
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
	}, n.engine, n.cache, n.opts.Logger)
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

// metaStatus says whether requests that need the meta state may be served
// (see httpd.MetaStatus). A standalone node's embedded store is always
// current.
func (n *Node) metaStatus() httpd.MetaStatus {
	if n.fol == nil {
		return httpd.MetaStatus{}
	}
	return n.fol.status(time.Duration(n.cfg.Meta.MaxStateStaleness), n.cfg.HTTP.AuthEnabled)
}

// metaClient returns the engine's meta client, which refuses changes while
// the node refuses to follow its meta cluster.
func (n *Node) metaClient(timeout time.Duration) *metaClient {
	mc := &metaClient{view: n.view, exec: n.exec, timeout: timeout}
	if n.fol != nil {
		mc.guard = n.fol.guard
	}
	return mc
}

// MetaIndex returns the index of the meta state this node has applied.
func (n *Node) MetaIndex() uint64 { return n.view.Index() }

// WaitForMetaIndex waits until this node has the meta state at index.
func (n *Node) WaitForMetaIndex(ctx context.Context, index uint64) error {
	return n.view.WaitForIndex(ctx, index)
}

// Close stops accepting requests, lets in-flight ones finish (bounded by
// [http] shutdown-timeout), then closes the engine and the meta side.
func (n *Node) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n.cfg.HTTP.ShutdownTimeout))
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			n.log.Warn("in-flight requests did not finish in time", "err", err)
			errs = append(errs, n.httpSrv.Close())
		}
		cancel()
	}
	n.cancel()
	n.wg.Wait()
	if n.engine != nil {
		errs = append(errs, n.engine.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.client != nil {
		errs = append(errs, n.client.Close())
	}
	return errors.Join(errs...)
}
