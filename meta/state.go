package meta

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// The state is immutable: apply never changes a message that is reachable
// from a published *metapb.Data. It copies the top-level message (shallowCopy),
// copies the slice it changes (pointers only), and deep-clones only the element
// it changes. Unchanged users, databases and nodes are shared between states.

// Defaults for retention policies, as in InfluxDB.
const (
	DefaultRetentionPolicyName = "autogen"
	minRetentionDuration       = time.Hour
)

// shallowCopy returns a new Data whose fields point at d's. Every field of
// Data must be listed here; TestShallowCopyCopiesEveryField guards that.
func shallowCopy(d *metapb.Data) *metapb.Data {
	return &metapb.Data{
		Index:           d.Index,
		ClusterId:       d.ClusterId,
		FeatureLevel:    d.FeatureLevel,
		MetaNodes:       d.MetaNodes,
		DataNodes:       d.DataNodes,
		Databases:       d.Databases,
		Users:           d.Users,
		JwtSecrets:      d.JwtSecrets,
		Settings:        d.Settings,
		MaxNodeId:       d.MaxNodeId,
		MaxShardGroupId: d.MaxShardGroupId,
		MaxShardId:      d.MaxShardId,
		Provisioned:     d.Provisioned,
	}
}

// applyResult is what the state machine returns for one log entry.
type applyResult struct {
	// index, when set, is the index of the entry whose result this is: a
	// repeated request gets the first one's (applyEntry).
	index  uint64
	nodeID uint64
	err    error
}

// apply returns the state after cmd, or d itself and an error when cmd is
// refused. A refused command changes nothing. The state machine never
// passes it a command it cannot apply (checkApplicable): an operation it
// does not know (from a newer binary) halts the replica instead.
func apply(d *metapb.Data, cmd *metapb.Command, index uint64) (*metapb.Data, applyResult) {
	// The leader never proposes such a command (checkProposable); decided
	// here too, on the state, so that every replica refuses it alike.
	if need, have := commandLevel(cmd), ClusterFeatureLevel(d); need > have && cmd.GetSetFeatureLevel() == nil {
		return d, applyResult{err: fmt.Errorf("%w: %s needs feature level %d, the cluster runs at %d", ErrFeatureLevel, opName(cmd), need, have)}
	}
	n := shallowCopy(d)
	var res applyResult
	switch op := cmd.Op.(type) {
	case *metapb.Command_InitCluster:
		if n.ClusterId == "" {
			n.ClusterId = op.InitCluster.ClusterId
		}
	case *metapb.Command_SetFeatureLevel:
		res.err = setFeatureLevel(n, op.SetFeatureLevel.Level)
	case *metapb.Command_AddMetaNode:
		res.err = addMetaNode(n, op.AddMetaNode)
	case *metapb.Command_RemoveMetaNode:
		res.err = removeMetaNode(n, op.RemoveMetaNode.RaftAddr)
	case *metapb.Command_CreateDataNode:
		res.nodeID, res.err = createDataNode(n, op.CreateDataNode)
	case *metapb.Command_RemoveDataNode:
		res.err = removeDataNode(n, op.RemoveDataNode.Id)
	case *metapb.Command_MarkDataNodeStale:
		markDataNodeStale(n, op.MarkDataNodeStale)
	case *metapb.Command_CreateUser:
		res.err = createUser(n, op.CreateUser, index)
	case *metapb.Command_DropUser:
		res.err = dropUser(n, op.DropUser.Name)
	case *metapb.Command_SetPassword:
		res.err = setPassword(n, op.SetPassword)
	case *metapb.Command_SetAdmin:
		res.err = setAdmin(n, op.SetAdmin)
	case *metapb.Command_SetPrivilege:
		res.err = setPrivilege(n, op.SetPrivilege)
	case *metapb.Command_CreateDatabase:
		res.err = createDatabase(n, op.CreateDatabase, createdIndex(n, index))
	case *metapb.Command_DropDatabase:
		res.err = dropDatabase(n, op.DropDatabase.Name)
	case *metapb.Command_CreateRetentionPolicy:
		res.err = createRetentionPolicy(n, op.CreateRetentionPolicy, createdIndex(n, index))
	case *metapb.Command_UpdateRetentionPolicy:
		res.err = updateRetentionPolicy(n, op.UpdateRetentionPolicy)
	case *metapb.Command_DropRetentionPolicy:
		res.err = dropRetentionPolicy(n, op.DropRetentionPolicy)
	case *metapb.Command_CreateShardGroup:
		res.err = createShardGroup(n, op.CreateShardGroup)
	case *metapb.Command_DeleteShardGroup:
		res.err = deleteShardGroup(n, op.DeleteShardGroup)
	case *metapb.Command_DropShard:
		dropShard(n, op.DropShard)
	case *metapb.Command_CreateContinuousQuery:
		res.err = createContinuousQuery(n, op.CreateContinuousQuery)
	case *metapb.Command_DropContinuousQuery:
		res.err = dropContinuousQuery(n, op.DropContinuousQuery)
	case *metapb.Command_RecordContinuousQueryRuns:
		recordContinuousQueryRuns(n, op.RecordContinuousQueryRuns)
	case *metapb.Command_AddJwtSecret:
		res.err = addJWTSecret(n, op.AddJwtSecret)
	case *metapb.Command_RemoveJwtSecret:
		res.err = removeJWTSecret(n, op.RemoveJwtSecret.Id)
	case *metapb.Command_RecordProvisioning:
		res.err = recordProvisioning(n, op.RecordProvisioning.Fingerprint)
	case *metapb.Command_SetSettings:
		if op.SetSettings.Settings == nil {
			res.err = fmt.Errorf("%w: settings missing", ErrInvalidCommand)
			break
		}
		n.Settings = proto.Clone(op.SetSettings.Settings).(*metapb.ClusterSettings)
	default:
		res.err = fmt.Errorf("%w: empty operation", ErrInvalidCommand)
	}
	if res.err != nil {
		return d, res
	}
	n.Index = index
	return n, res
}

