package metastate

import (
	"sync"

	"github.com/influxdata/influxdb/services/meta"

	"github.com/palisade-db/palisade/internal/cowmap"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// engineDBs is one state's databases in the engine's types. A database is
// converted when it changes; the others are the previous state's, so a
// change costs the databases it touched, not all of them.
type engineDBs struct {
	pb     *metapb.Data
	byName *cowmap.Map[string, *meta.DatabaseInfo]

	once sync.Once
	list *meta.Data
}

// noEngineDBs is the empty state's.
func noEngineDBs(empty *metapb.Data) *engineDBs {
	return &engineDBs{pb: empty, byName: cowmap.New[string, *meta.DatabaseInfo](0)}
}

// next returns d's databases, converting those ch names.
func (x *engineDBs) next(d *metapb.Data, ch *pmeta.Changes) *engineDBs {
	if len(ch.Databases) == 0 {
		return &engineDBs{pb: d, byName: x.byName}
	}
	m := x.byName.Edit(func(e *cowmap.Editor[string, *meta.DatabaseInfo]) {
		for _, name := range ch.Databases {
			if db := pmeta.FindDatabase(d, name); db != nil {
				di := toEngineDatabase(db)
				e.Set(name, &di)
			} else {
				e.Delete(name)
			}
		}
	})
	return &engineDBs{pb: d, byName: m}
}

func (x *engineDBs) get(name string) *meta.DatabaseInfo {
	di, _ := x.byName.Get(name)
	return di
}

// all returns the databases as the engine's meta.Data, in creation order
// (SHOW DATABASES, SHOW RETENTION POLICIES, SHOW SHARDS and SHOW
// CONTINUOUS QUERIES list them so, as InfluxDB does; those from states
// before creation indexes were recorded come first, by name).
func (x *engineDBs) all() *meta.Data {
	x.once.Do(func() {
		d := x.pb
		out := &meta.Data{Index: d.Index, MaxShardGroupID: d.MaxShardGroupId, MaxShardID: d.MaxShardId,
			Databases: make([]meta.DatabaseInfo, 0, len(d.Databases))}
		for _, db := range inCreationOrder(d.Databases, (*metapb.Database).GetCreatedIndex) {
			out.Databases = append(out.Databases, *x.get(db.Name))
		}
		x.list = out
	})
	return x.list
}
