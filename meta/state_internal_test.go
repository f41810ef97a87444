package meta

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/palisade-db/palisade/proto/metapb"
)

// validHash is a bcrypt hash at the minimum cost.
var validHash = func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("internal-test-password"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
}()

func cmdOf(op any) *metapb.Command {
	c := &metapb.Command{}
	switch op := op.(type) {
	case *metapb.InitCluster:
		c.Op = &metapb.Command_InitCluster{InitCluster: op}
	case *metapb.SetFeatureLevel:
		c.Op = &metapb.Command_SetFeatureLevel{SetFeatureLevel: op}
	case *metapb.MarkDataNodeStale:
		c.Op = &metapb.Command_MarkDataNodeStale{MarkDataNodeStale: op}
	case *metapb.AddMetaNode:
		c.Op = &metapb.Command_AddMetaNode{AddMetaNode: op}
	case *metapb.RemoveMetaNode:
		c.Op = &metapb.Command_RemoveMetaNode{RemoveMetaNode: op}
	case *metapb.CreateDataNode:
		c.Op = &metapb.Command_CreateDataNode{CreateDataNode: op}
	case *metapb.RemoveDataNode:
		c.Op = &metapb.Command_RemoveDataNode{RemoveDataNode: op}
	case *metapb.CreateUser:
		c.Op = &metapb.Command_CreateUser{CreateUser: op}
	case *metapb.DropUser:
		c.Op = &metapb.Command_DropUser{DropUser: op}
	case *metapb.SetPassword:
		c.Op = &metapb.Command_SetPassword{SetPassword: op}
	case *metapb.SetAdmin:
		c.Op = &metapb.Command_SetAdmin{SetAdmin: op}
	case *metapb.SetPrivilege:
		c.Op = &metapb.Command_SetPrivilege{SetPrivilege: op}
	case *metapb.CreateDatabase:
		c.Op = &metapb.Command_CreateDatabase{CreateDatabase: op}
	case *metapb.DropDatabase:
		c.Op = &metapb.Command_DropDatabase{DropDatabase: op}
	case *metapb.CreateRetentionPolicy:
		c.Op = &metapb.Command_CreateRetentionPolicy{CreateRetentionPolicy: op}
	case *metapb.UpdateRetentionPolicy:
		c.Op = &metapb.Command_UpdateRetentionPolicy{UpdateRetentionPolicy: op}
	case *metapb.DropRetentionPolicy:
		c.Op = &metapb.Command_DropRetentionPolicy{DropRetentionPolicy: op}
	case *metapb.CreateShardGroup:
		c.Op = &metapb.Command_CreateShardGroup{CreateShardGroup: op}
	case *metapb.DeleteShardGroup:
		c.Op = &metapb.Command_DeleteShardGroup{DeleteShardGroup: op}
	case *metapb.DropShard:
		c.Op = &metapb.Command_DropShard{DropShard: op}
	case *metapb.CreateContinuousQuery:
		c.Op = &metapb.Command_CreateContinuousQuery{CreateContinuousQuery: op}
	case *metapb.DropContinuousQuery:
		c.Op = &metapb.Command_DropContinuousQuery{DropContinuousQuery: op}
	case *metapb.RecordContinuousQueryRuns:
		c.Op = &metapb.Command_RecordContinuousQueryRuns{RecordContinuousQueryRuns: op}
	case *metapb.AddJWTSecret:
		c.Op = &metapb.Command_AddJwtSecret{AddJwtSecret: op}
	case *metapb.RemoveJWTSecret:
		c.Op = &metapb.Command_RemoveJwtSecret{RemoveJwtSecret: op}
	case *metapb.SetSettings:
		c.Op = &metapb.Command_SetSettings{SetSettings: op}
	default:
		panic("cmdOf: unknown operation")
	}
	return c
}

var sgTimestamp = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

const seedCQ = "CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT mean(v) INTO db.week.m1 FROM db.week.m GROUP BY time(1h) END"

