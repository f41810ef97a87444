package meta

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// DefaultLeaseTTL is how long a lease lasts after it is granted or renewed
// when Config.LeaseTTL is 0 (Enterprise's [meta] lease-duration default).
const DefaultLeaseTTL = time.Minute

// leases are held in the leader's memory: a lease changes every few
// seconds, and Raft would carry each change to every data node. A new
// leader knows nothing of the old one's leases, so it grants none for a
// full TTL after it took over: by then every lease granted before has
// run out, and a holder that could not renew has stopped using it.
type leases struct {
	ttl   time.Duration
	mu    sync.Mutex
	term  uint64    // the term the table belongs to
	since time.Time // when this node found itself leader in term
	held  map[string]heldLease
	now   func() time.Time
}

type heldLease struct {
	node    uint64
	expires time.Time
}

// acquire grants name to node, or renews it, unless another node holds it.
// It returns the holder and the time left.
func (l *leases) acquire(term uint64, name string, node uint64) (uint64, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.held == nil || l.term != term {
		l.term, l.since, l.held = term, now, map[string]heldLease{}
	}
	if h, ok := l.held[name]; ok && h.node != node && now.Before(h.expires) {
		return h.node, h.expires.Sub(now)
	}
	if _, ok := l.held[name]; !ok && now.Sub(l.since) < l.ttl {
		return 0, 0 // a lease of the previous leader may still run
	}
	l.held[name] = heldLease{node: node, expires: now.Add(l.ttl)}
	return node, l.ttl
}

// AcquireLease grants or renews lease req.Name for data node req.NodeId,
// on the leader (followers forward). The answer names the holder: 0 while
// no one may hold it yet.
func (s *Store) AcquireLease(ctx context.Context, req *metapb.AcquireLeaseRequest, forward bool) (*metapb.AcquireLeaseResponse, error) {
	if req.Name == "" || req.NodeId == 0 {
		return nil, errors.New("meta: a lease needs a name and a node")
	}
	return leaderOrForward(ctx, s, forward,
		func() (*metapb.AcquireLeaseResponse, error) {
			node, ttl := s.leases.acquire(s.raft.CurrentTerm(), req.Name, req.NodeId)
			return &metapb.AcquireLeaseResponse{NodeId: node, TtlMs: ttl.Milliseconds()}, nil
		},
		func(ctx context.Context, c metapb.MetaServiceClient) (*metapb.AcquireLeaseResponse, error) {
			return c.AcquireLease(ctx, req)
		})
}
