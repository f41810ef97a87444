package cq

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/metapb"
)

// fakeLeaser answers acquire with holder and ttl, or err.
type fakeLeaser struct {
	holder uint64
	ttl    time.Duration
	err    error
	asked  int
}

func (f *fakeLeaser) acquire(context.Context, string, uint64) (uint64, time.Duration, error) {
	f.asked++
	return f.holder, f.ttl, f.err
}

// TestCQLeaseWhenMetaIsAway: the holder keeps running the queries while
// its last grant is fresh, stops at two thirds of the TTL when it cannot
// renew (the meta leader unreachable), asks again at a third, and a node
// told that another holds the lease waits until it runs out before asking.
func TestCQLeaseWhenMetaIsAway(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &fakeLeaser{holder: 7, ttl: 30 * time.Second}
	s := New(NewConfig(), Options{Cluster: &peer.Cluster{Self: func() uint64 { return 7 }, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }},
		Lease: l})
	if !s.holds() {
		t.Fatal("granted, but does not hold")
	}
	l.err = errors.New("meta unreachable")
	now = now.Add(5 * time.Second)
	if !s.holds() || l.asked != 1 {
		t.Fatalf("before a third of the TTL: holds %v, asked %d times (want no new ask)", s.holds(), l.asked)
	}
	now = now.Add(6 * time.Second) // 11 s: past a third, renewal fails
	if !s.holds() || l.asked != 2 {
		t.Fatalf("renewal failed at 11 s: holds %v, asked %d; want still holding (the grant runs to 20 s)", s.holds(), l.asked)
	}
	now = now.Add(9 * time.Second) // 20 s: two thirds
	if s.holds() {
		t.Fatal("still running the queries at two thirds of the TTL without a renewal")
	}
	if s.stats.Holding.Load() != 0 {
		t.Error("the lease_held gauge still says 1")
	}

	// Another node holds it for 12 s more: no asking until then.
	l.err, l.holder, l.ttl = nil, 9, 12*time.Second
	now = now.Add(time.Second)
	asked := l.asked
	if s.holds() {
		t.Fatal("holds a lease another node has")
	}
	now = now.Add(11 * time.Second)
	if s.holds(); l.asked != asked+1 {
		t.Fatalf("asked %d times while another node held the lease, want once", l.asked-asked)
	}
	now = now.Add(2 * time.Second)
	l.holder, l.ttl = 7, 30*time.Second
	if !s.holds() {
		t.Fatal("not taking the lease once the other's ran out")
	}
}

// TestDeepStoredContinuousQueryIsACountedFailure (issue 17, point 6): a
// continuous query in the meta state nested far past the limit (stored by
// an older meta node) killed every data node at every start, parsing it
// overflowed the stack. Now each run fails, counted, and the node goes on.
func TestDeepStoredContinuousQueryIsACountedFailure(t *testing.T) {
	s := New(NewConfig(), Options{Cluster: &peer.Cluster{Self: func() uint64 { return 1 }, Log: slog.New(slog.DiscardHandler)}, Lease: SelfLeaser{}})
	db := &metapb.Database{Name: "db", DefaultRetentionPolicy: "autogen"}
	for _, q := range []string{
		"CREATE CONTINUOUS QUERY deep ON db BEGIN SELECT count(v) INTO x FROM m WHERE " +
			strings.Repeat("(", 3_000_000) + "v > 0" + strings.Repeat(")", 3_000_000) + " GROUP BY time(1m) END",
		"CREATE CONTINUOUS QUERY chain ON db BEGIN SELECT count(v) INTO x FROM m WHERE " +
			strings.Repeat("v > 0 OR ", 100_000) + "v > 1 GROUP BY time(1m) END",
	} {
		before := s.stats.QueryFail.Load()
		s.runOne(db, &metapb.ContinuousQuery{Name: "q", Query: q})
		if s.stats.QueryFail.Load() != before+1 {
			t.Fatalf("a stored query nested too deep was not a counted failure")
		}
	}
}
