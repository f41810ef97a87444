package data

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/credentials"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data/hh"
)

// openClusterWriter (cluster mode) connects the node to the other data
// nodes: a connection pool, the hinted-handoff queues, the writer that
// sends every point to all owners of its shard, and the shard mapper that
// reads every shard of a query from one of its owners. A standalone node
// keeps the engine's own writer and mapper: it owns every shard.
func (n *Node) openClusterWriter() error {
	if n.store != nil {
		return nil
	}
	cc := n.cfg.Cluster
	n.peers = newPeers(n.view, cluster.DialOptions{
		Secret: n.cfg.Meta.MetaInternalSharedSecret, TLS: cc.HTTPSEnabled, InsecureTLS: cc.HTTPSInsecureTLS,
	})
	n.view.OnUpdate(n.peers.forgetRemoved)
	w := &clusterWriter{
		mapper:  n.engine.PointsWriter,
		store:   n.engine.Store,
		view:    n.view,
		self:    n.NodeID,
		peers:   n.peers,
		timeout: time.Duration(n.cfg.Coordinator.WriteTimeout),
		log:     n.log,
		live:    n.shards.exists,
		tickets: newSendTickets(),
	}
	if hc := n.cfg.HintedHandoff; hc.Enabled {
		svc, err := hh.Open(hh.Config{
			Dir:              hc.Dir,
			MaxSize:          int64(min(hc.MaxSize, 1<<62)),
			MaxTotalSize:     int64(min(hc.MaxTotalSize, 1<<62)),
			MinFreeSpace:     int64(min(hc.MinFreeSpace, 1<<62)),
			MaxAge:           time.Duration(hc.MaxAge),
			RetryConcurrency: hc.RetryConcurrency,
			RetryRateLimit:   int64(min(hc.RetryRateLimit, 1<<62)),
			RetryInterval:    time.Duration(hc.RetryInterval),
			RetryMaxInterval: time.Duration(hc.RetryMaxInterval),
			PurgeInterval:    time.Duration(hc.PurgeInterval),
			DirLocked:        true, // lockDirs
			Logger:           n.opts.Logger.With("component", "hinted-handoff"),
		}, newHintSender(n.peers))
		if err != nil {
			n.peers.Close()
			return fmt.Errorf("data: opening hinted handoff in %s: %w", hc.Dir, err)
		}
		warnLegacyHints(n.log, hc.Dir)
		svc.SetPurgeFilter(n.keepHintsForNode, n.keepHintsForShard)
		n.hints = &hintedHandoff{svc: svc}
		w.hints = n.hints
	}
	n.engine.useWriter(w)
	n.writer = w
	// Queries read every owner's shards the same way.
	sm := &clusterShardMapper{meta: n.engine.meta, store: n.engine.Store, dir: n.shards, view: n.view, self: n.NodeID, peers: n.peers}
	if n.hints != nil {
		sm.pending = n.hints.svc.PendingShard
	}
	n.engine.useShardMapper(sm)
	n.engine.statements.TSDBStore = &clusterTSDBStore{
		LocalTSDBStore: coordinator.LocalTSDBStore{Store: n.engine.Store}, dir: n.shards, view: n.view, self: n.NodeID, peers: n.peers,
		writer: w,
	}
	return nil
}

func (n *Node) closeClusterWriter() error {
	var errs []error
	if n.writer != nil {
		// Sends still running after their write was answered queue what
		// fails: the queues must stay open until they are done.
		n.writer.wait(time.Duration(n.cfg.Coordinator.WriteTimeout) + 5*time.Second)
	}
	if n.hints != nil {
		errs = append(errs, n.hints.svc.Close())
	}
	if n.peers != nil {
		errs = append(errs, n.peers.Close())
	}
	return errors.Join(errs...)
}

// keepHintsForNode and keepHintsForShard tell the hinted-handoff purge what
// to keep: the queues of data nodes and the records of shards that the meta
// state has. Without a state (a node just started from nothing, or
// rejoined) everything is kept: an empty state is not a removal.
func (n *Node) keepHintsForNode(id uint64) bool { return n.view.Index() == 0 || n.dataNodeExists(id) }

func (n *Node) keepHintsForShard(id uint64) bool { return n.view.Index() == 0 || n.shards.exists(id) }

// dataNodeExists reports whether the meta state has data node id.
func (n *Node) dataNodeExists(id uint64) bool {
	for _, dn := range n.view.Data().GetDataNodes() {
		if dn.Id == id {
			return true
		}
	}
	return false
}

