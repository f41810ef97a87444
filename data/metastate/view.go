package metastate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// version is one version of the meta state as the data node uses it: our
// protobuf state, and its databases converted to the engine's types.
type version struct {
	pb      *metapb.Data
	dbs     *engineDBs
	changed chan struct{}
	// stale holds the data nodes marked stale (DataNode.stale_index); nil
	// when none is.
	stale map[uint64]bool
}

// Executor applies commands to the meta state: the embedded store in
// standalone mode, a meta.Client in a cluster.
type Executor interface {
	Execute(ctx context.Context, cmd *metapb.Command) (*metapb.ExecuteResponse, error)
}

// View holds the latest meta state this node has seen. Readers load it
// without locks; Update swaps it whole.
type View struct {
	cur atomic.Pointer[version]
	// onUpdate runs after each swap (auth cache refresh, local cleanup).
	onUpdate []func(old, new *metapb.Data, ch *pmeta.Changes)
}

// NewView returns a view of the empty state.
func NewView() *View {
	v := &View{}
	empty := &metapb.Data{}
	v.cur.Store(&version{pb: empty, dbs: noEngineDBs(empty), changed: make(chan struct{})})
	return v
}

// OnUpdate registers fn to run after every state change, in order, with
// what changed (never nil). Register before the first Update.
func (v *View) OnUpdate(fn func(old, new *metapb.Data, ch *pmeta.Changes)) {
	v.onUpdate = append(v.onUpdate, fn)
}

// Data returns the current state. Never modify it.
func (v *View) Data() *metapb.Data { return v.cur.Load().pb }

// Engine returns the current state's databases in the engine's types, in
// creation order (made when first asked for, once per state). Never
// modify them.
func (v *View) Engine() *meta.Data { return v.cur.Load().dbs.all() }

// EngineDatabase returns database name in the engine's types, or nil.
// Never modify it.
func (v *View) EngineDatabase(name string) *meta.DatabaseInfo { return v.cur.Load().dbs.get(name) }

// Index returns the index of the current state.
func (v *View) Index() uint64 { return v.cur.Load().pb.Index }

// Update makes d current when it is newer. ch names what differs from
// the current state (ApplyDelta's answer); nil: Update finds it by
// comparing pointers (pmeta.Diff), which costs a walk over the databases
// and users but no conversion of those that did not change. Update is
// called from one goroutine at a time (the Follower).
func (v *View) Update(d *metapb.Data, ch *pmeta.Changes) bool {
	old := v.cur.Load()
	if d.Index <= old.pb.Index && old.pb.Index != 0 {
		return false
	}
	if ch == nil {
		ch = pmeta.Diff(old.pb, d)
	}
	nv := &version{pb: d, dbs: old.dbs.next(d, ch), changed: make(chan struct{}), stale: staleNodes(d)}
	// The hooks (the auth cache above all) run before the new index is
	// visible: WaitForIndex returning means the change is enforced.
	for _, fn := range v.onUpdate {
		fn(old.pb, d, ch)
	}
	v.cur.Store(nv)
	close(old.changed)
	return true
}

// Stale reports whether data node id is marked stale: it did not confirm a
// meta change in time (see meta.Store's stale marks).
func (v *View) Stale(id uint64) bool { return v.cur.Load().stale[id] }

func staleNodes(d *metapb.Data) map[uint64]bool {
	var out map[uint64]bool
	for _, n := range d.DataNodes {
		if n.StaleIndex != 0 {
			if out == nil {
				out = map[uint64]bool{}
			}
			out[n.Id] = true
		}
	}
	return out
}

// WaitForIndex blocks until the state has reached index or ctx ends.
func (v *View) WaitForIndex(ctx context.Context, index uint64) error {
	for {
		cur := v.cur.Load()
		if cur.pb.Index >= index {
			return nil
		}
		select {
		case <-cur.changed:
		case <-ctx.Done():
			return fmt.Errorf("data: waiting for meta state %d (have %d): %w", index, cur.pb.Index, ctx.Err())
		}
	}
}

// inCreationOrder returns items sorted by their creation index, then by
// name (the order the state keeps them in, which the stable sort keeps).
func inCreationOrder[T any](items []T, created func(T) uint64) []T {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(created(a), created(b)) })
	return out
}