// seedCommands build the small state the internal tests and the fuzz target
// start from: a bit of everything.
func seedCommands() []*metapb.Command {
	return []*metapb.Command{
		cmdOf(&metapb.InitCluster{ClusterId: "seed"}),
		cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel}),
		cmdOf(&metapb.AddMetaNode{RaftAddr: "m1:8089", RpcAddr: "m1:8091"}),
		cmdOf(&metapb.AddMetaNode{RaftAddr: "m2:8089", RpcAddr: "m2:8091"}),
		cmdOf(&metapb.CreateDataNode{HttpAddr: "d1:8086", TcpAddr: "d1:8088"}),
		cmdOf(&metapb.CreateDataNode{HttpAddr: "d2:8086", TcpAddr: "d2:8088"}),
		cmdOf(&metapb.CreateUser{Name: "alice", Hash: validHash, Admin: true}),
		cmdOf(&metapb.CreateUser{Name: "bob", Hash: validHash}),
		cmdOf(&metapb.CreateDatabase{Name: "db", RetentionPolicy: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(7 * 24 * time.Hour), ReplicationFactor: 2}}),
		cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "forever"}}),
		cmdOf(&metapb.SetPrivilege{Name: "bob", Database: "db", Privilege: metapb.Privilege_PRIVILEGE_WRITE}),
		cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: sgTimestamp}),
		cmdOf(&metapb.CreateContinuousQuery{Database: "db", Name: "cq1", Query: seedCQ}),
		cmdOf(&metapb.AddJWTSecret{Id: "k1", Value: []byte("0123456789abcdef0123"), Created: 1}),
		cmdOf(&metapb.SetSettings{Settings: &metapb.ClusterSettings{DefaultReplicationFactor: 1}}),
	}
}

// seedState applies seedCommands to an empty state.
func seedState(t testing.TB) *metapb.Data {
	t.Helper()
	d := &metapb.Data{}
	for i, cmd := range seedCommands() {
		next, res := apply(d, cmd, uint64(i+1))
		if res.err != nil {
			t.Fatalf("seed command %v: %v", cmd, res.err)
		}
		d = next
	}
	return d
}

