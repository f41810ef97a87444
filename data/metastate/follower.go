package metastate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// msgWaitingForState is what requests that need the meta state get (503)
// until the node has one.
const msgWaitingForState = "waiting for the meta state"

// Follower keeps a cluster data node's view of the meta state current: it
// registers the node, follows MetaService.Watch, saves each state it
// applies, and heartbeats. It also knows how far the state can be trusted:
//
//   - The node belongs to one cluster: the first cluster ID it sees is kept
//     in node.json with the node ID. States, registrations and heartbeat
//     answers from another cluster (a meta cluster re-created with empty
//     dirs, or servers pointing at the wrong cluster) are refused: nothing
//     from them is applied, and requests that need the meta state get 503,
//     until that cluster's ID comes back or an operator restarts the node
//     with -rejoin. Local data is never deleted because of it.
//   - The state's age is the time since the node last confirmed that its
//     state was the cluster's newest: a heartbeat (or Sync) answer in which
//     the leader's index is not above the node's, timed from when it was
//     asked. A state received from Watch does not count: a node that was
//     stopped receives, when it runs again, states the meta node sent long
//     ago, and would take the first for the newest.
//   - A leader whose newest state is older than the node's (a meta cluster
//     restored from an older backup) makes the node unhealthy; older states
//     are never applied.
type Follower struct {
	log    *slog.Logger
	client *meta.Client
	view   *View
	dir    string
	// saved keeps the state on disk (follow goroutine only, after
	// NewFollower).
	saved *journal

	httpAddr, tcpAddr string
	heartbeatEvery    time.Duration
	now               func() time.Time

	idMu sync.Mutex
	id   identity

	// confirmed is when the state was last confirmed the cluster's newest
	// (unix nanoseconds).
	confirmed atomic.Int64
	// refusal, when set, is why the node refuses to follow the meta cluster
	// it reaches. behind, when set, says the cluster is behind the node.
	refusal atomic.Pointer[string]
	behind  atomic.Pointer[string]
	// leaderIndex is the leader's state index in its last heartbeat answer.
	leaderIndex atomic.Uint64

	// Failures already logged, per meta address (follow goroutine only).
	logged map[string]string

	// freshMu guards freshCall, the check that concurrent Fresh calls share.
	freshMu   sync.Mutex
	freshCall *freshCall
	// heartbeatNow makes the heartbeat loop beat before its next tick.
	heartbeatNow chan struct{}
	// unasked is when a check last found no meta node to ask (unix
	// nanoseconds): for a while after, Fresh does not ask again.
	unasked atomic.Int64
}

// freshCall is one check of Fresh: done is closed once err is set.
type freshCall struct {
	done chan struct{}
	err  error
}

// FollowerConfig configures NewFollower.
type FollowerConfig struct {
	Logger            *slog.Logger
	Client            *meta.Client
	View              *View
	Dir               string
	HTTPAddr, TCPAddr string
	HeartbeatEvery    time.Duration
	// Rejoin forgets the cluster the node belonged to (its saved state and
	// identity are moved aside) so that it joins whichever cluster it
	// reaches.
	Rejoin bool
}

// NewFollower loads the node's identity and its saved state into the view.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	f := &Follower{
		log: cfg.Logger, client: cfg.Client, view: cfg.View, dir: cfg.Dir, saved: &journal{dir: cfg.Dir},
		httpAddr: cfg.HTTPAddr, tcpAddr: cfg.TCPAddr, heartbeatEvery: cfg.HeartbeatEvery,
		now: time.Now, logged: map[string]string{}, heartbeatNow: make(chan struct{}, 1),
	}
	if cfg.Rejoin {
		suffix := "before-rejoin-" + f.now().UTC().Format("20060102T150405Z")
		for _, name := range []string{stateFile, journalFile, identityFile} {
			to, err := setAside(cfg.Dir, name, suffix)
			if err != nil {
				return nil, err
			}
			if to != "" {
				f.log.Warn("rejoin: moved aside; the node joins the meta cluster it reaches (local data is kept)", "file", to)
			}
		}
	}
	saved, err := f.saved.load()
	if err != nil {
		return nil, err
	}
	if f.id, err = loadIdentity(cfg.Dir); err != nil {
		return nil, err
	}
	if saved != nil {
		if f.id.ClusterID == "" { // node.json written before it kept the cluster ID
			f.id.ClusterID = saved.ClusterId
		}
		f.view.Update(saved, nil)
		// The state was the cluster's newest at the latest when it was
		// written: its age counts from then.
		for _, name := range []string{stateFile, journalFile} {
			if st, err := os.Stat(filepath.Join(cfg.Dir, name)); err == nil && st.ModTime().UnixNano() > f.confirmed.Load() {
				f.confirmed.Store(st.ModTime().UnixNano())
			}
		}
		f.log.Info("loaded saved meta state", "index", saved.Index, "cluster_id", f.id.ClusterID)
	}
	return f, nil
}

