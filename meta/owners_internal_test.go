package meta

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// ownersState returns a state at level with nodes data nodes and databases
// a and b, each with policy "rp" at replication factor rf.
func ownersState(t *testing.T, level uint32, nodes int, rf uint32) *metapb.Data {
	t.Helper()
	d := &metapb.Data{}
	cmds := []*metapb.Command{cmdOf(&metapb.SetFeatureLevel{Level: level})}
	for i := range nodes {
		cmds = append(cmds, cmdOf(&metapb.CreateDataNode{HttpAddr: fmt.Sprintf("d%d:8086", i), TcpAddr: fmt.Sprintf("d%d:8088", i)}))
	}
	for _, db := range []string{"a", "b"} {
		cmds = append(cmds, cmdOf(&metapb.CreateDatabase{Name: db, RetentionPolicy: &metapb.RetentionPolicySpec{Name: "rp", ReplicationFactor: rf}}))
	}
	for _, c := range cmds {
		d = mustApply(t, d, c)
	}
	return d
}

func mustApply(t *testing.T, d *metapb.Data, cmd *metapb.Command) *metapb.Data {
	t.Helper()
	next, res := apply(d, cmd, d.Index+1)
	if res.err != nil {
		t.Fatalf("%v: %v", cmd, res.err)
	}
	return next
}

// addGroups creates n weekly shard groups in each of a and b, alternating,
// so that the two databases' group IDs interleave.
func addGroups(t *testing.T, d *metapb.Data, from, n int) *metapb.Data {
	t.Helper()
	week := int64(7 * 24 * time.Hour)
	for i := from; i < from+n; i++ {
		for _, db := range []string{"a", "b"} {
			d = mustApply(t, d, cmdOf(&metapb.CreateShardGroup{Database: db, RetentionPolicy: "rp", Timestamp: int64(i) * week}))
		}
	}
	return d
}

// checkGroup checks one shard group's layout: max(1, nodes/rf) shards,
// each with min(rf, nodes) distinct owners among nodes, no node in two
// shards.
func checkGroup(t *testing.T, sg *metapb.ShardGroup, nodes []uint64, rf int) {
	t.Helper()
	effRF := min(rf, len(nodes))
	wantShards := max(1, len(nodes)/max(1, effRF))
	if len(sg.Shards) != wantShards {
		t.Fatalf("group %d: %d shards, want %d", sg.Id, len(sg.Shards), wantShards)
	}
	seen := map[uint64]bool{}
	for _, sh := range sg.Shards {
		owners := ReadOwners(sh)
		if len(owners) != effRF {
			t.Fatalf("group %d shard %d: owners %v, want %d", sg.Id, sh.Id, owners, effRF)
		}
		for _, o := range owners {
			if !slices.Contains(nodes, o) {
				t.Fatalf("group %d shard %d: owner %d is not a data node (%v)", sg.Id, sh.Id, o, nodes)
			}
			if seen[o] {
				t.Fatalf("group %d: node %d owns two copies (shard %d)", sg.Id, o, sh.Id)
			}
			seen[o] = true
		}
	}
}

// spread returns the fewest and the most shards a node of nodes owns in
// the live groups of db.
func spread(db *metapb.Database, nodes []uint64) (lo, hi int) {
	count := map[uint64]int{}
	for _, rp := range db.RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			for _, sh := range sg.Shards {
				for _, o := range ReadOwners(sh) {
					count[o]++
				}
			}
		}
	}
	lo, hi = int(^uint(0)>>1), 0
	for _, n := range nodes {
		lo, hi = min(lo, count[n]), max(hi, count[n])
	}
	return lo, hi
}

func nodeIDs(d *metapb.Data) []uint64 {
	var ids []uint64
	for _, n := range d.DataNodes {
		ids = append(ids, n.Id)
	}
	return ids
}

