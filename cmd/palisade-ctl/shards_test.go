package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestShowShards: every shard with its database, policy, group, bounds
// (RFC 3339, UTC), owners with their state, and deleted groups marked;
// a removed data node disappears from the owners.
func TestShowShards(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 1)

	r := mustOK(t, tc.run(t, "", "show-shards"))
	mustContain(t, r.stdout, "ID", "Database", "Retention policy", "Shard group", "Start", "End", "Owners", "Deleted", "(no shards)")

	client := tc.c.Client(testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []uint64
	for i := range 4 {
		reg, err := client.RegisterDataNode(ctx, fmt.Sprintf("127.0.0.1:%d8086", i+1), fmt.Sprintf("127.0.0.1:%d8088", i+1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, reg.NodeId)
	}
	tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{
		Name: "telegraf", RetentionPolicy: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(7 * 24 * time.Hour), ReplicationFactor: 2},
	}}})
	jan := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, ts := range []time.Time{jan, jan.AddDate(0, 0, 1)} {
		tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateShardGroup{CreateShardGroup: &metapb.CreateShardGroup{
			Database: "telegraf", RetentionPolicy: "week", Timestamp: ts.UnixNano(),
		}}})
	}
	d := tc.data(t)
	groups := d.Databases[0].RetentionPolicies[0].ShardGroups
	tc.execute(t, &metapb.Command{Op: &metapb.Command_DeleteShardGroup{DeleteShardGroup: &metapb.DeleteShardGroup{
		Database: "telegraf", RetentionPolicy: "week", Id: groups[0].Id, DeletedAt: jan.AddDate(0, 1, 0).UnixNano(),
	}}})

	r = mustOK(t, tc.run(t, "", "show-shards"))
	mustNotContain(t, r.stdout, "(no shards)")
	// 4 nodes at replication 2: two shards a group, four distinct owners.
	for gi, sg := range groups {
		start, end := time.Unix(0, sg.StartTime).UTC().Format(time.RFC3339), time.Unix(0, sg.EndTime).UTC().Format(time.RFC3339)
		deleted := "-"
		if gi == 0 {
			deleted = `2026-02-01T12:00:00Z`
		}
		for _, sh := range sg.Shards {
			mustMatch(t, r.stdout, fmt.Sprintf(`(?m)^%d\s+telegraf\s+week\s+%d\s+%s\s+%s\s+(\d+)\(active\),(\d+)\(active\)\s+%s$`,
				sh.Id, sg.Id, regexp.QuoteMeta(start), regexp.QuoteMeta(end), deleted))
		}
	}

	// A removed node owns nothing any more.
	mustOK(t, tc.run(t, "", "remove-data", fmt.Sprint(ids[0])))
	r = mustOK(t, tc.run(t, "", "show-shards"))
	if regexp.MustCompile(fmt.Sprintf(`\b%d\(`, ids[0])).MatchString(r.stdout) {
		t.Fatalf("removed node %d still listed as an owner:\n%s", ids[0], r.stdout)
	}
}

// TestShowShardsOwnerStates: joining and leaving owners (reserved for
// shard moves) and owners of shards from before feature level 3
// (owner_node_ids: active) are shown with their state.
func TestShowShardsOwnerStates(t *testing.T) {
	t.Parallel()
	o := func(id uint64, s metapb.OwnerState) *metapb.ShardOwner {
		return &metapb.ShardOwner{NodeId: id, State: s}
	}
	d := &metapb.Data{Databases: []*metapb.Database{{Name: "db", RetentionPolicies: []*metapb.RetentionPolicy{{Name: "rp",
		ShardGroups: []*metapb.ShardGroup{{Id: 7, StartTime: 0, EndTime: int64(time.Hour), Shards: []*metapb.Shard{
			{Id: 1, Owners: []*metapb.ShardOwner{o(2, metapb.OwnerState_OWNER_STATE_ACTIVE), o(3, metapb.OwnerState_OWNER_STATE_JOINING), o(4, metapb.OwnerState_OWNER_STATE_LEAVING)}},
			{Id: 2, OwnerNodeIds: []uint64{5, 6}},
			{Id: 3},
		}}}}}}}}
	var out bytes.Buffer
	if err := writeShards(&out, d); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	mustMatch(t, out.String(), `(?m)^1\s+db\s+rp\s+7\s+1970-01-01T00:00:00Z\s+1970-01-01T01:00:00Z\s+2\(active\),3\(joining\),4\(leaving\)\s+-$`)
	mustMatch(t, out.String(), `(?m)^2\s+db\s+rp\s+7\s+\S+\s+\S+\s+5\(active\),6\(active\)\s+-$`)
	mustMatch(t, out.String(), `(?m)^3\s+db\s+rp\s+7\s+\S+\s+\S+\s+-\s+-$`)
}