// LeaderIndex is the leader's state index in its last heartbeat answer (0:
// none yet).
func (f *Follower) LeaderIndex() uint64 { return f.leaderIndex.Load() }

// NodeID is the node's ID in its cluster (0 until registered).
func (f *Follower) NodeID() uint64 {
	f.idMu.Lock()
	defer f.idMu.Unlock()
	return f.id.NodeID
}

// run registers (when needed), follows and heartbeats until ctx ends.
func (f *Follower) Run(ctx context.Context, wg *sync.WaitGroup, registered bool) {
	if !registered {
		wg.Go(func() {
			for ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := f.Register(rctx)
				cancel()
				if err == nil {
					return
				}
				cluster.Sleep(ctx, time.Second)
			}
		})
	}
	wg.Go(func() { f.follow(ctx) })
	wg.Go(func() { f.heartbeat(ctx) })
}

// register registers the node with the meta cluster and keeps its ID. A
// cluster other than the node's own is refused (and not retried).
func (f *Follower) Register(ctx context.Context) error {
	resp, err := f.client.RegisterDataNode(ctx, f.httpAddr, f.tcpAddr)
	if err != nil {
		return err
	}
	if !f.checkCluster(resp.ClusterId, "registration") {
		return nil
	}
	f.idMu.Lock()
	if f.id.NodeID != 0 && f.id.NodeID != resp.NodeId {
		f.log.Warn("meta cluster gave this node a new ID", "old", f.id.NodeID, "new", resp.NodeId)
	}
	f.id.NodeID = resp.NodeId
	if f.id.ClusterID == "" {
		f.id.ClusterID = resp.ClusterId
	}
	id := f.id
	f.idMu.Unlock()
	if err := saveIdentity(f.dir, id); err != nil {
		return err
	}
	f.log.Info("registered with the meta cluster", "node_id", id.NodeID, "cluster_id", id.ClusterID)
	// A state that arrived before the node had an ID could not be
	// confirmed (heartbeats need the ID): confirm it now.
	f.confirmSoon()
	return nil
}

// confirmSoon has a heartbeat confirm the node's first state now rather
// than at the next tick (a node with max-state-staleness refuses until
// then, and /health reports no age).
func (f *Follower) confirmSoon() {
	if f.confirmed.Load() != 0 || f.view.Index() == 0 {
		return
	}
	select {
	case f.heartbeatNow <- struct{}{}:
	default:
	}
}

// checkCluster reports whether something from cluster id may be used. The
// first non-empty ID a node sees becomes its own. Anything else is refused,
// and the refusal is logged the first time.
func (f *Follower) checkCluster(id, from string) bool {
	f.idMu.Lock()
	ours := f.id.ClusterID
	f.idMu.Unlock()
	if ours == "" || id == ours {
		if old := f.refusal.Swap(nil); old != nil {
			f.log.Info("the meta cluster is this node's own again: following it", "cluster_id", id)
		}
		return true
	}
	msg := fmt.Sprintf("refusing to follow the meta cluster: this node belongs to cluster %q, the meta cluster "+
		"answers as %q. If the meta cluster was re-created on purpose, restart this node with -rejoin "+
		"(its local data is kept)", ours, id)
	if old := f.refusal.Swap(&msg); old == nil || *old != msg {
		f.log.Error(msg, "from", from)
	}
	return false
}

