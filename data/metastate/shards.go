package metastate

import (
	"slices"
	"sync/atomic"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Loc is where a shard lives in one meta state.
type Loc struct {
	DB, RP string
	Group  *metapb.ShardGroup
	Shard  *metapb.Shard
}

// Live reports whether the shard's group still exists (not deleted).
func (l Loc) Live() bool { return l.Group.DeletedAt == 0 }

// Owns reports whether node receives writes for the shard.
func (l Loc) Owns(node uint64) bool { return slices.Contains(pmeta.WriteOwners(l.Shard), node) }

// shardIndex finds shards by ID in one meta state.
type shardIndex struct {
	index  uint64
	shards map[uint64]Loc
}

func newShardIndex(d *metapb.Data) *shardIndex {
	x := &shardIndex{index: d.GetIndex(), shards: map[uint64]Loc{}}
	for _, db := range d.GetDatabases() {
		for _, rp := range db.RetentionPolicies {
			for _, sg := range rp.ShardGroups {
				for _, sh := range sg.Shards {
					x.shards[sh.Id] = Loc{DB: db.Name, RP: rp.Name, Group: sg, Shard: sh}
				}
			}
		}
	}
	return x
}

// Shards finds the shards of the latest meta state by ID. Register its
// Update with View.OnUpdate; lookups never lock.
type Shards struct {
	cur atomic.Pointer[shardIndex]
}

// NewShards returns the shards of the empty state.
func NewShards() *Shards {
	s := &Shards{}
	s.cur.Store(newShardIndex(&metapb.Data{}))
	return s
}

// Update is a View hook.
func (s *Shards) Update(_, d *metapb.Data) { s.cur.Store(newShardIndex(d)) }

// Lookup returns where shard id lives, if the state has it.
func (s *Shards) Lookup(id uint64) (Loc, bool) {
	l, ok := s.cur.Load().shards[id]
	return l, ok
}

// Exists reports whether shard id is in the state and its group is not
// deleted (hinted handoff keeps records only for such shards).
func (s *Shards) Exists(id uint64) bool {
	l, ok := s.Lookup(id)
	return ok && l.Live()
}

// Of returns the live shards of db (and rp, unless ""), in no order.
func (s *Shards) Of(db, rp string) []Loc {
	var out []Loc
	for _, l := range s.cur.Load().shards {
		if l.Live() && l.DB == db && (rp == "" || l.RP == rp) {
			out = append(out, l)
		}
	}
	return out
}
