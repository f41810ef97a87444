package peer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/datapb"
)

// A data node that did not answer a call (down, hung, cut off) costs the
// call that found out one timeout; after that its circuit is open: reads
// go to its shards' other owners first (Reachable is false) and writes
// queue its points at once (coordinator.Writer), instead of every
// statement and write waiting the timeout again. While the circuit is
// open, a probe (a call that needs no work from the node) asks it every
// breakerCooldown, in the background; the first call that it answers,
// probe or not, closes the circuit.
const (
	breakerCooldown     = time.Second
	breakerProbeTimeout = 2 * time.Second
)

// circuit is the state of an open circuit.
type circuit struct {
	// next is when the node may be probed again; probing, whether a probe
	// is running.
	next    time.Time
	probing bool
}

type breakers struct {
	// n is len(open): with no circuit open, calls take no lock.
	n    atomic.Int32
	mu   sync.Mutex
	open map[uint64]*circuit
}

// Record records how a call to node ended (Call does it; a stream's
// caller records how it opened). err counts against the node only when
// the node did not answer (cluster.Unreachable) and the caller did not
// give up first (ctx canceled).
func (p *Peers) Record(ctx context.Context, node uint64, err error) {
	switch {
	case err == nil || !cluster.Unreachable(err):
		if p.breakers.n.Load() > 0 {
			p.closeCircuit(node)
		}
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller went away: says nothing about the node.
	default:
		p.openCircuit(node, err)
	}
}

func (p *Peers) openCircuit(node uint64, err error) {
	p.breakers.mu.Lock()
	defer p.breakers.mu.Unlock()
	if c := p.breakers.open[node]; c != nil {
		c.next = p.now().Add(breakerCooldown)
		return
	}
	if p.breakers.open == nil {
		p.breakers.open = map[uint64]*circuit{}
	}
	p.breakers.open[node] = &circuit{next: p.now().Add(breakerCooldown)}
	p.breakers.n.Add(1)
	if p.Log != nil {
		p.Log.Warn("a data node did not answer; its shards are read from their other owners and its points queued until it answers again",
			"node", node, "err", err)
	}
}

func (p *Peers) closeCircuit(node uint64) {
	p.breakers.mu.Lock()
	defer p.breakers.mu.Unlock()
	if _, ok := p.breakers.open[node]; !ok {
		return
	}
	delete(p.breakers.open, node)
	p.breakers.n.Add(-1)
	if p.Log != nil {
		p.Log.Info("a data node answers again", "node", node)
	}
}

// Available reports whether node's circuit is closed: it answered its last
// call. While it is open, Available starts a probe of the node when one is
// due.
func (p *Peers) Available(node uint64) bool {
	if p.breakers.n.Load() == 0 {
		return true
	}
	p.breakers.mu.Lock()
	c := p.breakers.open[node]
	if c == nil {
		p.breakers.mu.Unlock()
		return true
	}
	probe := !c.probing && !p.now().Before(c.next)
	if probe {
		c.probing = true
	}
	p.breakers.mu.Unlock()
	if probe {
		go p.probe(node)
	}
	return false
}

// probe asks node for nothing (the meta index it has already applied):
// Call records whether it answered.
func (p *Peers) probe(node uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), breakerProbeTimeout)
	defer cancel()
	_, _ = Call(ctx, p, node, datapb.DataServiceClient.AwaitMetaIndex, &datapb.AwaitMetaIndexRequest{})
	p.breakers.mu.Lock()
	if c := p.breakers.open[node]; c != nil {
		c.probing = false
	}
	p.breakers.mu.Unlock()
}

func (p *Peers) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
