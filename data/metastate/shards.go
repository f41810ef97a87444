package metastate

import (
	"slices"
	"sync/atomic"

	"github.com/palisade-db/palisade/internal/cowmap"
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

// shardIndex finds shards by ID, and the shards of each database, in one
// meta state. A change re-indexes only the databases it touched.
type shardIndex struct {
	byID *cowmap.Map[uint64, Loc]
	byDB *cowmap.Map[string, []Loc]
}

// locs returns the shards of db.
func locs(db *metapb.Database) []Loc {
	var out []Loc
	for _, rp := range db.RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			for _, sh := range sg.Shards {
				out = append(out, Loc{DB: db.Name, RP: rp.Name, Group: sg, Shard: sh})
			}
		}
	}
	return out
}

// next returns the index of d, which differs from this one's state in the
// databases ch names.
func (x *shardIndex) next(d *metapb.Data, ch *pmeta.Changes) *shardIndex {
	if len(ch.Databases) == 0 {
		return x
	}
	n := &shardIndex{}
	n.byDB = x.byDB.Edit(func(e *cowmap.Editor[string, []Loc]) {
		n.byID = x.byID.Edit(func(ids *cowmap.Editor[uint64, Loc]) {
			for _, name := range ch.Databases {
				old, _ := x.byDB.Get(name)
				for _, l := range old {
					ids.Delete(l.Shard.Id)
				}
				db := pmeta.FindDatabase(d, name)
				if db == nil {
					e.Delete(name)
					continue
				}
				cur := locs(db)
				for _, l := range cur {
					ids.Set(l.Shard.Id, l)
				}
				e.Set(name, cur)
			}
		})
	})
	return n
}

// Shards finds the shards of the latest meta state by ID. Register its
// Update with View.OnUpdate; lookups never lock.
type Shards struct {
	cur atomic.Pointer[shardIndex]
}

// NewShards returns the shards of the empty state.
func NewShards() *Shards {
	s := &Shards{}
	s.cur.Store(&shardIndex{byID: cowmap.New[uint64, Loc](0), byDB: cowmap.New[string, []Loc](0)})
	return s
}

// Update is a View hook.
func (s *Shards) Update(_, d *metapb.Data, ch *pmeta.Changes) { s.cur.Store(s.cur.Load().next(d, ch)) }

// Lookup returns where shard id lives, if the state has it.
func (s *Shards) Lookup(id uint64) (Loc, bool) { return s.cur.Load().byID.Get(id) }

// Exists reports whether shard id is in the state and its group is not
// deleted (hinted handoff keeps records only for such shards).
func (s *Shards) Exists(id uint64) bool {
	l, ok := s.Lookup(id)
	return ok && l.Live()
}

// Of returns the live shards of db (and rp, unless ""), in no order.
func (s *Shards) Of(db, rp string) []Loc {
	all, _ := s.cur.Load().byDB.Get(db)
	var out []Loc
	for _, l := range all {
		if l.Live() && (rp == "" || l.RP == rp) {
			out = append(out, l)
		}
	}
	return out
}
