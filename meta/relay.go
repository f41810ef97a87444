package meta

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// relayCheck is how often a follower checks that it still relays from
// the leader that leads (and that someone watches).
const relayCheck = 200 * time.Millisecond

// relay holds the leader's newest state as a follower receives it, for the
// follower's own Watch streams (issue 20).
//
// A follower applies a change once an AppendEntries tells it the change is
// committed; even with the commit notice (commits.go) that is a log append
// on the leader and one on the follower after the leader's answer, two
// fsyncs in series. A follower that data nodes watch therefore watches the
// leader itself, and its Watch streams send whichever state is newer, its
// own or the leader's: a state the leader applied is committed, so a data
// node may have it before this follower does. Nothing else on the follower
// reads the relayed state; its own reads (WaitForApplied, Data) stay its
// own. The leader's stream runs only while this node has watchers, and it
// follows leadership changes.
type relay struct {
	// watchers counts the Watch streams this node serves.
	watchers atomic.Int32
	// wake starts the relay when the first watcher arrives.
	wake chan struct{}

	// recent is the store's: relayed states serve resuming streams too.
	recent *recent

	mu      sync.Mutex
	data    *metapb.Data
	changed chan struct{}
}

func newRelay(r *recent) *relay {
	return &relay{wake: make(chan struct{}, 1), changed: make(chan struct{}), recent: r}
}

// latest returns the newest relayed state (nil: none) and a channel closed
// when it changes.
func (r *relay) latest() (*metapb.Data, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data, r.changed
}

// offer keeps d when it is newer than what the relay holds.
func (r *relay) offer(d *metapb.Data) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data != nil && d.GetIndex() <= r.data.GetIndex() {
		return
	}
	r.data = d
	r.recent.add(d)
	close(r.changed)
	r.changed = make(chan struct{})
}

// newest is what a Watch stream sends: this node's state, or the relayed
// one when it is as new (the same state: preferring it keeps a stream on
// one line of states, whose deltas are made by comparing pointers) or newer,
// and of the same cluster.
func (s *Store) newest() (*metapb.Data, <-chan struct{}, <-chan struct{}) {
	st := s.State()
	rd, changed := s.relay.latest()
	if rd != nil && rd.Index >= st.Data.Index && (st.Data.ClusterId == "" || rd.ClusterId == st.Data.ClusterId) {
		return rd, st.Changed(), changed
	}
	return st.Data, st.Changed(), changed
}

// relayLeader keeps a Watch stream on the leader while this node is a
// follower that serves Watch streams.
func (s *Store) relayLeader() {
	defer s.wg.Done()
	t := time.NewTicker(relayCheck)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-s.relay.wake:
		case <-t.C:
		}
		if s.relay.watchers.Load() == 0 || s.IsLeader() {
			continue
		}
		if addr := s.leaderRPCAddr(); addr != "" && addr != s.cfg.RPCAddr {
			s.relayFrom(addr)
		}
	}
}

// relayFrom relays the states of the leader at addr until the stream ends,
// the leader changes, nobody watches this node any more, or it closes.
func (s *Store) relayFrom(addr string) {
	conn, err := s.peers.Get(addr)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		t := time.NewTicker(relayCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.closed:
				cancel()
				return
			case <-t.C:
				if s.relay.watchers.Load() == 0 || s.leaderRPCAddr() != addr {
					cancel()
					return
				}
			}
		}
	}()
	// The leader sends deltas from the newest state this node has, its
	// own or relayed.
	base, _, _ := s.newest()
	stream, err := metapb.NewMetaServiceClient(conn).Watch(ctx, &metapb.WatchRequest{Index: base.Index, Deltas: true})
	if err != nil {
		return
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return
		}
		d := resp.GetData()
		if resp.GetDelta() != nil {
			if d, _, err = ApplyDelta(base, resp.Delta); err != nil {
				return // the next relayFrom starts again
			}
		}
		if d == nil {
			return
		}
		s.relay.offer(d)
		base = d
	}
}
