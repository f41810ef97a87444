package engine

import (
	"context"
	"errors"
	"time"

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/data/cq"
	"github.com/palisade-db/palisade/data/metastate"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Errors for statements Palisade does not support yet.
var (
	ErrSubscriptionsUnsupported = errors.New("subscriptions are not supported")
)

// MetaClient is the engine's view of the meta store. Reads come from the
// local View; writes go to the meta store and return once the local view
// has reached the change, so a statement's effect is enforced on this node
// when it returns.
type MetaClient struct {
	view    *metastate.View
	exec    metastate.Executor
	timeout time.Duration
	// guard, when set, may refuse every change (the node refuses to follow
	// the meta cluster it reaches, so the change would never reach it).
	guard func() error
	// visible, when set, waits (bounded) until the other data nodes have
	// applied an index too.
	visible func(ctx context.Context, index uint64)
	// sync, when set, brings the view up to the meta leader's state.
	sync func(ctx context.Context) error
}

// NewMetaClient returns the meta client over view whose changes go to
// exec and wait at most timeout; guard, when set, may refuse every change
// (the node refuses to follow the meta cluster it reaches, so the change
// would never reach it).
func NewMetaClient(view *metastate.View, exec metastate.Executor, guard func() error, timeout time.Duration) *MetaClient {
	return &MetaClient{view: view, exec: exec, guard: guard, timeout: timeout}
}

// UseVisibility makes every change also wait, through visible, until the
// other data nodes have applied it (bounded by visible itself), so that a
// client that sends its next request to another node sees the change
// there. Call it before the client is used.
func (c *MetaClient) UseVisibility(visible func(ctx context.Context, index uint64)) {
	c.visible = visible
}

// UseSync makes a query that finds no shard group in its range first bring
// the view up to the meta leader's state (sync) and look again: a group
// created a moment ago elsewhere (precreated, or by a write through
// another node) is then found. Call it before the client is used.
func (c *MetaClient) UseSync(sync func(ctx context.Context) error) { c.sync = sync }

func (c *MetaClient) execute(cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	if c.guard != nil {
		if err := c.guard(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	resp, err := c.exec.Execute(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := c.view.WaitForIndex(ctx, resp.Index); err != nil {
		return nil, err
	}
	if c.visible != nil {
		c.visible(ctx, resp.Index)
	}
	return resp, nil
}

// one returns the engine's meta.Data holding only database (none when the
// state has none), for the engine's own lookups on it: they find it without
// the list of every database being made.
func (c *MetaClient) one(database string) *meta.Data {
	if di := c.view.EngineDatabase(database); di != nil {
		return &meta.Data{Databases: []meta.DatabaseInfo{*di}}
	}
	return &meta.Data{}
}

// --- reads ---------------------------------------------------------------------

func (c *MetaClient) Database(name string) *meta.DatabaseInfo { return c.view.EngineDatabase(name) }

func (c *MetaClient) Databases() []meta.DatabaseInfo { return c.view.Engine().Databases }

func (c *MetaClient) RetentionPolicy(database, name string) (*meta.RetentionPolicyInfo, error) {
	return c.one(database).RetentionPolicy(database, name)
}

func (c *MetaClient) ShardGroupsByTimeRange(database, policy string, min, max time.Time) ([]meta.ShardGroupInfo, error) {
	groups, err := c.one(database).ShardGroupsByTimeRange(database, policy, min, max)
	if err != nil || len(groups) > 0 || c.sync == nil {
		return groups, err
	}
	// An empty answer is decided on the newest state (see UseSync).
	if err := c.sync(context.Background()); err != nil {
		return nil, err
	}
	return c.one(database).ShardGroupsByTimeRange(database, policy, min, max)
}

func (c *MetaClient) Users() []meta.UserInfo { return metastate.EngineUsers(c.view.Data()) }

func (c *MetaClient) UserPrivileges(username string) (map[string]influxql.Privilege, error) {
	u := pmeta.FindUser(c.view.Data(), username)
	if u == nil {
		return nil, pmeta.ErrUserNotFound
	}
	return metastate.EngineUser(u).Privileges, nil
}

func (c *MetaClient) UserPrivilege(username, database string) (*influxql.Privilege, error) {
	u := pmeta.FindUser(c.view.Data(), username)
	if u == nil {
		return nil, pmeta.ErrUserNotFound
	}
	p := metastate.EnginePrivilege(u.Privileges[database])
	return &p, nil
}

// --- writes --------------------------------------------------------------------

func (c *MetaClient) CreateDatabase(name string) (*meta.DatabaseInfo, error) {
	if _, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: name}}}); err != nil {
		return nil, err
	}
	return c.Database(name), nil
}

