package meta

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// FuzzApplyCommand: any decodable command applied to a small state (at
// feature level 2, with one request recorded) never panics, returns the very
// same state when it is refused or repeats a recorded request (with that
// request's result), a new state at the given index when accepted, records
// the result of a new request ID, and never modifies the state it was given.
func FuzzApplyCommand(f *testing.F) {
	seen := []byte("seen-request-id")
	withID := func(cmd *metapb.Command, id []byte) *metapb.Command {
		cmd.RequestId = id
		return cmd
	}
	seeds := append(seedCommands(),
		cmdOf(&metapb.CreateUser{Name: "carol", Password: "plaintext", Hash: validHash}),
		cmdOf(&metapb.SetPassword{Name: "bob", Hash: validHash}),
		cmdOf(&metapb.SetAdmin{Name: "bob", Admin: true}),
		cmdOf(&metapb.DropUser{Name: "alice"}),
		cmdOf(&metapb.DropDatabase{Name: "db"}),
		cmdOf(&metapb.RemoveDataNode{Id: 1}),
		cmdOf(&metapb.RemoveMetaNode{RaftAddr: "m1:8089"}),
		cmdOf(&metapb.DeleteShardGroup{Database: "db", RetentionPolicy: "week", Id: 1, DeletedAt: 9}),
		cmdOf(&metapb.DropShard{Id: 1, DeletedAt: 9}),
		cmdOf(&metapb.DropRetentionPolicy{Database: "db", Name: "week"}),
		cmdOf(&metapb.RemoveJWTSecret{Id: "k1"}),
		cmdOf(&metapb.SetFeatureLevel{Level: 1}),
		withID(cmdOf(&metapb.AddJWTSecret{Id: "k1", Value: []byte("0123456789abcdef0123")}), seen),
		withID(cmdOf(&metapb.DropUser{Name: "bob"}), []byte("a-new-request-id")),
		withID(cmdOf(&metapb.DropUser{Name: "ghost"}), []byte("another-request-id")),
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
		reqs := newRequestLog(maxRequests)
		reqs.add(&metapb.AppliedRequest{Id: seen, Index: 7, NodeId: 3})
		next, res := applyEntry(base, reqs, &cmd, index)
		switch {
		case res.index != 0:
			if next != base || res.index != 7 || res.nodeID != 3 || res.err != nil || !bytes.Equal(cmd.RequestId, seen) {
				t.Fatalf("a repeat of request %q got %+v, or changed the state", cmd.RequestId, res)
			}
		case res.err != nil:
			if next != base {
				t.Fatalf("refused (%v) but returned a new state", res.err)
			}
		case next == base || next.Index != index:
			t.Fatalf("accepted but returned the same state or index %d", next.Index)
		}
		if id := cmd.RequestId; res.index == 0 && len(id) > 0 && len(id) <= maxRequestIDLen {
			if rec := reqs.get(id); rec == nil || rec.Index != index || (rec.ErrorMessage != "") != (res.err != nil) {
				t.Fatalf("request %q: record %v for result %+v", id, rec, res)
			}
		}
		if !proto.Equal(base, want) {
			t.Fatalf("applying %v modified the state it was given", &cmd)
		}
		if _, err := proto.Marshal(next); err != nil {
			t.Fatalf("the new state cannot be encoded: %v", err)
		}
	})
}
