package remote

import (
	"slices"
	"testing"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestRouteRanksOwners (issue 9, point 2): each shard is read from this
// node when it owns it, else from a reachable owner; an owner this node
// still queues points of the shard for comes last; among equals the
// shards spread over the owners; node_id reads only the pinned node's
// shards, from it alone.
func TestRouteRanksOwners(t *testing.T) {
	shard := func(id uint64, owners ...uint64) *metapb.Shard {
		sh := &metapb.Shard{Id: id}
		for _, o := range owners {
			sh.Owners = append(sh.Owners, &metapb.ShardOwner{NodeId: o, State: metapb.OwnerState_OWNER_STATE_ACTIVE})
		}
		return sh
	}
	d := &metapb.Data{Index: 1,
		DataNodes: []*metapb.DataNode{{Id: 1, TcpAddr: "127.0.0.1:1"}, {Id: 2, TcpAddr: "127.0.0.1:2"}, {Id: 3, TcpAddr: "127.0.0.1:3"}},
		Databases: []*metapb.Database{{Name: "db", RetentionPolicies: []*metapb.RetentionPolicy{{Name: "rp", ShardGroups: []*metapb.ShardGroup{
			{Id: 1, Shards: []*metapb.Shard{shard(10, 2, 3), shard(11, 1, 2), shard(12, 2, 3), shard(13, 2, 3), shard(14, 1, 2)}},
		}}}}},
	}
	view := metastate.NewView()
	shards := metastate.NewShards()
	view.OnUpdate(shards.Update)
	view.Update(d, nil)
	p := peer.New(view, cluster.DialOptions{})
	defer p.Close()
	pending := map[[2]uint64]bool{{2, 10}: true, {1, 14}: true}
	m := NewShardMapper(&peer.Cluster{View: view, Shards: shards, Peers: p}, nil, nil, pendingFunc(func(node, shard uint64) bool {
		return pending[[2]uint64{node, shard}]
	}))

	route := func(id, pin uint64, load map[uint64]int64) []uint64 {
		t.Helper()
		r, ok, err := m.route(id, pin, 1, load)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return nil
		}
		return r.owners
	}
	for _, tc := range []struct {
		name string
		id   uint64
		pin  uint64
		want []uint64
	}{
		{"pending points for an owner put it last", 10, 0, []uint64{3, 2}},
		{"this node first", 11, 0, []uint64{1, 2}},
		{"this node last when its own copy lacks points", 14, 0, []uint64{2, 1}},
		{"pinned to an owner: that owner only", 10, 2, []uint64{2}},
		{"pinned to a node that does not own it: skipped", 10, 1, nil},
	} {
		if got := route(tc.id, tc.pin, map[uint64]int64{}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: shard %d read from %v, want %v", tc.name, tc.id, got, tc.want)
		}
	}
	load := map[uint64]int64{}
	first, second := route(12, 0, load), route(13, 0, load)
	if first[0] == second[0] {
		t.Errorf("two shards of the same owners both go to node %d", first[0])
	}
	if r, ok, err := m.route(99, 0, 1, load); ok || err != nil {
		t.Errorf("a shard not in the state: %v %v %v", r, ok, err)
	}
}

type pendingFunc func(node, shard uint64) bool

func (f pendingFunc) PendingShard(node, shard uint64) bool { return f(node, shard) }
