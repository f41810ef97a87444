package meta_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestFollowersLearnCommitsAtOnce (issue 20, point 1): a change the leader
// acknowledges reaches every follower's state within a round trip, not at
// the leader's next commit-timeout. With commit-timeout at 2 s, a follower
// would learn of each change 2 to 4 s after it was acknowledged.
func TestFollowersLearnCommitsAtOnce(t *testing.T) {
	const commitTimeout = 2 * time.Second
	c := testcluster.New(t, testcluster.Options{Meta: 3, Configure: func(_ int, cfg *meta.Config) {
		cfg.CommitTimeout = commitTimeout
	}})
	c.WaitForLeader()
	waitConverged(t, c) // what the nodes proposed at start
	l := c.LeaderIndex()
	for i := range 5 {
		resp := mustExecute(t, c, l, createDatabase(fmt.Sprintf("db%d", i)))
		acked := time.Now()
		for j, n := range c.Nodes {
			if j == l {
				continue
			}
			for n.Store.Data().GetIndex() < resp.Index {
				if time.Since(acked) > commitTimeout/4 {
					t.Fatalf("change %d (index %d): meta node %d has index %d %v after the leader acknowledged it",
						i, resp.Index, j, n.Store.Data().GetIndex(), time.Since(acked))
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// TestFollowerWatchRelaysTheLeader (issue 20, point 1): a Watch on a
// follower gets each change as soon as the leader has applied it, even
// while the follower itself has not (it is held here), and the follower's
// own state is unchanged by what it relays. After the leader is killed,
// the relay follows the new leader.
func TestFollowerWatchRelaysTheLeader(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3})
	c.WaitForLeader()
	waitConverged(t, c)
	assertRelays(t, c, c.Follower(), "relayed")

	c.Kill(c.LeaderIndex())
	c.WaitForLeader()
	assertRelays(t, c, c.Follower(), "relayed-after-failover")
}

// assertRelays watches follower f, holds its applies, creates database db
// through the leader, and checks that the Watch sends the change while f's
// own state has not moved.
func assertRelays(t *testing.T, c *testcluster.Cluster, f int, db string) {
	t.Helper()
	cl, err := meta.NewClient([]string{c.Nodes[f].RPCAddr}, cluster.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 64)
	go cl.Watch(ctx, 0, func(d *metapb.Data) error {
		select {
		case got <- d.Index:
		case <-ctx.Done():
		}
		return nil
	}, nil)
	// The stream's first state: the relay starts with the first watcher.
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no state from the follower's Watch")
	}
	time.Sleep(3 * 200 * time.Millisecond) // the follower's stream on the leader is open

	release := c.Nodes[f].Store.HoldApplies()
	defer release()
	before := c.Nodes[f].Store.Data().GetIndex()
	resp := mustExecute(t, c, c.LeaderIndex(), createDatabase(db))
	deadline := time.After(10 * time.Second)
	for idx := uint64(0); idx < resp.Index; {
		select {
		case idx = <-got:
		case <-deadline:
			t.Fatalf("the Watch of meta node %d did not send index %d while the node held its applies", f, resp.Index)
		}
	}
	if now := c.Nodes[f].Store.Data().GetIndex(); now != before {
		t.Fatalf("meta node %d's own state moved from %d to %d while its applies were held", f, before, now)
	}
	release()
	c.WaitFor("the follower to apply the change", func() bool { return c.Nodes[f].Store.Data().GetIndex() >= resp.Index })
}