// TestApplyRefusalsChangeNothing: every refused command returns the state
// it was given (the same pointer), unmodified, and the matching error.
func TestApplyRefusalsChangeNothing(t *testing.T) {
	d := seedState(t)
	want := proto.Clone(d).(*metapb.Data)
	week := d.Databases[0].RetentionPolicies[1]
	zero, neg, short, empty, forever := int64(0), int64(-1), int64(time.Minute), "", "forever"
	for _, tc := range []struct {
		name string
		cmd  *metapb.Command
		want error
	}{
		{"empty command", &metapb.Command{}, ErrInvalidCommand},
		{"plaintext password in create user", cmdOf(&metapb.CreateUser{Name: "carol", Password: "carol-pw", Hash: validHash}), ErrPlaintextPassword},
		{"plaintext password only", cmdOf(&metapb.CreateUser{Name: "carol", Password: "carol-pw"}), ErrPlaintextPassword},
		{"plaintext password in set password", cmdOf(&metapb.SetPassword{Name: "alice", Password: "new-pw", Hash: validHash}), ErrPlaintextPassword},
		{"no hash", cmdOf(&metapb.CreateUser{Name: "carol"}), ErrInvalidHash},
		{"invalid hash", cmdOf(&metapb.CreateUser{Name: "carol", Hash: []byte("$2a$10$tooshort")}), ErrInvalidHash},
		{"invalid hash in set password", cmdOf(&metapb.SetPassword{Name: "alice", Hash: []byte("md5:abc")}), ErrInvalidHash},
		{"empty user name", cmdOf(&metapb.CreateUser{Name: "", Hash: validHash}), ErrUsernameRequired},
		{"user exists", cmdOf(&metapb.CreateUser{Name: "alice", Hash: validHash, Admin: true}), ErrUserExists},
		{"admin bootstrap with an admin present", cmdOf(&metapb.CreateUser{Name: "carol", Hash: validHash, Admin: true, Bootstrap: true}), ErrAdminExists},
		{"admin bootstrap of the existing admin", cmdOf(&metapb.CreateUser{Name: "alice", Hash: validHash, Admin: true, Bootstrap: true}), ErrAdminExists},
		{"bootstrap of a non-admin", cmdOf(&metapb.CreateUser{Name: "carol", Hash: validHash, Bootstrap: true}), ErrInvalidCommand},
		{"drop the last admin", cmdOf(&metapb.DropUser{Name: "alice"}), ErrLastAdmin},
		{"admin flag off for the last admin", cmdOf(&metapb.SetAdmin{Name: "alice", Admin: false}), ErrLastAdmin},
		{"drop missing user", cmdOf(&metapb.DropUser{Name: "ghost"}), ErrUserNotFound},
		{"set admin of missing user", cmdOf(&metapb.SetAdmin{Name: "ghost", Admin: true}), ErrUserNotFound},
		{"set admin without name", cmdOf(&metapb.SetAdmin{Admin: true}), ErrUsernameRequired},
		{"set password of missing user", cmdOf(&metapb.SetPassword{Name: "ghost", Hash: validHash}), ErrUserNotFound},
		{"privilege for missing user", cmdOf(&metapb.SetPrivilege{Name: "ghost", Database: "db", Privilege: metapb.Privilege_PRIVILEGE_READ}), ErrUserNotFound},
		{"privilege on missing database", cmdOf(&metapb.SetPrivilege{Name: "bob", Database: "nodb", Privilege: metapb.Privilege_PRIVILEGE_READ}), ErrDatabaseNotFound},
		{"revoke on missing database", cmdOf(&metapb.SetPrivilege{Name: "bob", Database: "nodb"}), ErrDatabaseNotFound},
		{"privilege without database", cmdOf(&metapb.SetPrivilege{Name: "bob", Privilege: metapb.Privilege_PRIVILEGE_READ}), ErrDatabaseNameRequired},
		{"invalid privilege", cmdOf(&metapb.SetPrivilege{Name: "bob", Database: "db", Privilege: 7}), ErrInvalidPrivilege},
		{"database without name", cmdOf(&metapb.CreateDatabase{}), ErrDatabaseNameRequired},
		{"database with conflicting policy", cmdOf(&metapb.CreateDatabase{Name: "db", RetentionPolicy: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(48 * time.Hour)}}), ErrRetentionPolicyConflict},
		{"drop database without name", cmdOf(&metapb.DropDatabase{}), ErrDatabaseNameRequired},
		{"policy on missing database", cmdOf(&metapb.CreateRetentionPolicy{Database: "nodb", Spec: &metapb.RetentionPolicySpec{Name: "rp"}}), ErrDatabaseNotFound},
		{"policy without spec", cmdOf(&metapb.CreateRetentionPolicy{Database: "db"}), ErrInvalidCommand},
		{"policy without name", cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{}}), ErrRetentionPolicyRequired},
		{"policy too short", cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "rp", Duration: short}}), ErrRetentionPolicyDuration},
		{"policy negative shard duration", cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "rp", ShardGroupDuration: neg}}), ErrInvalidCommand},
		{"policy exists with other spec", cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(time.Hour)}}), ErrRetentionPolicyExists},
		{"update missing policy", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "nope"}), ErrRetentionPolicyNotFound},
		{"update policy of missing database", cmdOf(&metapb.UpdateRetentionPolicy{Database: "nodb", Name: "week"}), ErrDatabaseNotFound},
		{"update policy too short", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", Duration: &short}), ErrRetentionPolicyDuration},
		{"update shard duration to zero", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", ShardGroupDuration: &zero}), ErrInvalidCommand},
		{"update replication to zero", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", ReplicationFactor: new(uint32)}), ErrReplicationFactor},
		{"rename to empty", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", NewName: &empty}), ErrRetentionPolicyRequired},
		{"rename onto existing", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", NewName: &forever}), ErrRetentionPolicyExists},
		// A valid change followed by an invalid one in the same command.
		{"partly valid update", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", Duration: &zero, ReplicationFactor: new(uint32)}), ErrReplicationFactor},
		{"drop policy of missing database", cmdOf(&metapb.DropRetentionPolicy{Database: "nodb", Name: "week"}), ErrDatabaseNotFound},
		{"shard group on missing database", cmdOf(&metapb.CreateShardGroup{Database: "nodb", RetentionPolicy: "week", Timestamp: 1}), ErrDatabaseNotFound},
		{"shard group on missing policy", cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "nope", Timestamp: 1}), ErrRetentionPolicyNotFound},
		{"shard group after the last time", cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: MaxNanoTime + 1}), ErrTimeOutOfRange},
		{"shard group before the first time", cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: MinNanoTime - 1}), ErrTimeOutOfRange},
		{"delete missing shard group", cmdOf(&metapb.DeleteShardGroup{Database: "db", RetentionPolicy: "week", Id: 999, DeletedAt: 1}), ErrShardGroupNotFound},
		{"continuous query with another statement", cmdOf(&metapb.CreateContinuousQuery{Database: "db", Name: "cq1", Query: seedCQ + " "}), ErrContinuousQueryExists},
		{"continuous query on missing database", cmdOf(&metapb.CreateContinuousQuery{Database: "nodb", Name: "cq2", Query: seedCQ}), ErrDatabaseNotFound},
		{"continuous query without name", cmdOf(&metapb.CreateContinuousQuery{Database: "db", Query: seedCQ}), ErrContinuousQueryRequired},
		{"duplicate secret", cmdOf(&metapb.AddJWTSecret{Id: "k1", Value: []byte("another-secret-of-20")}), ErrSecretExists},
		{"too-short secret", cmdOf(&metapb.AddJWTSecret{Id: "k2", Value: []byte("15-bytes-secret")}), ErrSecretTooShort},
		{"secret without id", cmdOf(&metapb.AddJWTSecret{Value: []byte("0123456789abcdef")}), ErrSecretIDRequired},
		{"remove missing secret", cmdOf(&metapb.RemoveJWTSecret{Id: "nope"}), ErrSecretNotFound},
		{"meta node without address", cmdOf(&metapb.AddMetaNode{RpcAddr: "m3:8091"}), ErrInvalidCommand},
		{"remove missing meta node", cmdOf(&metapb.RemoveMetaNode{RaftAddr: "m9:8089"}), ErrNodeNotFound},
		{"data node without TCP address", cmdOf(&metapb.CreateDataNode{HttpAddr: "d3:8086"}), ErrInvalidCommand},
		{"remove missing data node", cmdOf(&metapb.RemoveDataNode{Id: 99}), ErrNodeNotFound},
		{"settings missing", cmdOf(&metapb.SetSettings{}), ErrInvalidCommand},
		{"feature level lowered", cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel - 1}), ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, res := apply(d, tc.cmd, 100)
			if !errors.Is(res.err, tc.want) {
				t.Fatalf("got %v, want %v", res.err, tc.want)
			}
			if next != d {
				t.Fatalf("a refused command returned a new state")
			}
			if !proto.Equal(d, want) {
				t.Fatalf("a refused command modified the state:\n got %v\nwant %v", d, want)
			}
		})
	}
	if d.Databases[0].RetentionPolicies[1] != week {
		t.Fatalf("refusals replaced a retention policy of the published state")
	}
}