// TestShardGroupOwnersBalancedDistinctStable: for 1..5 data nodes and
// replication factors 1..3, every group has the right number of shards,
// distinct owners, no node twice; each database's shards spread over the
// nodes within one (the round-robin this replaced followed the global group
// ID, so two databases creating groups in turn each kept to half the
// nodes); and a group's owners never change once it exists.
func TestShardGroupOwnersBalancedDistinctStable(t *testing.T) {
	for nodes := 1; nodes <= 5; nodes++ {
		for rf := 1; rf <= 3; rf++ {
			t.Run(fmt.Sprintf("%d nodes rf %d", nodes, rf), func(t *testing.T) {
				d := addGroups(t, ownersState(t, FeatureLevel, nodes, uint32(rf)), 0, 30)
				first := proto.Clone(FindDatabase(d, "a").RetentionPolicies[0].ShardGroups[0]).(*metapb.ShardGroup)
				ids := nodeIDs(d)
				for _, db := range d.Databases {
					for _, sg := range db.RetentionPolicies[0].ShardGroups {
						checkGroup(t, sg, ids, rf)
						for _, sh := range sg.Shards {
							if len(sh.OwnerNodeIds) != 0 {
								t.Fatalf("shard %d written with owner_node_ids at level %d", sh.Id, FeatureLevel)
							}
						}
					}
					if lo, hi := spread(db, ids); hi-lo > 1 {
						t.Fatalf("database %s: nodes own between %d and %d shards", db.Name, lo, hi)
					}
				}
				d = addGroups(t, d, 30, 5)
				if got := FindDatabase(d, "a").RetentionPolicies[0].ShardGroups[0]; !proto.Equal(got, first) {
					t.Fatalf("a group's owners changed after it was created:\n got %v\nwant %v", got, first)
				}
			})
		}
	}
}

// TestRemovedDataNodeOwnsNoNewGroup: a removed data node leaves the
// owners of every shard, and groups created after its removal never get it.
func TestRemovedDataNodeOwnsNoNewGroup(t *testing.T) {
	d := addGroups(t, ownersState(t, FeatureLevel, 4, 2), 0, 4)
	d = mustApply(t, d, cmdOf(&metapb.RemoveDataNode{Id: 2}))
	d = addGroups(t, d, 4, 12)
	ids := nodeIDs(d)
	if slices.Contains(ids, 2) {
		t.Fatalf("node 2 still a data node: %v", ids)
	}
	for _, db := range d.Databases {
		for i, sg := range db.RetentionPolicies[0].ShardGroups {
			for _, sh := range sg.Shards {
				if HasOwner(sh, 2) {
					t.Fatalf("database %s group %d shard %d: still owned by removed node 2", db.Name, sg.Id, sh.Id)
				}
			}
			if i >= 4 {
				checkGroup(t, sg, ids, 2) // 3 nodes, rf 2: one shard of 2 owners
			}
		}
	}
}

// TestOwnersMigrateWhenLevel3IsReached: below level 3 groups are written
// as the replicas of older versions write them (owner_node_ids); the
// helpers read those as active owners; the raise to level 3 moves them into
// owners, in the log, without touching the state it was applied to.
func TestOwnersMigrateWhenLevel3IsReached(t *testing.T) {
	d := addGroups(t, ownersState(t, levelRequestIDs, 3, 2), 0, 2)
	sh := d.Databases[0].RetentionPolicies[0].ShardGroups[0].Shards[0]
	if len(sh.Owners) != 0 || len(sh.OwnerNodeIds) != 2 {
		t.Fatalf("at level 2: owners %v, owner_node_ids %v; want only owner_node_ids", sh.Owners, sh.OwnerNodeIds)
	}
	legacy := slices.Clone(sh.OwnerNodeIds)
	if got := ReadOwners(sh); !slices.Equal(got, legacy) {
		t.Fatalf("ReadOwners of a level-2 shard = %v, want %v", got, legacy)
	}
	if got := WriteOwners(sh); !slices.Equal(got, legacy) {
		t.Fatalf("WriteOwners of a level-2 shard = %v, want %v", got, legacy)
	}

	before := proto.Clone(d).(*metapb.Data)
	n := mustApply(t, d, cmdOf(&metapb.SetFeatureLevel{Level: levelShardOwners}))
	if !proto.Equal(d, before) {
		t.Fatal("the raise modified the state it was applied to")
	}
	for _, db := range n.Databases {
		for _, sg := range db.RetentionPolicies[0].ShardGroups {
			for _, sh := range sg.Shards {
				if len(sh.OwnerNodeIds) != 0 || len(sh.Owners) != 2 {
					t.Fatalf("after the raise: shard %d owners %v, owner_node_ids %v", sh.Id, sh.Owners, sh.OwnerNodeIds)
				}
				for _, o := range sh.Owners {
					if o.State != metapb.OwnerState_OWNER_STATE_ACTIVE {
						t.Fatalf("shard %d: migrated owner %d is %v", sh.Id, o.NodeId, o.State)
					}
				}
			}
		}
	}
	if got := ReadOwners(n.Databases[0].RetentionPolicies[0].ShardGroups[0].Shards[0]); !slices.Equal(got, legacy) {
		t.Fatalf("owners changed in the migration: %v, want %v", got, legacy)
	}
	// A raise from 3 to a higher level migrates nothing again.
	if again := mustApply(t, n, cmdOf(&metapb.SetFeatureLevel{Level: levelShardOwners})); !proto.Equal(withoutIndex(again), withoutIndex(n)) {
		t.Fatal("a second SetFeatureLevel changed the shards")
	}
}

