package meta

import (
	"testing"
	"time"
)

// TestLeases (issue 11, point 3): one holder at a time; the holder renews;
// another node gets the lease only once it ran out; a new leader (term)
// grants nothing for a TTL, since the old leader's grants may still run.
func TestLeases(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &leases{ttl: 10 * time.Second, now: func() time.Time { return now }}
	expect := func(what string, term uint64, node, wantHolder uint64, wantTTL time.Duration) {
		t.Helper()
		holder, ttl := l.acquire(term, "cq", node)
		if holder != wantHolder || ttl != wantTTL {
			t.Fatalf("%s: holder %d for %s, want %d for %s", what, holder, ttl, wantHolder, wantTTL)
		}
	}
	expect("a new leader grants nothing at first", 1, 1, 0, 0)
	now = now.Add(9 * time.Second)
	expect("nor just before a TTL has passed", 1, 1, 0, 0)
	now = now.Add(time.Second)
	expect("then the first asker gets it", 1, 1, 1, 10*time.Second)
	now = now.Add(4 * time.Second)
	expect("another node is told who holds it and for how long", 1, 2, 1, 6*time.Second)
	expect("the holder renews", 1, 1, 1, 10*time.Second)
	now = now.Add(9 * time.Second)
	expect("not yet run out", 1, 2, 1, time.Second)
	now = now.Add(time.Second)
	expect("run out: the other node gets it", 1, 2, 2, 10*time.Second)
	expect("and the first is refused", 1, 1, 2, 10*time.Second)
	if holder, _ := l.acquire(1, "other", 1); holder != 1 {
		t.Fatalf("another lease name: holder %d, want 1", holder)
	}

	// The same node leads again after another leader: a new term.
	now = now.Add(time.Second)
	expect("a new term forgets the grants, and waits a TTL", 2, 2, 0, 0)
	now = now.Add(10 * time.Second)
	expect("after which anyone may get it", 2, 1, 1, 10*time.Second)
}
