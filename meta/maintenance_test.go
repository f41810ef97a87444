package meta_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// clock is a settable clock for Maintenance.Now.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func groups(d *metapb.Data, db, rp string) []*metapb.ShardGroup {
	return meta.FindRetentionPolicy(meta.FindDatabase(d, db), rp).GetShardGroups()
}

// TestRetentionDeletesExpiredGroups (issue 11, point 1): the leader deletes,
// at its check interval, exactly the groups whose end is older than their
// policy's duration (InfluxDB's rule), on every policy with a duration, and
// marks them deleted rather than forgetting them; groups of INF policies
// and younger groups stay. A new leader carries on.
func TestRetentionDeletesExpiredGroups(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(base)
	c := testcluster.New(t, testcluster.Options{Meta: 3, Configure: func(_ int, cfg *meta.Config) {
		cfg.Maintenance = meta.Maintenance{RetentionCheckInterval: 20 * time.Millisecond, Now: clk.now}
	}})
	mustExecute(t, c, 0, createDatabase("db"))
	mustExecute(t, c, 0, createRP("db", "day", 24*time.Hour, false)) // 1h groups
	mustExecute(t, c, 0, createRP("db", "forever", 0, false))
	for h := range 5 {
		mustExecute(t, c, 0, createShardGroup("db", "day", base.Add(time.Duration(h)*time.Hour)))
		mustExecute(t, c, 0, createShardGroup("db", "forever", base.Add(time.Duration(h)*time.Hour)))
	}
	// At base+26h30m the groups ending by 02:30 on day one are expired:
	// [00:00, 01:00) and [01:00, 02:00); [02:00, 03:00) ends after the cutoff.
	clk.set(base.Add(26*time.Hour + 30*time.Minute))
	c.WaitFor("two expired groups deleted", func() bool {
		n := 0
		for _, sg := range groups(c.WaitForLeader().Store.Data(), "db", "day") {
			if sg.DeletedAt != 0 {
				n++
			}
		}
		return n == 2
	})
	d := waitConverged(t, c)
	day := groups(d, "db", "day")
	if len(day) != 5 {
		t.Fatalf("%d groups in day, want 5 (deleted ones are kept, marked)", len(day))
	}
	for _, sg := range day {
		expired := sg.EndTime <= base.Add(2*time.Hour).UnixNano()
		if (sg.DeletedAt != 0) != expired {
			t.Errorf("group [%s, %s): deleted_at %d, expired %v", time.Unix(0, sg.StartTime).UTC(), time.Unix(0, sg.EndTime).UTC(), sg.DeletedAt, expired)
		}
		if expired && sg.DeletedAt != clk.now().UnixNano() {
			t.Errorf("group %d: deleted_at %d, want the leader's time %d", sg.Id, sg.DeletedAt, clk.now().UnixNano())
		}
	}
	for _, sg := range groups(d, "db", "forever") {
		if sg.DeletedAt != 0 {
			t.Errorf("group %d of an INF policy deleted", sg.Id)
		}
	}

	// Another leader deletes the next one when its time comes.
	crash(t, c, c.LeaderIndex())
	clk.add(time.Hour)
	c.WaitFor("the third group deleted by the new leader", func() bool {
		return groups(c.WaitForLeader().Store.Data(), "db", "day")[2].DeletedAt != 0
	})
	if got := groups(c.WaitForLeader().Store.Data(), "db", "day")[3].DeletedAt; got != 0 {
		t.Errorf("[03:00, 04:00) deleted at %d before it expired", got)
	}
}

// TestExpiredShardGroupsBoundary: a group whose end is exactly the cutoff is
// kept (InfluxDB deletes groups that end before it).
func TestExpiredShardGroupsBoundary(t *testing.T) {
	end := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)
	d := &metapb.Data{Databases: []*metapb.Database{{Name: "db", RetentionPolicies: []*metapb.RetentionPolicy{{
		Name: "rp", Duration: int64(time.Hour),
		ShardGroups: []*metapb.ShardGroup{{Id: 1, StartTime: end.Add(-time.Hour).UnixNano(), EndTime: end.UnixNano()}},
	}}}}}
	if got := meta.ExpiredShardGroups(d, end.Add(time.Hour)); len(got) != 0 {
		t.Errorf("at the cutoff: %v, want none", got)
	}
	if got := meta.ExpiredShardGroups(d, end.Add(time.Hour+1)); len(got) != 1 || got[0].Id != 1 {
		t.Errorf("1ns after the cutoff: %v, want group 1", got)
	}
	d.Databases[0].RetentionPolicies[0].ShardGroups[0].DeletedAt = 1
	if got := meta.ExpiredShardGroups(d, end.Add(48*time.Hour)); len(got) != 0 {
		t.Errorf("a deleted group again: %v", got)
	}
}

// TestPrecreation (issue 11, point 2): the leader creates the next group of
// each policy whose newest group ends within the advance period, with its
// owners, once; policies with nothing recent get nothing.
func TestPrecreation(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(base.Add(10 * time.Minute))
	c := testcluster.New(t, testcluster.Options{Meta: 1, Configure: func(_ int, cfg *meta.Config) {
		cfg.Maintenance = meta.Maintenance{PrecreationCheckInterval: 20 * time.Millisecond,
			PrecreationAdvancePeriod: 30 * time.Minute, Now: clk.now}
	}})
	mustExecute(t, c, 0, createDatabase("db"))
	mustExecute(t, c, 0, createRP("db", "day", 24*time.Hour, false)) // 1h groups
	mustExecute(t, c, 0, createRP("db", "old", 24*time.Hour, false)) // its newest group ended long ago
	mustExecute(t, c, 0, &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{HttpAddr: "d1:8086", TcpAddr: "d1:8088"}}})
	mustExecute(t, c, 0, createShardGroup("db", "day", base))
	mustExecute(t, c, 0, createShardGroup("db", "old", base.Add(-5*time.Hour)))

	// At 00:10 the group [00:00, 01:00) ends in 50 minutes: not yet.
	time.Sleep(200 * time.Millisecond)
	if n := len(groups(c.Nodes[0].Store.Data(), "db", "day")); n != 1 {
		t.Fatalf("%d groups at 00:10, want 1 (the next one is not due)", n)
	}
	// At 00:40 it ends within 30 minutes: [01:00, 02:00) is created.
	clk.set(base.Add(40 * time.Minute))
	c.WaitFor("the next group created", func() bool { return len(groups(c.Nodes[0].Store.Data(), "db", "day")) == 2 })
	time.Sleep(200 * time.Millisecond) // more ticks: still one new group
	day := groups(c.Nodes[0].Store.Data(), "db", "day")
	if len(day) != 2 || day[1].StartTime != base.Add(time.Hour).UnixNano() || day[1].EndTime != base.Add(2*time.Hour).UnixNano() {
		t.Fatalf("groups %v, want [00:00, 01:00) and [01:00, 02:00)", day)
	}
	if len(day[1].Shards) == 0 || len(day[1].Shards[0].GetOwners()) == 0 {
		t.Errorf("the precreated group has no owned shard: %v", day[1])
	}
	if n := len(groups(c.Nodes[0].Store.Data(), "db", "old")); n != 1 {
		t.Errorf("%d groups in a policy written to 5 hours ago, want 1", n)
	}
}
