package data

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/engine"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

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
		Maintenance: meta.Maintenance{
			RetentionCheckInterval:   n.cfg.Retention.Interval(),
			PrecreationCheckInterval: n.cfg.ShardPrecreation.Interval(),
			PrecreationAdvancePeriod: time.Duration(n.cfg.ShardPrecreation.AdvancePeriod),
		},
		Logger: n.opts.Logger,
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
	if err := store.WaitForFeatureLevel(ctx); err != nil {
		return fmt.Errorf("data: embedded meta store: %w", err)
	}
	resp, err := store.Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{
		HttpAddr: n.cfg.HTTPAddr(), TcpAddr: n.cfg.TCPAddr(),
	}}})
	if err != nil {
		return fmt.Errorf("data: registering with the embedded meta store: %w", err)
	}
	n.standaloneID = resp.NodeId
	n.view.Update(store.Data(), nil)
	return nil
}

// startFollowing keeps the view up to date from now on. It runs once the
// engine is open, so that updates can clean up local data.
func (n *Node) startFollowing() error {
	if n.store == nil {
		n.fol.Run(n.ctx, &n.wg, n.registered)
		return nil
	}
	n.wg.Go(func() {
		for {
			st := n.store.State()
			n.view.Update(st.Data, nil)
			select {
			case <-st.Changed():
			case <-n.ctx.Done():
				return
			}
		}
	})
	return nil
}

// closeMeta closes the embedded store or the meta client.
func (n *Node) closeMeta() error {
	if n.store != nil {
		return n.store.Close()
	}
	if n.client != nil {
		return n.client.Close()
	}
	return nil
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
	n.fol, err = metastate.NewFollower(metastate.FollowerConfig{
		Logger: n.log, Client: client, View: n.view, Dir: mc.Dir,
		HTTPAddr: n.cfg.HTTPAddr(), TCPAddr: n.cfg.TCPAddr(),
		HeartbeatEvery: n.opts.HeartbeatInterval, Rejoin: n.opts.Rejoin,
	})
	if err != nil {
		return err
	}

	// Register now if the meta cluster answers; otherwise keep trying in the background.
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	regErr := n.fol.Register(ctx)
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

// metaStatus says whether requests that need the meta state may be served
// (see httpd.MetaStatus). A standalone node's embedded store is always
// current.
func (n *Node) metaStatus() httpd.MetaStatus {
	var st httpd.MetaStatus
	if n.fol != nil {
		st = httpd.MetaStatus(n.fol.Status(time.Duration(n.cfg.Meta.MaxStateStaleness), n.cfg.HTTP.AuthEnabled))
	}
	if st.Refuse == "" && n.provisioning.Load() {
		st.Refuse = msgProvisioning
		st.Unhealthy = msgProvisioning
	}
	return st
}

// msgProvisioning answers requests (503) until first-start provisioning has
// finished.
const msgProvisioning = "provisioning the first-start users and database (INFLUXDB_ADMIN_USER, INFLUXDB_DB, …)"

// metaClient returns the engine's meta client, which refuses changes while
// the node refuses to follow its meta cluster.
func (n *Node) metaClient(timeout time.Duration) *engine.MetaClient {
	var guard func() error
	if n.fol != nil {
		guard = n.fol.Guard
	}
	return engine.NewMetaClient(n.view, n.exec, guard, timeout)
}

// MetaIndex returns the index of the meta state this node has applied.
func (n *Node) MetaIndex() uint64 { return n.view.Index() }

// WaitForMetaIndex waits until this node has the meta state at index.
func (n *Node) WaitForMetaIndex(ctx context.Context, index uint64) error {
	return n.view.WaitForIndex(ctx, index)
}
