package engine

import (
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// DropRemoved deletes local data of databases and retention policies that
// the new state no longer has, and the local copies of shards it deleted
// (a View hook, registered after the engine's Shards).
//
// Local data is never deleted because of a change of cluster: a node that
// rejoined another meta cluster keeps what that cluster does not know about.
func (e *Engine) DropRemoved(old, cur *metapb.Data, ch *meta.Changes) {
	if old == nil || old.Index == 0 || old.ClusterId != cur.ClusterId {
		return
	}
	for _, name := range ch.Databases {
		db := meta.FindDatabase(old, name)
		if db == nil {
			continue // new
		}
		ndb := meta.FindDatabase(cur, db.Name)
		if ndb == nil {
			if err := e.Store.DeleteDatabase(db.Name); err != nil {
				e.log.Error("deleting dropped database", "db", db.Name, "err", err)
			}
			continue
		}
		for _, rp := range db.RetentionPolicies {
			if meta.FindRetentionPolicy(ndb, rp.Name) == nil {
				if err := e.Store.DeleteRetentionPolicy(db.Name, rp.Name); err != nil {
					e.log.Error("deleting dropped retention policy", "db", db.Name, "rp", rp.Name, "err", err)
				}
				continue
			}
			e.dropDeletedShards(rp)
		}
	}
}

// dropDeletedShards deletes the local copies of rp's shards that were live
// in the previous state and are deleted (their group deleted, e.g. by
// retention) or gone in the current one. Runs after the Shards are updated.
func (e *Engine) dropDeletedShards(old *metapb.RetentionPolicy) {
	for _, sg := range old.ShardGroups {
		if sg.DeletedAt != 0 {
			continue
		}
		for _, sh := range sg.Shards {
			if e.shards.Exists(sh.Id) || e.Store.Shard(sh.Id) == nil {
				continue
			}
			if err := e.Store.DeleteShard(sh.Id); err != nil {
				e.log.Error("deleting a deleted shard", "shard", sh.Id, "err", err)
			} else {
				e.log.Info("deleted the local copy of a deleted shard", "shard", sh.Id, "group", sg.Id)
			}
		}
	}
}
