package metastate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/influxql"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// WaitForIndex must not return before the update hooks (the auth cache) have
// seen the state: a statement that returned would otherwise not be enforced
// yet (a dropped user's password still accepted for a moment).
func TestMetaViewHooksRunBeforeIndexIsVisible(t *testing.T) {
	v := NewView()
	hookDone := make(chan struct{})
	release := make(chan struct{})
	v.OnUpdate(func(_, d *metapb.Data, _ *pmeta.Changes) {
		if got := v.Index(); got >= d.Index {
			t.Errorf("index %d visible while the hooks for it run", got)
		}
		close(hookDone)
		<-release
	})
	go v.Update(&metapb.Data{Index: 7}, nil)
	<-hookDone

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.WaitForIndex(ctx, 7); err == nil {
		t.Fatal("WaitForIndex returned while the hooks were still running")
	}
	close(release)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := v.WaitForIndex(ctx2, 7); err != nil {
		t.Fatalf("after the hooks: %v", err)
	}
	// Older or equal states are ignored.
	if v.Update(&metapb.Data{Index: 7}, nil) || v.Update(&metapb.Data{Index: 3}, nil) {
		t.Fatal("an older state replaced a newer one")
	}
}

// The engine's shard owners are the ones that receive writes (the points
// writer routes by them): active and joining, not leaving; owners of
// shards from before feature level 3 (owner_node_ids) are active.
func TestMetaViewShardOwners(t *testing.T) {
	o := func(id uint64, s metapb.OwnerState) *metapb.ShardOwner {
		return &metapb.ShardOwner{NodeId: id, State: s}
	}
	d := &metapb.Data{Index: 3, Databases: []*metapb.Database{{Name: "db", RetentionPolicies: []*metapb.RetentionPolicy{{Name: "rp",
		ShardGroups: []*metapb.ShardGroup{{Id: 1, EndTime: 10, Shards: []*metapb.Shard{
			{Id: 1, Owners: []*metapb.ShardOwner{o(1, metapb.OwnerState_OWNER_STATE_ACTIVE), o(2, metapb.OwnerState_OWNER_STATE_JOINING), o(3, metapb.OwnerState_OWNER_STATE_LEAVING)}},
			{Id: 2, OwnerNodeIds: []uint64{4, 5}},
		}}}}}}}}
	v := NewView()
	v.Update(d, nil)
	shards := v.Engine().Databases[0].RetentionPolicies[0].ShardGroups[0].Shards
	want := [][]uint64{{1, 2}, {4, 5}}
	for i, sh := range shards {
		var got []uint64
		for _, o := range sh.Owners {
			got = append(got, o.NodeID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("shard %d: engine owners %v, want %v", sh.ID, got, want[i])
		}
	}
}

// Every privilege of the meta state has the engine's counterpart and back;
// none is none.
func TestPrivilegesConvertBothWays(t *testing.T) {
	for _, p := range []metapb.Privilege{metapb.Privilege_PRIVILEGE_READ, metapb.Privilege_PRIVILEGE_WRITE, metapb.Privilege_PRIVILEGE_ALL} {
		e := EnginePrivilege(p)
		if e == influxql.NoPrivileges || FromEnginePrivilege(e) != p {
			t.Errorf("%v → %v → %v", p, e, FromEnginePrivilege(e))
		}
	}
	if EnginePrivilege(metapb.Privilege_PRIVILEGE_NONE) != influxql.NoPrivileges ||
		FromEnginePrivilege(influxql.NoPrivileges) != metapb.Privilege_PRIVILEGE_NONE {
		t.Error("no privilege does not stay none")
	}
}