// --- lookups --------------------------------------------------------------

// FindUser returns the user called name, or nil.
func FindUser(d *metapb.Data, name string) *metapb.User {
	if i, ok := findUser(d.Users, name); ok {
		return d.Users[i]
	}
	return nil
}

func findUser(users []*metapb.User, name string) (int, bool) {
	return slices.BinarySearchFunc(users, name, func(u *metapb.User, n string) int { return cmp.Compare(u.Name, n) })
}

// FindDatabase returns the database called name, or nil.
func FindDatabase(d *metapb.Data, name string) *metapb.Database {
	if i, ok := findDatabase(d.Databases, name); ok {
		return d.Databases[i]
	}
	return nil
}

func findDatabase(dbs []*metapb.Database, name string) (int, bool) {
	return slices.BinarySearchFunc(dbs, name, func(db *metapb.Database, n string) int { return cmp.Compare(db.Name, n) })
}

// FindRetentionPolicy returns the retention policy rp of db, or nil.
func FindRetentionPolicy(db *metapb.Database, rp string) *metapb.RetentionPolicy {
	if i, ok := findRP(db.RetentionPolicies, rp); ok {
		return db.RetentionPolicies[i]
	}
	return nil
}

func findRP(rps []*metapb.RetentionPolicy, name string) (int, bool) {
	return slices.BinarySearchFunc(rps, name, func(rp *metapb.RetentionPolicy, n string) int { return cmp.Compare(rp.Name, n) })
}

// --- nodes ----------------------------------------------------------------

// setFeatureLevel raises the cluster's feature level; it never lowers it
// (a member may already use what the level allows).
func setFeatureLevel(d *metapb.Data, level uint32) error {
	if have := ClusterFeatureLevel(d); level < have {
		return fmt.Errorf("%w: feature level %d is below the cluster's, %d: it never falls", ErrInvalidCommand, level, have)
	}
	if have := ClusterFeatureLevel(d); have < levelShardOwners && level >= levelShardOwners {
		migrateOwners(d)
	}
	d.FeatureLevel = level
	return nil
}

func addMetaNode(d *metapb.Data, c *metapb.AddMetaNode) error {
	if c.RaftAddr == "" {
		return fmt.Errorf("%w: meta node raft address required", ErrInvalidCommand)
	}
	nodes := slices.Clone(d.MetaNodes)
	i := slices.IndexFunc(nodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == c.RaftAddr })
	node := &metapb.MetaNode{RaftAddr: c.RaftAddr, RpcAddr: c.RpcAddr}
	if i >= 0 {
		nodes[i] = node
	} else {
		nodes = append(nodes, node)
		slices.SortFunc(nodes, func(a, b *metapb.MetaNode) int { return cmp.Compare(a.RaftAddr, b.RaftAddr) })
	}
	d.MetaNodes = nodes
	return nil
}