func (c *MetaClient) CreateDatabaseWithRetentionPolicy(name string, spec *meta.RetentionPolicySpec) (*meta.DatabaseInfo, error) {
	cmd := &metapb.CreateDatabase{Name: name}
	if spec != nil {
		if spec.ReplicaN != nil && *spec.ReplicaN < 1 {
			return nil, pmeta.ErrReplicationFactor
		}
		cmd.RetentionPolicy = toSpec(spec)
	}
	if _, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: cmd}}); err != nil {
		return nil, err
	}
	return c.Database(name), nil
}

func toSpec(spec *meta.RetentionPolicySpec) *metapb.RetentionPolicySpec {
	s := &metapb.RetentionPolicySpec{Name: spec.Name, ShardGroupDuration: int64(spec.ShardGroupDuration)}
	if spec.Duration != nil {
		s.Duration = int64(*spec.Duration)
	}
	if spec.ReplicaN != nil {
		s.ReplicationFactor = uint32(max(0, *spec.ReplicaN))
	}
	return s
}

func (c *MetaClient) CreateRetentionPolicy(database string, spec *meta.RetentionPolicySpec, makeDefault bool) (*meta.RetentionPolicyInfo, error) {
	if spec.ReplicaN != nil && *spec.ReplicaN < 1 {
		return nil, pmeta.ErrReplicationFactor
	}
	if _, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateRetentionPolicy{CreateRetentionPolicy: &metapb.CreateRetentionPolicy{
		Database: database, Spec: toSpec(spec), MakeDefault: makeDefault,
	}}}); err != nil {
		return nil, err
	}
	return c.RetentionPolicy(database, spec.Name)
}

func (c *MetaClient) UpdateRetentionPolicy(database, name string, rpu *meta.RetentionPolicyUpdate, makeDefault bool) error {
	u := &metapb.UpdateRetentionPolicy{Database: database, Name: name, MakeDefault: makeDefault}
	if rpu.Name != nil {
		u.NewName = rpu.Name
	}
	if rpu.Duration != nil {
		d := int64(*rpu.Duration)
		u.Duration = &d
	}
	if rpu.ShardGroupDuration != nil {
		d := int64(*rpu.ShardGroupDuration)
		u.ShardGroupDuration = &d
	}
	if rpu.ReplicaN != nil {
		if *rpu.ReplicaN < 1 {
			return pmeta.ErrReplicationFactor
		}
		r := uint32(*rpu.ReplicaN)
		u.ReplicationFactor = &r
	}
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_UpdateRetentionPolicy{UpdateRetentionPolicy: u}})
	return err
}

func (c *MetaClient) DropDatabase(name string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_DropDatabase{DropDatabase: &metapb.DropDatabase{Name: name}}})
	return err
}

func (c *MetaClient) DropRetentionPolicy(database, name string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_DropRetentionPolicy{DropRetentionPolicy: &metapb.DropRetentionPolicy{Database: database, Name: name}}})
	return err
}

