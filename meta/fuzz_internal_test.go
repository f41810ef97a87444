package meta

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// FuzzApplyCommand: any decodable command applied to a small state never
// panics, returns the very same state when it is refused, a new state at the
// given index when accepted, and never modifies the state it was given.
func FuzzApplyCommand(f *testing.F) {
	seeds := append(seedCommands(),
		cmdOf(&metapb.CreateUser{Name: "carol", Password: "plaintext", Hash: validHash}),
		cmdOf(&metapb.SetPassword{Name: "bob", Hash: validHash}),
		cmdOf(&metapb.SetAdmin{Name: "bob", Admin: true}),
		cmdOf(&metapb.DropUser{Name: "alice"}),
		cmdOf(&metapb.DropDatabase{Name: "db"}),
		cmdOf(&metapb.RemoveDataNode{Id: 1}),
		cmdOf(&metapb.RemoveMetaNode{RaftAddr: "m1:8089"}),
		cmdOf(&metapb.DeleteShardGroup{Database: "db", RetentionPolicy: "week", Id: 1, DeletedAt: 9}),
		cmdOf(&metapb.DropRetentionPolicy{Database: "db", Name: "week"}),
		cmdOf(&metapb.RemoveJWTSecret{Id: "k1"}),
		&metapb.Command{},
	)
	for _, cmd := range seeds {
		b, err := proto.Marshal(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base := seedState(f)
	want := proto.Clone(base).(*metapb.Data)
	const index = 1000
	f.Fuzz(func(t *testing.T, b []byte) {
		var cmd metapb.Command
		if err := proto.Unmarshal(b, &cmd); err != nil {
			t.Skip()
		}
		next, res := apply(base, &cmd, index)
		if res.err != nil {
			if next != base {
				t.Fatalf("refused (%v) but returned a new state", res.err)
			}
		} else if next == base || next.Index != index {
			t.Fatalf("accepted but returned the same state or index %d", next.Index)
		}
		if !proto.Equal(base, want) {
			t.Fatalf("applying %v modified the state it was given", &cmd)
		}
		if _, err := proto.Marshal(next); err != nil {
			t.Fatalf("the new state cannot be encoded: %v", err)
		}
	})
}