// follow keeps the view up to date with MetaService.Watch, saving each
// state it applies: a change as the change (the journal), a whole state
// whole. It never gives up: meta.Client.Follow retries every error on every
// address; each failure is logged once until it changes.
func (f *Follower) follow(ctx context.Context) {
	err := f.client.Follow(ctx, f.view.Data(), func(u meta.Update) error {
		d := u.Data
		if !f.checkCluster(d.ClusterId, "watch") {
			return nil
		}
		f.adoptCluster(d.ClusterId)
		// The change is the view's only when it was made from the view's
		// state (a state refused above was not applied).
		var ch *meta.Changes
		chained := u.Delta != nil && u.Delta.BaseIndex == f.view.Index()
		if chained {
			ch = u.Changes
		}
		if f.view.Update(d, ch) {
			f.behind.Store(nil)
			f.confirmSoon()
			save := func() error { return f.saved.save(d) }
			if chained {
				save = func() error { return f.saved.add(u.Delta, d) }
			}
			if err := save(); err != nil {
				f.log.Error("saving meta state", "err", err)
			}
		}
		if len(f.logged) > 0 {
			f.log.Info("following the meta cluster again", "index", d.Index)
			clear(f.logged)
		}
		return nil
	}, func(addr string, err error) {
		if msg := err.Error(); f.logged[addr] != msg {
			f.logged[addr] = msg
			f.log.Warn("following the meta cluster: retrying", "meta_server", addr, "err", err)
		}
	})
	if err != nil && ctx.Err() == nil {
		f.log.Error("following the meta cluster stopped", "err", err)
	}
}

// adoptCluster makes id the node's cluster when it has none yet.
func (f *Follower) adoptCluster(id string) {
	if id == "" {
		return
	}
	f.idMu.Lock()
	if f.id.ClusterID != "" {
		f.idMu.Unlock()
		return
	}
	f.id.ClusterID = id
	saved := f.id
	f.idMu.Unlock()
	if err := saveIdentity(f.dir, saved); err != nil {
		f.log.Error("saving node identity", "err", err)
	}
}

// heartbeat tells the leader that the node is alive and how current its
// state is; the answer confirms the state or shows that the cluster is
// another one or behind.
func (f *Follower) heartbeat(ctx context.Context) {
	t := time.NewTicker(f.heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.heartbeatNow:
		}
		id := f.NodeID()
		if id == 0 {
			continue
		}
		sent := f.now()
		have := f.view.Index()
		ageMs := int64(-1) // no state
		if age := f.Age(sent); age >= 0 {
			ageMs = age.Milliseconds()
		}
		hctx, cancel := context.WithTimeout(ctx, f.heartbeatEvery)
		resp, err := f.client.Heartbeat(hctx, &metapb.HeartbeatRequest{NodeId: id, MetaIndex: have, MetaStateAgeMs: ageMs})
		cancel()
		if err != nil {
			f.log.Debug("heartbeat", "err", err)
			continue
		}
		f.heartbeatAnswer(resp, have, sent)
	}
}

func (f *Follower) heartbeatAnswer(resp *metapb.HeartbeatResponse, have uint64, sent time.Time) {
	if !f.checkCluster(resp.ClusterId, "heartbeat") {
		return
	}
	f.leaderIndex.Store(resp.Index)
	switch {
	case resp.Index == have:
		f.confirm(sent)
		f.behind.Store(nil)
	case resp.Index < have:
		msg := fmt.Sprintf("the meta cluster's newest state (index %d) is older than this node's (index %d): "+
			"was the meta cluster restored from an older backup? This node keeps its state and applies nothing older",
			resp.Index, have)
		if old := f.behind.Swap(&msg); old == nil {
			f.log.Error(msg)
		}
	}
}

// confirm records that the state was the cluster's newest at t.
func (f *Follower) confirm(t time.Time) {
	n := t.UnixNano()
	for {
		old := f.confirmed.Load()
		if n <= old || f.confirmed.CompareAndSwap(old, n) {
			return
		}
	}
}

// age is how long before now the state was last confirmed current; -1
// when never.
func (f *Follower) Age(now time.Time) time.Duration {
	c := f.confirmed.Load()
	if c == 0 {
		return -1
	}
	return max(0, now.Sub(time.Unix(0, c)))
}

// Fresh makes sure, before the node answers a request, that its state is not
// behind a meta change that another data node has acknowledged to its
// client. Such a change waited for every data node, up to bound ([meta]
// change-visibility-timeout), before it was acknowledged; a node that did
// not confirm it in time is one whose state has not been confirmed current
// for at least that long. So while the state was confirmed current less than
// bound/2 ago, Fresh returns at once (no call: the heartbeats, every bound/4,
// keep it so). Otherwise it asks the meta leader for its state index (one
// call shared by concurrent requests) and waits, at most bound, to apply it;
// an error says the node is behind. When no meta node answers, the node
// serves from what it has, as it does while the meta cluster is away.
func (f *Follower) Fresh(ctx context.Context, bound time.Duration) error {
	if bound <= 0 {
		return nil
	}
	now := f.now()
	if age := f.Age(now); age >= 0 && age < bound/2 {
		return nil
	}
	return f.Sync(ctx, bound)
}