func removeMetaNode(d *metapb.Data, raftAddr string) error {
	i := slices.IndexFunc(d.MetaNodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == raftAddr })
	if i < 0 {
		return fmt.Errorf("%w: meta node %s", ErrNodeNotFound, raftAddr)
	}
	d.MetaNodes = slices.Delete(slices.Clone(d.MetaNodes), i, i+1)
	return nil
}

func createDataNode(d *metapb.Data, c *metapb.CreateDataNode) (uint64, error) {
	if c.TcpAddr == "" || c.HttpAddr == "" {
		return 0, fmt.Errorf("%w: data node needs an HTTP and a TCP address", ErrInvalidCommand)
	}
	for i, n := range d.DataNodes {
		if n.TcpAddr == c.TcpAddr {
			if n.HttpAddr != c.HttpAddr {
				nodes := slices.Clone(d.DataNodes)
				nodes[i] = &metapb.DataNode{Id: n.Id, HttpAddr: c.HttpAddr, TcpAddr: n.TcpAddr}
				d.DataNodes = nodes
			}
			return n.Id, nil
		}
	}
	d.MaxNodeId++
	d.DataNodes = append(slices.Clone(d.DataNodes), &metapb.DataNode{Id: d.MaxNodeId, HttpAddr: c.HttpAddr, TcpAddr: c.TcpAddr})
	return d.MaxNodeId, nil
}

func removeDataNode(d *metapb.Data, id uint64) error {
	i := slices.IndexFunc(d.DataNodes, func(n *metapb.DataNode) bool { return n.Id == id })
	if i < 0 {
		return fmt.Errorf("%w: data node %d", ErrNodeNotFound, id)
	}
	d.DataNodes = slices.Delete(slices.Clone(d.DataNodes), i, i+1)
	// The node no longer owns any shard.
	removeOwner(d, id)
	return nil
}

// --- users ----------------------------------------------------------------

func checkHash(hash []byte) error {
	if _, err := bcrypt.Cost(hash); err != nil {
		return ErrInvalidHash
	}
	return nil
}

func createUser(d *metapb.Data, c *metapb.CreateUser, index uint64) error {
	if c.Name == "" {
		return ErrUsernameRequired
	}
	if c.Password != "" {
		return ErrPlaintextPassword
	}
	if err := checkHash(c.Hash); err != nil {
		return err
	}
	if c.Bootstrap {
		// Checked here, in the log's order, so that of two bootstraps racing
		// from nodes that both saw no admin, only the first can pass.
		if !c.Admin {
			return fmt.Errorf("%w: a bootstrap user must be an admin", ErrInvalidCommand)
		}
		if HasAdmin(d) {
			return ErrAdminExists
		}
	}
	i, found := findUser(d.Users, c.Name)
	if found {
		return ErrUserExists
	}
	d.Users = slices.Insert(slices.Clone(d.Users), i, &metapb.User{Name: c.Name, Hash: slices.Clone(c.Hash), Admin: c.Admin, CreatedIndex: index})
	return nil
}

// HasAdmin reports whether any user of d is an admin. Until one is, a data
// node lets an unauthenticated client create the first admin (bootstrap).
func HasAdmin(d *metapb.Data) bool {
	return slices.ContainsFunc(d.Users, func(u *metapb.User) bool { return u.Admin })
}

// isLastAdmin reports whether u is the only admin of d. Removing it (drop,
// or admin flag off) would leave users without an admin, which reopens the
// unauthenticated admin bootstrap on every data node.
func isLastAdmin(d *metapb.Data, u *metapb.User) bool {
	if !u.Admin {
		return false
	}
	for _, o := range d.Users {
		if o.Admin && o.Name != u.Name {
			return false
		}
	}
	return true
}

func dropUser(d *metapb.Data, name string) error {
	i, found := findUser(d.Users, name)
	if !found {
		return ErrUserNotFound
	}
	// Dropping the only user of all leaves the cluster as new: no users,
	// and the bootstrap open as it was before the first admin.
	if len(d.Users) > 1 && isLastAdmin(d, d.Users[i]) {
		return ErrLastAdmin
	}
	d.Users = slices.Delete(slices.Clone(d.Users), i, i+1)
	return nil
}

// setAdmin sets the admin flag. Taking it from the last admin is refused
// even when that admin is the only user: the user would stay, without an
// admin, and anyone could bootstrap another (DROP USER is the way back to
// a cluster without users).
func setAdmin(d *metapb.Data, c *metapb.SetAdmin) error {
	return updateUser(d, c.Name, func(u *metapb.User) error {
		if !c.Admin && isLastAdmin(d, u) {
			return ErrLastAdmin
		}
		u.Admin = c.Admin
		return nil
	})
}