// TestApplyLeavesInputUntouched: every accepted command returns a new state
// at the given index and leaves the state it was given exactly as it was
// (states are published and shared: apply must copy on write).
func TestApplyLeavesInputUntouched(t *testing.T) {
	d := seedState(t)
	want := proto.Clone(d).(*metapb.Data)
	sg := d.Databases[0].RetentionPolicies[1].ShardGroups[0]
	newName, dur, sgDur, rf := "fortnight", int64(14*24*time.Hour), int64(2*24*time.Hour), uint32(1)
	for _, tc := range []struct {
		name  string
		cmd   *metapb.Command
		check func(*metapb.Data) bool
	}{
		{"init cluster again keeps the id", cmdOf(&metapb.InitCluster{ClusterId: "other"}), func(n *metapb.Data) bool { return n.ClusterId == "seed" }},
		{"add meta node", cmdOf(&metapb.AddMetaNode{RaftAddr: "m0:8089", RpcAddr: "m0:8091"}), func(n *metapb.Data) bool { return len(n.MetaNodes) == 3 && n.MetaNodes[0].RaftAddr == "m0:8089" }},
		{"update meta node", cmdOf(&metapb.AddMetaNode{RaftAddr: "m1:8089", RpcAddr: "m1:9999"}), func(n *metapb.Data) bool { return n.MetaNodes[0].RpcAddr == "m1:9999" }},
		{"remove meta node", cmdOf(&metapb.RemoveMetaNode{RaftAddr: "m1:8089"}), func(n *metapb.Data) bool { return len(n.MetaNodes) == 1 }},
		{"create data node", cmdOf(&metapb.CreateDataNode{HttpAddr: "d3:8086", TcpAddr: "d3:8088"}), func(n *metapb.Data) bool { return len(n.DataNodes) == 3 && n.MaxNodeId == 3 }},
		{"re-register data node with new HTTP address", cmdOf(&metapb.CreateDataNode{HttpAddr: "d1:9999", TcpAddr: "d1:8088"}), func(n *metapb.Data) bool { return n.DataNodes[0].HttpAddr == "d1:9999" && n.MaxNodeId == 2 }},
		{"remove data node owning shards", cmdOf(&metapb.RemoveDataNode{Id: 1}), func(n *metapb.Data) bool {
			return len(n.DataNodes) == 1 && len(ReadOwners(n.Databases[0].RetentionPolicies[1].ShardGroups[0].Shards[0])) == 1
		}},
		{"create user", cmdOf(&metapb.CreateUser{Name: "carol", Hash: validHash}), func(n *metapb.Data) bool { return FindUser(n, "carol") != nil }},
		{"drop user", cmdOf(&metapb.DropUser{Name: "bob"}), func(n *metapb.Data) bool { return FindUser(n, "bob") == nil }},
		{"set password", cmdOf(&metapb.SetPassword{Name: "bob", Hash: []byte(string(validHash[:len(validHash)-1]) + "x")}), func(n *metapb.Data) bool { return FindUser(n, "bob").Hash[len(validHash)-1] == 'x' }},
		{"set admin", cmdOf(&metapb.SetAdmin{Name: "bob", Admin: true}), func(n *metapb.Data) bool { return FindUser(n, "bob").Admin }},
		{"grant privilege", cmdOf(&metapb.SetPrivilege{Name: "alice", Database: "db", Privilege: metapb.Privilege_PRIVILEGE_READ}), func(n *metapb.Data) bool {
			return FindUser(n, "alice").Privileges["db"] == metapb.Privilege_PRIVILEGE_READ
		}},
		// As in InfluxDB, a revoked grant stays as NO PRIVILEGES (SHOW GRANTS lists it).
		{"revoke privilege", cmdOf(&metapb.SetPrivilege{Name: "bob", Database: "db"}), func(n *metapb.Data) bool {
			p, ok := FindUser(n, "bob").Privileges["db"]
			return ok && p == metapb.Privilege_PRIVILEGE_NONE
		}},
		{"create database", cmdOf(&metapb.CreateDatabase{Name: "another"}), func(n *metapb.Data) bool {
			return FindDatabase(n, "another").DefaultRetentionPolicy == DefaultRetentionPolicyName
		}},
		{"drop database drops its privileges", cmdOf(&metapb.DropDatabase{Name: "db"}), func(n *metapb.Data) bool { return len(n.Databases) == 0 && len(FindUser(n, "bob").Privileges) == 0 }},
		{"create policy as default", cmdOf(&metapb.CreateRetentionPolicy{Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "day", Duration: int64(24 * time.Hour)}, MakeDefault: true}), func(n *metapb.Data) bool {
			return n.Databases[0].DefaultRetentionPolicy == "day" && len(n.Databases[0].RetentionPolicies) == 3
		}},
		{"update policy", cmdOf(&metapb.UpdateRetentionPolicy{Database: "db", Name: "week", NewName: &newName, Duration: &dur, ShardGroupDuration: &sgDur, ReplicationFactor: &rf, MakeDefault: true}), func(n *metapb.Data) bool {
			rp := FindRetentionPolicy(n.Databases[0], "fortnight")
			return rp != nil && rp.Duration == dur && rp.ShardGroupDuration == sgDur && rp.ReplicationFactor == 1 && n.Databases[0].DefaultRetentionPolicy == "fortnight"
		}},
		{"drop policy", cmdOf(&metapb.DropRetentionPolicy{Database: "db", Name: "week"}), func(n *metapb.Data) bool {
			return len(n.Databases[0].RetentionPolicies) == 1 && n.Databases[0].DefaultRetentionPolicy == ""
		}},
		{"create shard group", cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: sgTimestamp + int64(48*time.Hour)}), func(n *metapb.Data) bool {
			return len(n.Databases[0].RetentionPolicies[1].ShardGroups) == 2 && n.MaxShardGroupId == 2
		}},
		{"delete shard group", cmdOf(&metapb.DeleteShardGroup{Database: "db", RetentionPolicy: "week", Id: sg.Id, DeletedAt: 5}), func(n *metapb.Data) bool {
			return n.Databases[0].RetentionPolicies[1].ShardGroups[0].DeletedAt == 5
		}},
		{"drop a group's last shard", cmdOf(&metapb.DropShard{Id: sg.Shards[0].Id, DeletedAt: 7}), func(n *metapb.Data) bool {
			g := n.Databases[0].RetentionPolicies[1].ShardGroups[0]
			return len(g.Shards) == 0 && g.DeletedAt == 7
		}},
		{"drop an unknown shard", cmdOf(&metapb.DropShard{Id: 999, DeletedAt: 7}), func(n *metapb.Data) bool {
			return proto.Equal(n.Databases[0], d.Databases[0])
		}},
		{"create continuous query", cmdOf(&metapb.CreateContinuousQuery{Database: "db", Name: "cq2", Query: seedCQ}), func(n *metapb.Data) bool {
			return len(n.Databases[0].ContinuousQueries) == 2 && n.Databases[0].ContinuousQueries[1].Name == "cq2"
		}},
		{"create the same continuous query, other case", cmdOf(&metapb.CreateContinuousQuery{Database: "db", Name: "cq1", Query: strings.ToLower(seedCQ)}), func(n *metapb.Data) bool {
			return len(n.Databases[0].ContinuousQueries) == 1 && n.Databases[0].ContinuousQueries[0].Query == seedCQ
		}},
		{"drop continuous query", cmdOf(&metapb.DropContinuousQuery{Database: "db", Name: "cq1"}), func(n *metapb.Data) bool { return len(n.Databases[0].ContinuousQueries) == 0 }},
		{"drop missing continuous query", cmdOf(&metapb.DropContinuousQuery{Database: "nodb", Name: "cq1"}), func(n *metapb.Data) bool { return len(n.Databases[0].ContinuousQueries) == 1 }},
		{"record runs: forward only, the same statement only", cmdOf(&metapb.RecordContinuousQueryRuns{Runs: []*metapb.ContinuousQueryRun{
			{Database: "db", Name: "cq1", Query: seedCQ, LastRun: 50},
			{Database: "db", Name: "cq1", Query: seedCQ, LastRun: 40},
			{Database: "db", Name: "cq1", Query: "another", LastRun: 60},
			{Database: "nodb", Name: "cq1", Query: seedCQ, LastRun: 70},
		}}), func(n *metapb.Data) bool { return n.Databases[0].ContinuousQueries[0].LastRun == 50 }},
		{"add secret", cmdOf(&metapb.AddJWTSecret{Id: "k2", Value: []byte("fedcba9876543210")}), func(n *metapb.Data) bool { return len(n.JwtSecrets) == 2 }},
		{"remove secret", cmdOf(&metapb.RemoveJWTSecret{Id: "k1"}), func(n *metapb.Data) bool { return len(n.JwtSecrets) == 0 }},
		{"set settings", cmdOf(&metapb.SetSettings{Settings: &metapb.ClusterSettings{DefaultReplicationFactor: 3}}), func(n *metapb.Data) bool { return n.Settings.DefaultReplicationFactor == 3 }},
		{"raise feature level", cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel + 1}), func(n *metapb.Data) bool { return n.FeatureLevel == FeatureLevel+1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, res := apply(d, tc.cmd, 100)
			if res.err != nil {
				t.Fatalf("refused: %v", res.err)
			}
			if next == d || next.Index != 100 {
				t.Fatalf("got the same state or index %d, want a new state at 100", next.Index)
			}
			if !tc.check(next) {
				t.Fatalf("the change is not in the new state: %v", next)
			}
			if !proto.Equal(d, want) {
				t.Fatalf("the command modified the state it was applied to:\n got %v\nwant %v", d, want)
			}
		})
	}
}

