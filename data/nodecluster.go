package data

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/coordinator"
	"github.com/palisade-db/palisade/data/dataservice"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/data/remote"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
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
	n.peers = peer.New(n.view, cc.DialOptions(n.cfg.Meta.MetaInternalSharedSecret))
	n.peers.Log = n.log
	n.view.OnUpdate(func(old, cur *metapb.Data, _ *pmeta.Changes) { n.peers.ForgetRemoved(old, cur) })
	n.cluster.Peers = n.peers
	vis := peer.NewVisibility(n.cluster, time.Duration(n.cfg.Meta.ChangeVisibilityTimeout), n.markStale)
	n.engine.UseVisibility(func(ctx context.Context, index uint64) { vis.Await(ctx, index) })
	if n.fol != nil {
		bound := time.Duration(n.cfg.Meta.ChangeVisibilityTimeout)
		n.engine.UseSync(func(ctx context.Context) error { return n.fol.Sync(ctx, bound) })
	}
	if hc := n.cfg.HintedHandoff; hc.Enabled {
		hc.DirLocked = true // lockDirs
		hc.Logger = n.opts.Logger.With("component", "hinted-handoff")
		hints, err := coordinator.OpenHints(hc, n.cluster)
		if err != nil {
			n.peers.Close()
			return fmt.Errorf("data: opening hinted handoff in %s: %w", hc.Dir, err)
		}
		warnLegacyHints(n.log, hc.Dir)
		n.hints = hints
	}
	n.writer = coordinator.NewWriter(n.cluster, n.engine.PointsWriter, n.engine.ShardWriter, n.hints, time.Duration(n.cfg.Coordinator.WriteTimeout))
	n.engine.UseWriter(n.writer)
	// Queries read every owner's shards the same way.
	var pending remote.Pending
	if n.hints != nil {
		pending = n.hints
	}
	n.mapper = remote.NewShardMapper(n.cluster, n.engine.Meta(), n.engine.Store, pending)
	n.engine.UseShardMapper(n.mapper)
	n.engine.UseTSDBStore(remote.NewTSDBStore(n.cluster, n.engine.Store, n.writer))
	return nil
}

func (n *Node) closeClusterWriter() error {
	var errs []error
	if n.writer != nil {
		// Sends still running after their write was answered queue what
		// fails: the queues must stay open until they are done.
		n.writer.Wait(time.Duration(n.cfg.Coordinator.WriteTimeout) + 5*time.Second)
	}
	if n.hints != nil {
		errs = append(errs, n.hints.Close())
	}
	if n.peers != nil {
		errs = append(errs, n.peers.Close())
	}
	return errors.Join(errs...)
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
	svc := dataservice.Config{Cluster: n.cluster, Store: n.engine.Store, Shards: n.engine.ShardWriter, Users: n.cache.Lookup}
	if n.writer != nil {
		svc.Order = n.writer
	}
	if n.hints != nil {
		svc.Hints = n.hints
	}
	n.dataSvc = dataservice.New(svc)
	n.dataSrv = dataservice.Serve(n.dataSvc, dataservice.ServerConfig{
		Listener: ln, Secret: n.cfg.Meta.MetaInternalSharedSecret, Advertised: n.cfg.TCPAddr(), TLS: creds, Logger: n.log,
	})
	// Once registered, tell the peers this node takes writes again, so that
	// they drain what they queued for it now.
	n.wg.Go(func() {
		for n.NodeID() == 0 {
			cluster.Sleep(n.ctx, 100*time.Millisecond)
			if n.ctx.Err() != nil {
				return
			}
		}
		n.peers.Announce(n.ctx, n.NodeID(), n.log)
	})
	return nil
}

// closeDataService lets in-flight shard writes finish, then stops.
func (n *Node) closeDataService() error {
	if n.dataSrv != nil {
		n.dataSrv.Close(time.Duration(n.cfg.HTTP.ShutdownTimeout))
	}
	return nil
}

// ClusterAddr returns the address the data service listens on ("" for a
// standalone node).
func (n *Node) ClusterAddr() string {
	if n.dataSrv == nil {
		return ""
	}
	return n.dataSrv.Addr()
}

// warnLegacyHints warns when the hinted-handoff dir every node defaulted to
// before issue 17 ($HOME/.palisade/hh) holds queued writes and is not dir:
// this node may have queued them before an upgrade moved its default
// beside [data] dir. They are not replayed from there.
func warnLegacyHints(log *slog.Logger, dir string) {
	legacy := LegacyHintedHandoffDir()
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

// markStale marks in the meta state the data nodes that did not confirm the
// change at index in time (once: a node already marked stays marked until
// it catches up), when the cluster runs at the level that has the mark.
func (n *Node) markStale(nodes []uint64, index uint64) {
	if pmeta.ClusterFeatureLevel(n.view.Data()) < pmeta.LevelStaleNodes {
		return
	}
	for _, id := range nodes {
		if n.view.Stale(id) {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		_, err := n.exec.Execute(ctx, &metapb.Command{Op: &metapb.Command_MarkDataNodeStale{
			MarkDataNodeStale: &metapb.MarkDataNodeStale{NodeId: id, Index: index}}})
		cancel()
		if err != nil {
			n.log.Warn("marking a data node stale in the meta state", "node", id, "index", index, "err", err)
		}
	}
}