func withoutIndex(d *metapb.Data) *metapb.Data {
	c := proto.Clone(d).(*metapb.Data)
	c.Index = 0
	return c
}

// TestOwnerHelpers: reads go to active owners, writes to active and
// joining ones; a leaving owner still counts as an owner (RemoveDataNode
// removes it) but gets neither.
func TestOwnerHelpers(t *testing.T) {
	o := func(id uint64, s metapb.OwnerState) *metapb.ShardOwner {
		return &metapb.ShardOwner{NodeId: id, State: s}
	}
	sh := &metapb.Shard{Id: 1, Owners: []*metapb.ShardOwner{
		o(1, metapb.OwnerState_OWNER_STATE_ACTIVE),
		o(2, metapb.OwnerState_OWNER_STATE_JOINING),
		o(3, metapb.OwnerState_OWNER_STATE_LEAVING),
		o(4, metapb.OwnerState_OWNER_STATE_ACTIVE),
	}}
	if got := ReadOwners(sh); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("ReadOwners = %v, want [1 4]", got)
	}
	if got := WriteOwners(sh); !slices.Equal(got, []uint64{1, 2, 4}) {
		t.Errorf("WriteOwners = %v, want [1 2 4]", got)
	}
	for id, want := range map[uint64]bool{1: true, 2: true, 3: true, 4: true, 5: false} {
		if HasOwner(sh, id) != want {
			t.Errorf("HasOwner(%d) = %v, want %v", id, !want, want)
		}
	}
	if got := Owners(sh); len(got) != 4 || got[1].State != metapb.OwnerState_OWNER_STATE_JOINING {
		t.Errorf("Owners = %v", got)
	}
	for s, want := range map[metapb.OwnerState]string{
		metapb.OwnerState_OWNER_STATE_ACTIVE: "active", metapb.OwnerState_OWNER_STATE_JOINING: "joining",
		metapb.OwnerState_OWNER_STATE_LEAVING: "leaving", 7: "7",
	} {
		if got := OwnerStateName(s); got != want {
			t.Errorf("OwnerStateName(%d) = %q, want %q", s, got, want)
		}
	}
	empty := &metapb.Shard{Id: 2}
	if len(Owners(empty)) != 0 || len(ReadOwners(empty)) != 0 || len(WriteOwners(empty)) != 0 {
		t.Error("a shard without owners has owners")
	}

	// RemoveDataNode takes a node out whatever its state.
	d := &metapb.Data{FeatureLevel: levelShardOwners, DataNodes: []*metapb.DataNode{{Id: 2}, {Id: 3}},
		Databases: []*metapb.Database{{Name: "db", RetentionPolicies: []*metapb.RetentionPolicy{{Name: "rp",
			ShardGroups: []*metapb.ShardGroup{{Id: 1, Shards: []*metapb.Shard{sh}}}}}}}}
	before := proto.Clone(d).(*metapb.Data)
	for _, id := range []uint64{2, 3} {
		d = mustApply(t, d, cmdOf(&metapb.RemoveDataNode{Id: id}))
	}
	got := d.Databases[0].RetentionPolicies[0].ShardGroups[0].Shards[0]
	if ids := WriteOwners(got); !slices.Equal(ids, []uint64{1, 4}) || HasOwner(got, 3) {
		t.Errorf("after removing the joining and the leaving node: owners %v", got.Owners)
	}
	if before.Databases[0].RetentionPolicies[0].ShardGroups[0].Shards[0].Owners[1].NodeId != 2 {
		t.Error("RemoveDataNode modified the state it was applied to")
	}
}