// TestShallowCopyCopiesEveryField sets every field of Data to a distinct
// non-zero value and checks that shallowCopy keeps them all: a field added
// to Data but not to shallowCopy fails here.
func TestShallowCopyCopiesEveryField(t *testing.T) {
	d := &metapb.Data{}
	m := d.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		m.Set(fd, nonZero(m, fd))
		if !m.Has(fd) {
			t.Fatalf("could not populate field %s", fd.Name())
		}
	}
	cp := shallowCopy(d)
	if cp == d {
		t.Fatalf("shallowCopy returned its argument")
	}
	cm := cp.ProtoReflect()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !cm.Has(fd) {
			t.Fatalf("shallowCopy drops field %s", fd.Name())
		}
		if !cm.Get(fd).Equal(m.Get(fd)) {
			t.Fatalf("shallowCopy changes field %s: %v, want %v", fd.Name(), cm.Get(fd), m.Get(fd))
		}
	}
	if !proto.Equal(cp, d) {
		t.Fatalf("copy differs:\n got %v\nwant %v", cp, d)
	}
}

// nonZero returns a populated value for fd that differs from every other
// field's (it is derived from the field number).
func nonZero(m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch {
	case fd.IsList():
		l := m.NewField(fd).List()
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			e := l.NewElement()
			populateFirstScalar(e.Message(), fd.Number())
			l.Append(e)
		} else {
			l.Append(scalar(fd, fd.Number()))
		}
		return protoreflect.ValueOfList(l)
	case fd.IsMap():
		mp := m.NewField(fd).Map()
		mp.Set(scalar(fd.MapKey(), fd.Number()).MapKey(), scalarOrMessage(mp, fd.MapValue(), fd.Number()))
		return protoreflect.ValueOfMap(mp)
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		v := m.NewField(fd)
		populateFirstScalar(v.Message(), fd.Number())
		return v
	default:
		return scalar(fd, fd.Number())
	}
}