func (c *MetaClient) CreateShardGroup(database, policy string, timestamp time.Time) (*meta.ShardGroupInfo, error) {
	// No shard group holds a time outside the engine's range (the parser
	// refuses such points); UnixNano would not even represent it.
	if timestamp.Before(time.Unix(0, pmeta.MinNanoTime)) || timestamp.After(time.Unix(0, pmeta.MaxNanoTime)) {
		return nil, pmeta.ErrTimeOutOfRange
	}
	if rp, err := c.RetentionPolicy(database, policy); err == nil && rp != nil {
		if sg := rp.ShardGroupByTimestamp(timestamp); sg != nil {
			return sg, nil
		}
	}
	if _, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateShardGroup{CreateShardGroup: &metapb.CreateShardGroup{
		Database: database, RetentionPolicy: policy, Timestamp: timestamp.UnixNano(),
	}}}); err != nil {
		return nil, err
	}
	rp, err := c.RetentionPolicy(database, policy)
	if err != nil {
		return nil, err
	}
	if rp == nil {
		return nil, pmeta.ErrRetentionPolicyNotFound
	}
	sg := rp.ShardGroupByTimestamp(timestamp)
	if sg == nil {
		return nil, pmeta.ErrShardGroupNotFound
	}
	return sg, nil
}

// CreateUser sends the password to the meta store, which hashes it before
// anything is proposed.
func (c *MetaClient) CreateUser(name, password string, admin bool) (meta.User, error) {
	if _, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: name, Password: password, Admin: admin}}}); err != nil {
		return nil, err
	}
	ui := meta.UserInfo{Name: name, Admin: admin}
	return &ui, nil
}

func (c *MetaClient) UpdateUser(name, password string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_SetPassword{SetPassword: &metapb.SetPassword{Name: name, Password: password}}})
	return err
}

func (c *MetaClient) DropUser(name string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_DropUser{DropUser: &metapb.DropUser{Name: name}}})
	return err
}

func (c *MetaClient) SetAdminPrivilege(username string, admin bool) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_SetAdmin{SetAdmin: &metapb.SetAdmin{Name: username, Admin: admin}}})
	return err
}

func (c *MetaClient) SetPrivilege(username, database string, p influxql.Privilege) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_SetPrivilege{SetPrivilege: &metapb.SetPrivilege{
		Name: username, Database: database, Privilege: metastate.FromEnginePrivilege(p),
	}}})
	return err
}

// CreateContinuousQuery creates a query without an owner: with
// authentication off (the engine's executor calls it), it runs with every
// privilege, as everything does then.
func (c *MetaClient) CreateContinuousQuery(database, name, query string) error {
	return c.createContinuousQuery(database, name, query, "")
}

func (c *MetaClient) createContinuousQuery(database, name, query, owner string) error {
	if err := cq.Validate(query); err != nil {
		return err
	}
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateContinuousQuery{CreateContinuousQuery: &metapb.CreateContinuousQuery{
		Database: database, Name: name, Query: query, Owner: owner,
	}}})
	return err
}

// withOwner implements ownerRecorder.
func (c *MetaClient) withOwner(user string) coordinator.MetaClient { return ownedCQClient{c, user} }

// ownedCQClient creates the continuous queries of user.
type ownedCQClient struct {
	*MetaClient
	owner string
}

func (c ownedCQClient) CreateContinuousQuery(database, name, query string) error {
	return c.createContinuousQuery(database, name, query, c.owner)
}

func (c *MetaClient) DropContinuousQuery(database, name string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_DropContinuousQuery{DropContinuousQuery: &metapb.DropContinuousQuery{
		Database: database, Name: name,
	}}})
	return err
}

// --- not supported yet ---------------------------------------------------------

func (c *MetaClient) CreateSubscription(database, rp, name, mode string, destinations []string) error {
	return ErrSubscriptionsUnsupported
}
func (c *MetaClient) DropSubscription(database, rp, name string) error {
	return ErrSubscriptionsUnsupported
}

// DropShard removes the shard from the meta state; every owner then
// deletes its copy (Engine.DropRemoved).
func (c *MetaClient) DropShard(id uint64) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_DropShard{DropShard: &metapb.DropShard{Id: id, DeletedAt: time.Now().UnixNano()}}})
	return err
}
func (c *MetaClient) TruncateShardGroups(t time.Time) error {
	return errors.New("TRUNCATE SHARDS is not supported yet")
}