func setPassword(d *metapb.Data, c *metapb.SetPassword) error {
	if c.Password != "" {
		return ErrPlaintextPassword
	}
	if err := checkHash(c.Hash); err != nil {
		return err
	}
	return updateUser(d, c.Name, func(u *metapb.User) error {
		u.Hash = slices.Clone(c.Hash)
		return nil
	})
}

func setPrivilege(d *metapb.Data, c *metapb.SetPrivilege) error {
	if _, ok := metapb.Privilege_name[int32(c.Privilege)]; !ok {
		return ErrInvalidPrivilege
	}
	if c.Database == "" {
		return ErrDatabaseNameRequired
	}
	if FindUser(d, c.Name) == nil {
		return ErrUserNotFound
	}
	if FindDatabase(d, c.Database) == nil {
		return fmt.Errorf("%w: %s", ErrDatabaseNotFound, c.Database)
	}
	// As in InfluxDB, NONE (a REVOKE) is kept: SHOW GRANTS lists the
	// database with NO PRIVILEGES until the database or the user is dropped.
	return updateUser(d, c.Name, func(u *metapb.User) error {
		if u.Privileges == nil {
			u.Privileges = map[string]metapb.Privilege{}
		}
		u.Privileges[c.Database] = c.Privilege
		return nil
	})
}

// updateUser replaces the user called name by a changed clone.
func updateUser(d *metapb.Data, name string, change func(*metapb.User) error) error {
	if name == "" {
		return ErrUsernameRequired
	}
	i, found := findUser(d.Users, name)
	if !found {
		return ErrUserNotFound
	}
	u := proto.Clone(d.Users[i]).(*metapb.User)
	if err := change(u); err != nil {
		return err
	}
	users := slices.Clone(d.Users)
	users[i] = u
	d.Users = users
	return nil
}

// --- secrets ----------------------------------------------------------------

// MinSecretLength is the shortest JWT shared secret accepted.
const MinSecretLength = 16

func addJWTSecret(d *metapb.Data, c *metapb.AddJWTSecret) error {
	if c.Id == "" {
		return ErrSecretIDRequired
	}
	if len(c.Value) < MinSecretLength {
		return ErrSecretTooShort
	}
	if slices.ContainsFunc(d.JwtSecrets, func(s *metapb.JWTSecret) bool { return s.Id == c.Id }) {
		return ErrSecretExists
	}
	d.JwtSecrets = append(slices.Clone(d.JwtSecrets), &metapb.JWTSecret{Id: c.Id, Value: slices.Clone(c.Value), Created: c.Created})
	return nil
}

func removeJWTSecret(d *metapb.Data, id string) error {
	i := slices.IndexFunc(d.JwtSecrets, func(s *metapb.JWTSecret) bool { return s.Id == id })
	if i < 0 {
		return ErrSecretNotFound
	}
	d.JwtSecrets = slices.Delete(slices.Clone(d.JwtSecrets), i, i+1)
	return nil
}

// recordProvisioning adds fingerprint to Data.provisioned (sorted); a
// fingerprint recorded before changes nothing.
func recordProvisioning(d *metapb.Data, fingerprint string) error {
	if fingerprint == "" || len(fingerprint) > maxFingerprintLen {
		return fmt.Errorf("%w: a provisioning fingerprint of 1 to %d bytes", ErrInvalidCommand, maxFingerprintLen)
	}
	i, found := slices.BinarySearch(d.Provisioned, fingerprint)
	if found {
		return nil
	}
	d.Provisioned = slices.Insert(slices.Clone(d.Provisioned), i, fingerprint)
	return nil
}

// maxFingerprintLen bounds a provisioning fingerprint (a hex SHA-256 is 64).
const maxFingerprintLen = 128

// Provisioned reports whether the first-start variable set with fingerprint
// was provisioned in d.
func Provisioned(d *metapb.Data, fingerprint string) bool {
	_, found := slices.BinarySearch(d.GetProvisioned(), fingerprint)
	return found
}

// createdIndex is what a database or retention policy created by the entry
// at index records as its creation index: the index, from feature level 6
// on (below it every replica records 0, as binaries before it do).
func createdIndex(d *metapb.Data, index uint64) uint64 {
	if ClusterFeatureLevel(d) < levelOwners {
		return 0
	}
	return index
}
