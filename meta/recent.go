package meta

import (
	"sync"
	"sync/atomic"

	"github.com/palisade-db/palisade/proto/metapb"
)

// recentStates is how many of the newest states a node keeps for Watch
// streams that resume: a client that reconnects at one of their indexes
// gets a delta from it rather than the whole state.
const recentStates = 64

// recent holds the newest states this node published or relayed, by index.
// They share everything a change did not touch, so keeping them costs
// only what the changes cost.
type recent struct {
	mu     sync.Mutex
	states [recentStates]*metapb.Data
	next   int

	// made is the last delta a Watch stream made: the streams that follow
	// one node send the same change from the same state, and make it once.
	made atomic.Pointer[madeDelta]
}

type madeDelta struct {
	base, cur *metapb.Data
	delta     *metapb.StateDelta
}

// delta returns MakeDelta(base, cur), made once for all the streams that
// ask for the same pair. The delta is only read (marshalled) afterwards.
func (r *recent) delta(base, cur *metapb.Data) *metapb.StateDelta {
	if m := r.made.Load(); m != nil && m.base == base && m.cur == cur {
		return m.delta
	}
	d := MakeDelta(base, cur)
	r.made.Store(&madeDelta{base: base, cur: cur, delta: d})
	return d
}

// add keeps d.
func (r *recent) add(d *metapb.Data) {
	if d.GetIndex() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if last := r.states[(r.next+recentStates-1)%recentStates]; last != nil && last.Index == d.Index {
		return
	}
	r.states[r.next] = d
	r.next = (r.next + 1) % recentStates
}

// at returns the kept state at index, or nil.
func (r *recent) at(index uint64) *metapb.Data {
	if index == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.states {
		if d != nil && d.Index == index {
			return d
		}
	}
	return nil
}
