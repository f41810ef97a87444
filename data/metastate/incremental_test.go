package metastate

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// nextState changes one random database of d as apply does: a copy of the
// top level and of the database, the rest shared. Shard IDs stay unique.
func nextState(r *rand.Rand, d *metapb.Data, shardID *uint64) *metapb.Data {
	n := proto.CloneOf(&metapb.Data{Index: d.Index + 1})
	n.Users, n.DataNodes = d.Users, d.DataNodes
	n.Databases = slices.Clone(d.Databases)
	name := fmt.Sprintf("db%02d", r.IntN(20))
	i, found := slices.BinarySearchFunc(n.Databases, name, func(db *metapb.Database, s string) int {
		if db.Name < s {
			return -1
		} else if db.Name > s {
			return 1
		}
		return 0
	})
	switch {
	case found && r.IntN(4) == 0:
		n.Databases = slices.Delete(n.Databases, i, i+1)
	case found:
		db := proto.CloneOf(n.Databases[i])
		rp := db.RetentionPolicies[0]
		*shardID++
		g := &metapb.ShardGroup{Id: *shardID, StartTime: int64(*shardID), EndTime: int64(*shardID) + 1,
			Shards: []*metapb.Shard{{Id: *shardID, OwnerNodeIds: []uint64{1}}}}
		if len(rp.ShardGroups) > 0 && r.IntN(3) == 0 {
			rp.ShardGroups[0].DeletedAt = 5
		}
		rp.ShardGroups = append(rp.ShardGroups, g)
		n.Databases[i] = db
	default:
		*shardID++
		db := &metapb.Database{Name: name, DefaultRetentionPolicy: "autogen", CreatedIndex: n.Index,
			RetentionPolicies: []*metapb.RetentionPolicy{{Name: "autogen", ShardGroups: []*metapb.ShardGroup{{
				Id: *shardID, EndTime: 10, Shards: []*metapb.Shard{{Id: *shardID, OwnerNodeIds: []uint64{1, 2}}}}}}}}
		n.Databases = slices.Insert(n.Databases, i, db)
	}
	return n
}

// TestIncrementalViewMatchesRebuilt: a view and shard index updated change
// by change answer every lookup as ones built from the whole state do.
func TestIncrementalViewMatchesRebuilt(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	v, shards := NewView(), NewShards()
	v.OnUpdate(shards.Update)
	d := &metapb.Data{}
	var shardID uint64
	for step := range 300 {
		d = nextState(r, d, &shardID)
		v.Update(d, nil)

		fresh, freshShards := NewView(), NewShards()
		fresh.OnUpdate(freshShards.Update)
		fresh.Update(proto.CloneOf(d), nil)

		if !reflect.DeepEqual(v.Engine().Databases, fresh.Engine().Databases) {
			t.Fatalf("step %d: the engine's databases differ from a rebuilt view's", step)
		}
		for _, db := range d.Databases {
			if !reflect.DeepEqual(v.EngineDatabase(db.Name), fresh.EngineDatabase(db.Name)) {
				t.Fatalf("step %d: database %s differs", step, db.Name)
			}
			if got, want := ids(shards.Of(db.Name, "")), ids(freshShards.Of(db.Name, "")); !slices.Equal(got, want) {
				t.Fatalf("step %d: shards of %s: %v, want %v", step, db.Name, got, want)
			}
		}
		for id := range shardID + 1 {
			a, okA := shards.Lookup(id)
			b, okB := freshShards.Lookup(id)
			if okA != okB || okA && (a.DB != b.DB || a.RP != b.RP || a.Shard.Id != b.Shard.Id || a.Live() != b.Live()) {
				t.Fatalf("step %d: shard %d: %+v %v, rebuilt %+v %v", step, id, a, okA, b, okB)
			}
		}
		if v.EngineDatabase("nope") != nil {
			t.Fatal("a database that is not there")
		}
	}
}

func ids(locs []Loc) []uint64 {
	var out []uint64
	for _, l := range locs {
		out = append(out, l.Shard.Id)
	}
	slices.Sort(out)
	return out
}
