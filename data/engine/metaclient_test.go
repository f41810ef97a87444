package engine

import (
	"context"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestEmptyShardGroupRangeLooksAgainOnTheNewestState (issue 19, point 2): a
// query that finds no shard group in its range brings the view up to the
// meta leader's state (UseSync) and looks again, so a group created a
// moment ago elsewhere is read; a range that has groups asks nothing.
func TestEmptyShardGroupRangeLooksAgainOnTheNewestState(t *testing.T) {
	week := int64(7 * 24 * time.Hour)
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	state := func(index uint64, groups ...*metapb.ShardGroup) *metapb.Data {
		return &metapb.Data{Index: index, Databases: []*metapb.Database{{Name: "db", DefaultRetentionPolicy: "autogen",
			RetentionPolicies: []*metapb.RetentionPolicy{{Name: "autogen", ShardGroupDuration: week, ReplicationFactor: 1, ShardGroups: groups}}}}}
	}
	old := &metapb.ShardGroup{Id: 1, StartTime: t0.Add(-14 * 24 * time.Hour).UnixNano(), EndTime: t0.Add(-7 * 24 * time.Hour).UnixNano(),
		Shards: []*metapb.Shard{{Id: 1, Owners: []*metapb.ShardOwner{{NodeId: 1}}}}}
	fresh := &metapb.ShardGroup{Id: 2, StartTime: t0.UnixNano(), EndTime: t0.UnixNano() + week,
		Shards: []*metapb.Shard{{Id: 2, Owners: []*metapb.ShardOwner{{NodeId: 1}}}}}
	view := metastate.NewView()
	view.Update(state(1, old), nil)
	c := NewMetaClient(view, nil, nil, time.Second)
	syncs := 0
	c.UseSync(func(context.Context) error {
		syncs++
		view.Update(state(2, old, fresh), nil) // what the leader has
		return nil
	})
	groups, err := c.ShardGroupsByTimeRange("db", "autogen", t0.Add(-10*24*time.Hour), t0.Add(-8*24*time.Hour))
	if err != nil || len(groups) != 1 || syncs != 0 {
		t.Fatalf("a range with a group: %v %v, %d syncs, want the group and none", groups, err, syncs)
	}
	groups, err = c.ShardGroupsByTimeRange("db", "autogen", t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil || len(groups) != 1 || groups[0].ID != 2 || syncs != 1 {
		t.Fatalf("a range whose group was created elsewhere: %v %v, %d syncs, want group 2 after one", groups, err, syncs)
	}
}
