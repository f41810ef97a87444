package metastate

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// sampleState is a state like a real one: users with hashes and privileges,
// a JWT secret, databases with shard groups.
func sampleState() *metapb.Data {
	d := &metapb.Data{Index: 628, ClusterId: "0123456789abcdef0123456789abcdef"}
	for i := range 5 {
		d.Users = append(d.Users, &metapb.User{
			Name: fmt.Sprintf("user%d", i), Hash: []byte("$2a$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"),
			Admin: i == 0, Privileges: map[string]metapb.Privilege{"db0": metapb.Privilege_PRIVILEGE_READ},
		})
	}
	d.JwtSecrets = []*metapb.JWTSecret{{Id: "k1", Value: []byte("0123456789abcdef0123"), Created: 1}}
	d.Databases = []*metapb.Database{{Name: "db0", DefaultRetentionPolicy: "autogen", RetentionPolicies: []*metapb.RetentionPolicy{{
		Name: "autogen", ShardGroupDuration: 7 * 24 * 3600e9, ReplicationFactor: 1,
		ShardGroups: []*metapb.ShardGroup{{Id: 1, StartTime: 0, EndTime: 7 * 24 * 3600e9, Shards: []*metapb.Shard{{Id: 1, OwnerNodeIds: []uint64{1}}}}},
	}}}}
	d.DataNodes = []*metapb.DataNode{{Id: 1, HttpAddr: "h:8086", TcpAddr: "h:8088"}}
	return d
}

func TestStateFileRoundTrip(t *testing.T) {
	want := sampleState()
	b, err := encodeState(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
}

// Issue 6, point 10: prefixes of a headerless state.pb decoded as valid,
// smaller states (15 of 628 for a real one). Every prefix, every single-bit
// change and every extension of the file must be refused.
func TestDamagedStateFileIsRefused(t *testing.T) {
	b, err := encodeState(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(what string, bad []byte) {
		t.Helper()
		if d, err := decodeState(bad); !errors.Is(err, ErrStateFile) {
			t.Fatalf("%s: loaded (%v, %v), want ErrStateFile", what, d, err)
		}
	}
	for n := range len(b) {
		refuse(fmt.Sprintf("first %d of %d bytes", n, len(b)), b[:n])
	}
	for i := range len(b) {
		for bit := range 8 {
			bad := bytes.Clone(b)
			bad[i] ^= 1 << bit
			refuse(fmt.Sprintf("bit %d of byte %d flipped", bit, i), bad)
		}
	}
	refuse("one byte more", append(bytes.Clone(b), 0))
	// The file of the previous format (no header) is refused, not guessed at.
	payload, _ := proto.Marshal(sampleState())
	refuse("headerless state", payload)
}

func TestLoadStateNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := (&journal{dir: dir}).save(sampleState()); err != nil {
		t.Fatal(err)
	}
	if _, err := (&journal{dir: dir}).load(); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	if err := writeFileAtomic(dir+"/"+stateFile, []byte("PLSDSTAT")); err != nil {
		t.Fatal(err)
	}
	_, err := (&journal{dir: dir}).load()
	if !errors.Is(err, ErrStateFile) || !bytes.Contains([]byte(err.Error()), []byte(dir+"/"+stateFile)) {
		t.Fatalf("a damaged file: %v", err)
	}
}
