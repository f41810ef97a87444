package data

import (
	"sync/atomic"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// shardLoc is where a shard lives in one meta state.
type shardLoc struct {
	db, rp string
	group  *metapb.ShardGroup
	shard  *metapb.Shard
}

// live reports whether the shard's group still exists (not deleted).
func (l shardLoc) live() bool { return l.group.DeletedAt == 0 }

// owns reports whether node receives writes for the shard.
func (l shardLoc) owns(node uint64) bool {
	for _, o := range pmeta.WriteOwners(l.shard) {
		if o == node {
			return true
		}
	}
	return false
}

// shardIndex finds shards by ID in one meta state.
type shardIndex struct {
	index  uint64
	shards map[uint64]shardLoc
}

func newShardIndex(d *metapb.Data) *shardIndex {
	x := &shardIndex{index: d.GetIndex(), shards: map[uint64]shardLoc{}}
	for _, db := range d.GetDatabases() {
		for _, rp := range db.RetentionPolicies {
			for _, sg := range rp.ShardGroups {
				for _, sh := range sg.Shards {
					x.shards[sh.Id] = shardLoc{db: db.Name, rp: rp.Name, group: sg, shard: sh}
				}
			}
		}
	}
	return x
}

// shardDirectory keeps a shardIndex of the latest meta state. Register its
// update with MetaView.OnUpdate; lookups never lock.
type shardDirectory struct {
	cur atomic.Pointer[shardIndex]
}

func newShardDirectory() *shardDirectory {
	s := &shardDirectory{}
	s.cur.Store(newShardIndex(&metapb.Data{}))
	return s
}

// update is a MetaView hook.
func (s *shardDirectory) update(_, d *metapb.Data) { s.cur.Store(newShardIndex(d)) }

// lookup returns where shard id lives, if the state has it.
func (s *shardDirectory) lookup(id uint64) (shardLoc, bool) {
	l, ok := s.cur.Load().shards[id]
	return l, ok
}

// exists reports whether shard id is in the state and its group is not
// deleted (hinted handoff keeps records only for such shards).
func (s *shardDirectory) exists(id uint64) bool {
	l, ok := s.lookup(id)
	return ok && l.live()
}
