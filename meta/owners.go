package meta

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Shard ownership. A shard's owners are the data nodes that hold it, each
// with a state: active owners serve reads and writes, joining ones receive
// writes (and, later, a copy of the data) but serve no reads, leaving ones
// keep the data and serve nothing new. Nothing creates joining or leaving
// owners yet: they are reserved for shard moves. Read owners only through
// these helpers: shards created below feature level 3 carry their owners in
// the deprecated owner_node_ids, all active.

// Owners returns the owners of sh with their states: sh.Owners, or, for a
// shard from before feature level 3, sh.OwnerNodeIds as active owners.
// The result must not be modified.
func Owners(sh *metapb.Shard) []*metapb.ShardOwner {
	if len(sh.GetOwners()) > 0 || len(sh.GetOwnerNodeIds()) == 0 {
		return sh.GetOwners()
	}
	out := make([]*metapb.ShardOwner, len(sh.OwnerNodeIds))
	for i, id := range sh.OwnerNodeIds {
		out[i] = &metapb.ShardOwner{NodeId: id, State: metapb.OwnerState_OWNER_STATE_ACTIVE}
	}
	return out
}

// ReadOwners returns the IDs of the owners that serve reads of sh: the
// active ones, in assignment order.
func ReadOwners(sh *metapb.Shard) []uint64 {
	return ownersIn(sh, metapb.OwnerState_OWNER_STATE_ACTIVE)
}

// WriteOwners returns the IDs of the owners that must receive the writes
// to sh: the active and the joining ones, in assignment order.
func WriteOwners(sh *metapb.Shard) []uint64 {
	return ownersIn(sh, metapb.OwnerState_OWNER_STATE_ACTIVE, metapb.OwnerState_OWNER_STATE_JOINING)
}

func ownersIn(sh *metapb.Shard, states ...metapb.OwnerState) []uint64 {
	if len(sh.GetOwners()) == 0 {
		return slices.Clone(sh.GetOwnerNodeIds()) // all active
	}
	var out []uint64
	for _, o := range sh.Owners {
		if slices.Contains(states, o.State) {
			out = append(out, o.NodeId)
		}
	}
	return out
}

// HasOwner reports whether node id owns sh, in any state.
func HasOwner(sh *metapb.Shard, id uint64) bool {
	return slices.Contains(sh.GetOwnerNodeIds(), id) ||
		slices.ContainsFunc(sh.GetOwners(), func(o *metapb.ShardOwner) bool { return o.NodeId == id })
}

// OwnerStateName is the lower-case name of an owner state ("active",
// "joining", "leaving"), as palisade-ctl shows it.
func OwnerStateName(s metapb.OwnerState) string {
	switch s {
	case metapb.OwnerState_OWNER_STATE_ACTIVE:
		return "active"
	case metapb.OwnerState_OWNER_STATE_JOINING:
		return "joining"
	case metapb.OwnerState_OWNER_STATE_LEAVING:
		return "leaving"
	}
	return s.String()
}

// assignOwners fills the shards of sg, a new group of db, for replication
// factor rf on the data nodes of d (InfluxDB Enterprise's layout): rf is
// capped at the number of nodes, the group gets max(1, nodes/rf) shards,
// and each shard rf distinct owners; no node owns two shards of the group.
// Owners are chosen by load, so that shards spread evenly: the nodes that
// own the fewest shards of db's live groups first, ties broken by node
// order rotated by the group's ID (so that databases with one group each
// do not all start on the same node). Only nodes in d.DataNodes are
// chosen: a removed node never owns a new group. The assignment is a pure
// function of the state, so every replica makes the same one, and owners
// are never changed afterwards except by RemoveDataNode. From feature level
// 3 owners go to Shard.owners (active); below it, to owner_node_ids, as
// the replicas of older versions write them.
func assignOwners(d *metapb.Data, db *metapb.Database, sg *metapb.ShardGroup, rf int) {
	nodes := d.DataNodes
	rf = min(rf, len(nodes))
	shardN := 1
	if rf > 0 {
		shardN = max(1, len(nodes)/rf)
	}
	load := make(map[uint64]int, len(nodes))
	for _, rp := range db.RetentionPolicies {
		for _, g := range rp.ShardGroups {
			if g.DeletedAt != 0 {
				continue
			}
			for _, sh := range g.Shards {
				for _, o := range Owners(sh) {
					load[o.NodeId]++
				}
			}
		}
	}
	// Candidates in rotated node order; a stable sort by load keeps that
	// order among equals.
	order := make([]uint64, 0, len(nodes))
	for i := range nodes {
		order = append(order, nodes[(int(sg.Id%uint64(len(nodes)))+i)%len(nodes)].Id)
	}
	slices.SortStableFunc(order, func(a, b uint64) int { return load[a] - load[b] })

	ownersAsIDs := ClusterFeatureLevel(d) < levelShardOwners
	next := 0
	for range shardN {
		d.MaxShardId++
		sh := &metapb.Shard{Id: d.MaxShardId}
		for _, id := range order[next : next+rf] {
			if ownersAsIDs {
				sh.OwnerNodeIds = append(sh.OwnerNodeIds, id)
			} else {
				sh.Owners = append(sh.Owners, &metapb.ShardOwner{NodeId: id, State: metapb.OwnerState_OWNER_STATE_ACTIVE})
			}
		}
		next += rf
		sg.Shards = append(sg.Shards, sh)
	}
}

// removeOwner removes node id from every shard of d; it owns nothing
// afterwards.
func removeOwner(d *metapb.Data, id uint64) {
	changeShards(d, func(sh *metapb.Shard) bool { return HasOwner(sh, id) }, func(sh *metapb.Shard) {
		sh.OwnerNodeIds = slices.DeleteFunc(sh.OwnerNodeIds, func(o uint64) bool { return o == id })
		sh.Owners = slices.DeleteFunc(sh.Owners, func(o *metapb.ShardOwner) bool { return o.NodeId == id })
	})
}

// migrateOwners moves the owners of every shard from owner_node_ids to
// owners, as active owners. It runs when the cluster reaches feature level
// 3, in the log, so every replica converts at the same entry.
func migrateOwners(d *metapb.Data) {
	changeShards(d, func(sh *metapb.Shard) bool { return len(sh.OwnerNodeIds) > 0 }, func(sh *metapb.Shard) {
		if len(sh.Owners) == 0 {
			sh.Owners = Owners(sh)
		}
		sh.OwnerNodeIds = nil
	})
}

// changeShards applies change to every shard of d that match selects,
// cloning only the databases that hold one.
func changeShards(d *metapb.Data, match func(*metapb.Shard) bool, change func(*metapb.Shard)) {
	var dbs []*metapb.Database
	for i, db := range d.Databases {
		if !anyShard(db, match) {
			continue
		}
		if dbs == nil {
			dbs = slices.Clone(d.Databases)
		}
		ndb := proto.Clone(db).(*metapb.Database)
		for _, rp := range ndb.RetentionPolicies {
			for _, sg := range rp.ShardGroups {
				for _, sh := range sg.Shards {
					if match(sh) {
						change(sh)
					}
				}
			}
		}
		dbs[i] = ndb
	}
	if dbs != nil {
		d.Databases = dbs
	}
}

func anyShard(db *metapb.Database, match func(*metapb.Shard) bool) bool {
	for _, rp := range db.RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			if slices.ContainsFunc(sg.Shards, match) {
				return true
			}
		}
	}
	return false
}
