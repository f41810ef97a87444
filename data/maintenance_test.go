package data_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestRetentionAcrossNodes (issue 11, point 1): once a policy's duration
// makes shard groups expire, the meta leader deletes them, every owner drops
// its copy (one that was down when it happened too, after it restarts), the
// points queued for the down owner's copy are dropped rather than replayed
// into a new shard, and nothing younger is touched.
func TestRetentionAcrossNodes(t *testing.T) {
	c := newReplClusterWithMeta(t, 2, func(cfg *pmeta.Config) {
		cfg.Maintenance.RetentionCheckInterval = 50 * time.Millisecond
	}, func(cfg *data.Config) {
		cfg.HintedHandoff.PurgeInterval = configs.Duration(100 * time.Millisecond)
	})
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db", noCred)
	mustQuery(t, c.data[0].URL, "CREATE RETENTION POLICY short ON db DURATION 24h REPLICATION 2 SHARD DURATION 1h DEFAULT", noCred)
	now := time.Now()
	old, older, young := now.Add(-3*time.Hour-time.Minute), now.Add(-5*time.Hour), now.Add(-time.Minute)
	for _, at := range []time.Time{older, old, young} {
		if r := writeCL(t, c.data[0].URL, "db", "all", batch("cpu", 0, 100, at)); r.status != http.StatusNoContent {
			t.Fatalf("write at %s: %d %s", at, r.status, r.body)
		}
	}
	// The second node goes down, and points for the oldest group are
	// queued for it.
	down := c.data[1]
	downID := down.NodeID()
	down.Kill()
	if r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", 100, 50, older)); r.status != http.StatusNoContent {
		t.Fatalf("write with an owner down: %d %s", r.status, r.body)
	}
	if !c.data[0].HintsPending(downID) {
		t.Fatal("nothing queued for the owner that is down")
	}

	// 2 hours: the groups of older and old end before now-2h; young's does not.
	mustQuery(t, c.data[0].URL, "ALTER RETENTION POLICY short ON db DURATION 2h", noCred)
	var expired, live []*metapb.ShardGroup
	testcluster.WaitFor(t, 10*time.Second, "the expired groups deleted", func() bool {
		expired, live = nil, nil
		for _, sg := range pmeta.FindRetentionPolicy(pmeta.FindDatabase(c.state(), "db"), "short").ShardGroups {
			if sg.DeletedAt != 0 {
				expired = append(expired, sg)
			} else {
				live = append(live, sg)
			}
		}
		return len(expired) == 2
	})
	if len(live) != 1 || live[0].StartTime > young.UnixNano() || young.UnixNano() >= live[0].EndTime {
		t.Fatalf("live groups %v, want only young's", live)
	}
	gone := func(d *testcluster.DataNode) bool {
		for _, sg := range expired {
			for _, sh := range sg.Shards {
				if d.EngineStore().Shard(sh.Id) != nil {
					return false
				}
			}
		}
		return true
	}
	testcluster.WaitFor(t, 10*time.Second, "the running owner to drop the expired shards", func() bool { return gone(c.data[0]) })
	testcluster.WaitFor(t, 10*time.Second, "the queue for the deleted shard purged", func() bool { return !c.data[0].HintsPending(downID) })

	down.Restart()
	testcluster.WaitFor(t, 20*time.Second, "the restarted owner to drop the expired shards", func() bool { return gone(down) })
	time.Sleep(500 * time.Millisecond) // a replay, had anything been left, would have run by now
	for _, d := range c.data {
		if got := localCount(t, d, "db", "cpu"); got != 100 {
			t.Errorf("node %d holds %d points, want young's 100", d.NodeID(), got)
		}
		if !gone(d) {
			t.Errorf("node %d has a local copy of an expired shard", d.NodeID())
		}
		r := mustQuery(t, d.URL, "SELECT count(v) FROM db.short.cpu", noCred)
		if vals := seriesValues(t, r); len(vals) != 1 || fmt.Sprint(vals[0][1]) != "100" {
			t.Errorf("node %d answers %v, want 100 points", d.NodeID(), vals)
		}
	}
	// Nothing recreated a group for the expired time ranges.
	for _, sg := range pmeta.FindRetentionPolicy(pmeta.FindDatabase(c.state(), "db"), "short").ShardGroups {
		if sg.DeletedAt == 0 && sg.StartTime <= old.UnixNano() {
			t.Errorf("a live group [%d, %d) covers the expired range", sg.StartTime, sg.EndTime)
		}
	}
}

// TestPrecreatedGroupTakesBoundaryWrites (issue 11, point 2): the leader
// creates the next shard group ahead of time, so the first write past the
// boundary proposes nothing to the meta nodes (their index does not move).
func TestPrecreatedGroupTakesBoundaryWrites(t *testing.T) {
	c := newReplClusterWithMeta(t, 2, func(cfg *pmeta.Config) {
		cfg.Maintenance.PrecreationCheckInterval = 50 * time.Millisecond
		// With 1h groups, the current group always ends within the hour
		// and the next one never does: exactly one group is precreated.
		cfg.Maintenance.PrecreationAdvancePeriod = time.Hour
	}, nil)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db", noCred)
	mustQuery(t, c.data[0].URL, "CREATE RETENTION POLICY hourly ON db DURATION 24h REPLICATION 2 SHARD DURATION 1h DEFAULT", noCred)
	now := time.Now()
	if r := writeCL(t, c.data[0].URL, "db", "all", batch("cpu", 0, 10, now)); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	var next *metapb.ShardGroup
	testcluster.WaitFor(t, 10*time.Second, "the next group precreated", func() bool {
		sgs := pmeta.FindRetentionPolicy(pmeta.FindDatabase(c.state(), "db"), "hourly").ShardGroups
		if len(sgs) == 2 {
			next = sgs[1]
		}
		return next != nil
	})
	if next.StartTime <= now.UnixNano() || next.StartTime-now.UnixNano() > int64(time.Hour) || len(next.Shards) == 0 {
		t.Fatalf("precreated group [%d, %d) with %d shards does not follow the current one", next.StartTime, next.EndTime, len(next.Shards))
	}
	before := c.state().Index
	for _, d := range c.data {
		testcluster.WaitFor(t, 10*time.Second, "the node to have the new group", func() bool { return d.MetaIndex() >= before })
	}
	boundary := time.Unix(0, next.StartTime)
	if r := writeCL(t, c.data[1].URL, "db", "all", batch("cpu", 0, 10, boundary)); r.status != http.StatusNoContent {
		t.Fatalf("write at the boundary: %d %s", r.status, r.body)
	}
	if after := c.state().Index; after != before {
		t.Errorf("the write at the boundary moved the meta index from %d to %d: it waited on Raft", before, after)
	}
	r := mustQuery(t, c.data[0].URL, "SELECT count(v) FROM db.hourly.cpu", noCred)
	if vals := seriesValues(t, r); len(vals) != 1 || fmt.Sprint(vals[0][1]) != "20" {
		t.Errorf("count %v, want 20", vals)
	}
}
