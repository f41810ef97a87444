package meta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
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