// openDataService (cluster mode) serves the DataService on [cluster]
// bind-address, authenticated with the internal shared secret, with TLS
// when [cluster] https-enabled.
func (n *Node) openDataService() error {
	if n.store != nil {
		return nil
	}
	cc := n.cfg.Cluster
	var creds credentials.TransportCredentials
	if cc.HTTPSEnabled {
		key := cc.HTTPSPrivateKey
		var err error
		if creds, err = cluster.ServerTLS(cc.HTTPSCertificate, key); err != nil {
			return fmt.Errorf("data: [cluster] https-certificate: %w", err)
		}
	}
	ln := n.opts.ClusterListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cc.BindAddress); err != nil {
			return fmt.Errorf("data: listening on [cluster] bind-address %s: %w", cc.BindAddress, err)
		}
	}
	if n.cfg.Meta.MetaInternalSharedSecret == "" {
		n.log.Warn("[meta] meta-internal-shared-secret is empty: the data service on [cluster] bind-address accepts shard writes "+
			"from anyone who can reach it; set the same internal secret on every node", "addr", ln.Addr().String())
	}
	svc := &shardService{self: n.NodeID, view: n.view, dir: n.shards, store: n.engine.Store, log: n.log, authorize: n.authorizeRead}
	if n.writer != nil {
		svc.orderDelete = n.writer.orderDelete
	}
	if n.hints != nil {
		svc.kick = func(node uint64) {
			n.peers.reconnect(node)
			n.hints.svc.Kick(node)
		}
	}
	n.dataSvc = svc
	limited := cluster.LimitListener(ln, 0)
	ln = limited
	n.dataSrv, n.dataStats = newDataServer(svc, n.cfg.Meta.MetaInternalSharedSecret, n.cfg.TCPAddr(), creds, n.log)
	n.dataConnsRefused = &limited.Refused
	n.dataLn = ln
	// Not on n.wg: the data service outlives the background work that
	// stopBackground waits for.
	go func() {
		if err := n.dataSrv.Serve(ln); err != nil {
			n.log.Error("data service stopped", "err", err)
		}
	}()
	// Once registered, tell the peers this node takes writes again, so that
	// they drain what they queued for it now.
	n.wg.Go(func() {
		for n.NodeID() == 0 {
			sleepCtx(n.ctx, 100*time.Millisecond)
			if n.ctx.Err() != nil {
				return
			}
		}
		n.peers.announce(n.ctx, n.NodeID(), n.log)
	})
	return nil
}

// closeDataService lets in-flight shard writes finish, then stops.
func (n *Node) closeDataService() error {
	if n.dataSrv == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { n.dataSrv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(n.cfg.HTTP.ShutdownTimeout)):
		n.dataSrv.Stop()
	}
	return nil
}

// ClusterAddr returns the address the data service listens on ("" for a
// standalone node).
func (n *Node) ClusterAddr() string {
	if n.dataLn == nil {
		return ""
	}
	return n.dataLn.Addr().String()
}

// warnLegacyHints warns when the hinted-handoff dir every node defaulted to
// before issue 17 ($HOME/.palisade/hh) holds queued writes and is not dir:
// this node may have queued them before an upgrade moved its default
// beside [data] dir. They are not replayed from there.
func warnLegacyHints(log *slog.Logger, dir string) {
	legacy := configs.LegacyHintedHandoffDir()
	if filepath.Clean(legacy) == filepath.Clean(dir) {
		return
	}
	segs, _ := filepath.Glob(filepath.Join(legacy, "[0-9]*", "*.seg"))
	if len(segs) == 0 {
		return
	}
	log.Warn("hinted-handoff queues found in the former default [hinted-handoff] dir, which is not this node's: "+
		"the default is now beside [data] dir. If they are this node's, stop it and move them into its dir (or set "+
		"[hinted-handoff] dir to the former one); if another node uses them, nothing is to be done",
		"found", legacy, "dir", dir)
}

// hintedHandoff adapts hh.Service to the cluster writer.
type hintedHandoff struct {
	svc *hh.Service
}

// Enqueue queues payload for node. A record refused for want of room
// (hh.FullError) is ErrHintedHandoffFull, which the client gets as 503 with
// Retry-After, with hh's words for how full (they name no path).
func (h *hintedHandoff) Enqueue(node, shardID uint64, payload []byte) error {
	err := h.svc.Enqueue(node, shardID, payload)
	var full *hh.FullError
	if errors.As(err, &full) {
		return fmt.Errorf("%w for data node %d: %s", ErrHintedHandoffFull, node, full.Detail)
	}
	return err
}

func (h *hintedHandoff) Pending(node uint64) bool { return h.svc.Pending(node) }

// authorizeRead checks the user of a remote read as this node's HTTP API
// would: the user must exist here and may read db. user is "" when the
// query runs where authentication is off (during a rolling restart that
// enables it, say): the peer proved itself with the internal secret.
func (n *Node) authorizeRead(user string, system bool, db string) error {
	if user == "" {
		if system {
			return nil
		}
		return errors.New("a read for no user, not marked as the sending node's own")
	}
	u := n.cache.Lookup(user)
	if u == nil {
		return fmt.Errorf("user %q not found on data node %d", user, n.NodeID())
	}
	if !u.Authorize(influxql.ReadPrivilege, db) {
		return fmt.Errorf("user %q is not authorized to read database %q", user, db)
	}
	return nil
}