// Sync brings the node's state up to the meta leader's before the node
// answers from it that something does not exist (a database, a retention
// policy, a user, a privilege), like etcd's ReadIndex: it asks the leader
// for its state index, one call shared by concurrent requests, and waits,
// at most bound, to apply it. An error says the node is behind. For a
// while (bound) after no meta node answered, it does not ask and returns
// nil: the node answers from what it has, as while meta is away.
func (f *Follower) Sync(ctx context.Context, bound time.Duration) error {
	if bound <= 0 {
		bound = DefaultChangeVisibilityTimeout
	}
	if f.now().Sub(time.Unix(0, f.unasked.Load())) < bound {
		return nil // the meta cluster did not answer just now: serve meanwhile
	}
	f.freshMu.Lock()
	c := f.freshCall
	if c == nil {
		c = &freshCall{done: make(chan struct{})}
		f.freshCall = c
		go f.checkFresh(c, bound)
	}
	f.freshMu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkFresh is Fresh's shared call.
func (f *Follower) checkFresh(c *freshCall, bound time.Duration) {
	defer func() {
		f.freshMu.Lock()
		f.freshCall = nil
		f.freshMu.Unlock()
		close(c.done)
	}()
	id := f.NodeID()
	if id == 0 {
		return // not registered yet: Status answers for the node
	}
	sent := f.now()
	have := f.view.Index()
	hctx, hcancel := context.WithTimeout(context.Background(), bound/2)
	resp, err := f.client.Heartbeat(hctx, &metapb.HeartbeatRequest{NodeId: id, MetaIndex: have, MetaStateAgeMs: -1})
	hcancel()
	if err != nil || !f.checkCluster(resp.ClusterId, "heartbeat") {
		// The meta cluster is away (or another one): serve from what the
		// node has, as while meta is away.
		f.unasked.Store(f.now().UnixNano())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	f.leaderIndex.Store(resp.Index)
	if resp.Index > have {
		if err := f.view.WaitForIndex(ctx, resp.Index); err != nil {
			c.err = fmt.Errorf("meta state at index %d is behind the meta cluster's (%d) and did not catch up within "+
				"[meta] change-visibility-timeout (%s)", f.view.Index(), resp.Index, bound)
			return
		}
	}
	f.confirm(sent)
}

// Status says whether requests that need the meta state may be served
// (the node gives it to the HTTP API as httpd.MetaStatus).
type Status struct {
	// Refuse, when set, is why requests that need the meta state are
	// refused (503); Unhealthy, when set, why /health fails.
	Refuse, Unhealthy string
	// Age is how long ago the state was last confirmed current (-1: never).
	Age time.Duration
}

// Status says whether requests that need the meta state may be served.
// maxStaleness (0 = never) applies when auth is enforced: it bounds how old
// the credentials may be.
func (f *Follower) Status(maxStaleness time.Duration, authEnabled bool) Status {
	now := f.now()
	st := Status{Age: f.Age(now)}
	if r := f.refusal.Load(); r != nil {
		st.Refuse, st.Unhealthy = *r, *r
		return st
	}
	if f.view.Index() == 0 {
		st.Refuse, st.Unhealthy = msgWaitingForState, msgWaitingForState
		return st
	}
	if maxStaleness > 0 && authEnabled && (st.Age < 0 || st.Age > maxStaleness) {
		msg := fmt.Sprintf("meta state is stale: last confirmed current %s ago, more than [meta] max-state-staleness (%s)",
			st.Age.Round(time.Second), maxStaleness)
		st.Refuse, st.Unhealthy = msg, msg
		return st
	}
	if b := f.behind.Load(); b != nil {
		st.Unhealthy = *b
	}
	return st
}

// guard refuses meta changes while the node refuses its meta cluster: a
// statement applied there would never reach this node's state.
func (f *Follower) Guard() error {
	if r := f.refusal.Load(); r != nil {
		return fmt.Errorf("data: %s", *r)
	}
	return nil
}