func toEngineDatabase(db *metapb.Database) meta.DatabaseInfo {
	di := meta.DatabaseInfo{Name: db.Name, DefaultRetentionPolicy: db.DefaultRetentionPolicy}
	for _, rp := range inCreationOrder(db.RetentionPolicies, (*metapb.RetentionPolicy).GetCreatedIndex) {
		ri := meta.RetentionPolicyInfo{
			Name:               rp.Name,
			ReplicaN:           int(rp.ReplicationFactor),
			Duration:           time.Duration(rp.Duration),
			ShardGroupDuration: time.Duration(rp.ShardGroupDuration),
		}
		for _, sg := range rp.ShardGroups {
			si := meta.ShardGroupInfo{ID: sg.Id, StartTime: time.Unix(0, sg.StartTime).UTC(), EndTime: time.Unix(0, sg.EndTime).UTC()}
			if sg.DeletedAt != 0 {
				si.DeletedAt = time.Unix(0, sg.DeletedAt).UTC()
			}
			for _, sh := range sg.Shards {
				// The engine's owners are the ones that receive writes
				// (active and joining): the points writer routes by them.
				// Reads must pick among pmeta.ReadOwners (active only)
				// on the protobuf state.
				s := meta.ShardInfo{ID: sh.Id}
				for _, o := range pmeta.WriteOwners(sh) {
					s.Owners = append(s.Owners, meta.ShardOwner{NodeID: o})
				}
				si.Shards = append(si.Shards, s)
			}
			ri.ShardGroups = append(ri.ShardGroups, si)
		}
		di.RetentionPolicies = append(di.RetentionPolicies, ri)
	}
	for _, cq := range db.ContinuousQueries {
		di.ContinuousQueries = append(di.ContinuousQueries, meta.ContinuousQueryInfo{Name: cq.Name, Query: cq.Query})
	}
	return di
}

// privileges pairs each privilege of the meta state with the engine's.
var privileges = []struct {
	pb     metapb.Privilege
	engine influxql.Privilege
}{
	{metapb.Privilege_PRIVILEGE_READ, influxql.ReadPrivilege},
	{metapb.Privilege_PRIVILEGE_WRITE, influxql.WritePrivilege},
	{metapb.Privilege_PRIVILEGE_ALL, influxql.AllPrivileges},
}

// EnginePrivilege is p in the engine's terms (NoPrivileges for none).
func EnginePrivilege(p metapb.Privilege) influxql.Privilege {
	for _, e := range privileges {
		if e.pb == p {
			return e.engine
		}
	}
	return influxql.NoPrivileges
}

// FromEnginePrivilege is the engine's p in the meta state's terms.
func FromEnginePrivilege(p influxql.Privilege) metapb.Privilege {
	for _, e := range privileges {
		if e.engine == p {
			return e.pb
		}
	}
	return metapb.Privilege_PRIVILEGE_NONE
}

// --- users, for SHOW USERS and friends -----------------------------------------

func EngineUsers(d *metapb.Data) []meta.UserInfo {
	out := make([]meta.UserInfo, 0, len(d.Users))
	for _, u := range d.Users {
		out = append(out, EngineUser(u))
	}
	// In creation order, as InfluxDB lists SHOW USERS (a dropped and
	// re-created user comes last); users of old states (no creation index)
	// first, by name.
	created := make(map[string]uint64, len(d.Users))
	for _, u := range d.Users {
		created[u.Name] = u.CreatedIndex
	}
	sort.Slice(out, func(i, j int) bool {
		ci, cj := created[out[i].Name], created[out[j].Name]
		if ci != cj {
			return ci < cj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// EngineUser converts a user for the engine's statement executor. The
// hash is left out: nothing in the executor needs it.
func EngineUser(u *metapb.User) meta.UserInfo {
	ui := meta.UserInfo{Name: u.Name, Admin: u.Admin, Privileges: map[string]influxql.Privilege{}}
	for db, p := range u.Privileges {
		ui.Privileges[db] = EnginePrivilege(p)
	}
	return ui
}
