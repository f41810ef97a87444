package meta

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// randomCommand returns a command that often applies to a state built by
// the commands before it: users, databases, policies, shard groups and
// their removal, in a small name space so that changes and drops collide.
func randomCommand(r *rand.Rand) *metapb.Command {
	user := fmt.Sprintf("u%d", r.IntN(12))
	db := fmt.Sprintf("db%d", r.IntN(8))
	switch r.IntN(10) {
	case 0:
		return cmdOf(&metapb.CreateUser{Name: user, Hash: validHash, Admin: r.IntN(3) == 0})
	case 1:
		return cmdOf(&metapb.DropUser{Name: user})
	case 2:
		return cmdOf(&metapb.SetPrivilege{Name: user, Database: db, Privilege: metapb.Privilege(r.IntN(4))})
	case 3:
		return cmdOf(&metapb.CreateDatabase{Name: db})
	case 4:
		return cmdOf(&metapb.DropDatabase{Name: db})
	case 5:
		return cmdOf(&metapb.CreateRetentionPolicy{Database: db, Spec: &metapb.RetentionPolicySpec{Name: "week", Duration: int64(7 * 24 * time.Hour)}})
	case 6, 7:
		return cmdOf(&metapb.CreateShardGroup{Database: db, RetentionPolicy: "autogen", Timestamp: sgTimestamp + int64(r.IntN(40))*int64(24*time.Hour)})
	case 8:
		return cmdOf(&metapb.CreateDataNode{HttpAddr: fmt.Sprintf("d%d:8086", r.IntN(5)), TcpAddr: fmt.Sprintf("d%d:8088", r.IntN(5))})
	default:
		return cmdOf(&metapb.AddJWTSecret{Id: fmt.Sprintf("k%d", r.IntN(4)), Value: []byte("0123456789abcdef0123"), Created: 1})
	}
}

// TestDeltasRebuildEveryState: for random histories, the delta from any
// earlier state to a later one (made from shared pointers, as a node makes
// it, and from decoded copies, as after a reconnection) rebuilds the later
// state exactly, shares what did not change, and names every database and
// user that changed.
func TestDeltasRebuildEveryState(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		states := []*metapb.Data{seedState(t)}
		index := uint64(len(seedCommands()))
		for len(states) < 60 {
			index++
			next, res := apply(states[len(states)-1], randomCommand(r), index)
			if res.err == nil {
				states = append(states, next)
			}
		}
		for k := 0; k < 80; k++ {
			i := r.IntN(len(states))
			j := i + r.IntN(len(states)-i)
			base, cur := states[i], states[j]
			for _, decoded := range []bool{false, true} {
				b := base
				if decoded {
					b = roundTrip(t, base)
				}
				delta := roundTrip(t, MakeDelta(b, cur))
				got, ch, err := ApplyDelta(b, delta)
				if err != nil {
					t.Fatalf("seed %d, %d→%d (decoded %v): %v", seed, i, j, decoded, err)
				}
				if !proto.Equal(got, cur) {
					t.Fatalf("seed %d, %d→%d (decoded %v): the delta rebuilt another state", seed, i, j, decoded)
				}
				checkChanges(t, b, got, ch)
			}
			// Diff by pointers names at least what changed, and every
			// name it leaves out is shared.
			diff := Diff(base, cur)
			for _, name := range names(base.Databases, cur.Databases, (*metapb.Database).GetName) {
				if !slices.Contains(diff.Databases, name) && FindDatabase(base, name) != FindDatabase(cur, name) {
					t.Fatalf("Diff left out database %s, which is not shared", name)
				}
			}
			for _, name := range names(base.Users, cur.Users, (*metapb.User).GetName) {
				if !slices.Contains(diff.Users, name) && FindUser(base, name) != FindUser(cur, name) {
					t.Fatalf("Diff left out user %s, which is not shared", name)
				}
			}
		}
	}
}

// checkChanges: ch names exactly the databases and users that differ, and
// every other one is shared with base.
func checkChanges(t *testing.T, base, got *metapb.Data, ch *Changes) {
	t.Helper()
	var dbs, users []string
	for _, name := range names(base.Databases, got.Databases, (*metapb.Database).GetName) {
		a, b := FindDatabase(base, name), FindDatabase(got, name)
		switch {
		case a == b:
		case a == nil || b == nil || !proto.Equal(a, b):
			dbs = append(dbs, name)
		default:
			t.Fatalf("database %s is equal but not shared", name)
		}
	}
	for _, name := range names(base.Users, got.Users, (*metapb.User).GetName) {
		a, b := FindUser(base, name), FindUser(got, name)
		switch {
		case a == b:
		case a == nil || b == nil || !proto.Equal(a, b):
			users = append(users, name)
		default:
			t.Fatalf("user %s is equal but not shared", name)
		}
	}
	if !slices.Equal(dbs, ch.Databases) || !slices.Equal(users, ch.Users) {
		t.Fatalf("changes named databases %v, users %v; want %v, %v", ch.Databases, ch.Users, dbs, users)
	}
}

func names[T any](a, b []T, name func(T) string) []string {
	var out []string
	for _, x := range a {
		out = append(out, name(x))
	}
	for _, x := range b {
		out = append(out, name(x))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func roundTrip[T proto.Message](t *testing.T, m T) T {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(T)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeltaRefusesAnotherBase: a delta applies only to the state it was
// made from, and a malformed one is refused rather than applied in part.
func TestDeltaRefusesAnotherBase(t *testing.T) {
	base := seedState(t)
	next, res := apply(base, cmdOf(&metapb.CreateDatabase{Name: "zz"}), base.Index+1)
	if res.err != nil {
		t.Fatal(res.err)
	}
	delta := MakeDelta(base, next)
	other := shallowCopy(base)
	other.Index--
	if _, _, err := ApplyDelta(other, delta); err == nil {
		t.Fatal("a delta applied to a state of another index")
	}
	for name, bad := range map[string]*metapb.StateDelta{
		"no header":          {BaseIndex: base.Index},
		"drop of a stranger": {BaseIndex: base.Index, Header: header(next), DroppedDatabases: []string{"nope"}},
		"changed and dropped": {BaseIndex: base.Index, Header: header(next), Databases: []*metapb.Database{{Name: "db"}},
			DroppedDatabases: []string{"db"}},
		"out of order": {BaseIndex: base.Index, Header: header(next), Users: []*metapb.User{{Name: "b"}, {Name: "a"}}},
	} {
		if _, _, err := ApplyDelta(base, bad); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	// The small change costs a small delta: one database, no user.
	if len(delta.Databases) != 1 || len(delta.Users) != 0 || len(delta.DroppedDatabases) != 0 {
		t.Fatalf("delta for one new database: %d databases, %d users", len(delta.Databases), len(delta.Users))
	}
}