func scalarOrMessage(mp protoreflect.Map, fd protoreflect.FieldDescriptor, n protoreflect.FieldNumber) protoreflect.Value {
	if fd.Kind() == protoreflect.MessageKind {
		v := mp.NewValue()
		populateFirstScalar(v.Message(), n)
		return v
	}
	return scalar(fd, n)
}

// populateFirstScalar sets the first scalar field of msg, so that messages
// made for different fields differ.
func populateFirstScalar(msg protoreflect.Message, n protoreflect.FieldNumber) {
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fd.IsList() && !fd.IsMap() && fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			msg.Set(fd, scalar(fd, n))
			return
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, n protoreflect.FieldNumber) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.5)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(fd.FullName()))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fd.FullName()))
	}
	panic("scalar: unexpected kind " + fd.Kind().String())
}

// TestCreationIndexesFromLevel6: from feature level 6 on, a database and
// its policies record the index of the entry that created them (data nodes
// list them in creation order, as InfluxDB does); below it every replica
// records 0, as binaries from before level 6 do, so replicas agree.
func TestCreationIndexesFromLevel6(t *testing.T) {
	for _, tc := range []struct {
		level uint32
		want  uint64
	}{{levelContinuousQueries, 0}, {levelOwners, 42}} {
		d := &metapb.Data{FeatureLevel: tc.level}
		d, res := apply(d, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "db"}}}, 42)
		if res.err != nil {
			t.Fatal(res.err)
		}
		d, res = apply(d, &metapb.Command{Op: &metapb.Command_CreateRetentionPolicy{CreateRetentionPolicy: &metapb.CreateRetentionPolicy{
			Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(7 * 24 * time.Hour)}}}}, 43)
		if res.err != nil {
			t.Fatal(res.err)
		}
		db := FindDatabase(d, "db")
		wantRP := tc.want
		if wantRP != 0 {
			wantRP = 43
		}
		if db.CreatedIndex != tc.want || FindRetentionPolicy(db, "autogen").CreatedIndex != tc.want ||
			FindRetentionPolicy(db, "week").CreatedIndex != wantRP {
			t.Errorf("level %d: database created at %d, autogen %d, week %d; want %d, %d, %d", tc.level, db.CreatedIndex,
				FindRetentionPolicy(db, "autogen").CreatedIndex, FindRetentionPolicy(db, "week").CreatedIndex, tc.want, tc.want, wantRP)
		}
	}
}
