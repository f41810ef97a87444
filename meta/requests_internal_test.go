package meta

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// seededFSM returns a state machine holding seedState (feature level 2),
// applied up to the seed's last index.
func seededFSM(t testing.TB) *fsm {
	t.Helper()
	f := newFSM()
	d := seedState(t)
	f.publish(d, d.Index)
	return f
}

// applyLog applies cmd to f as the log entry at index.
func applyLog(t testing.TB, f *fsm, index uint64, cmd *metapb.Command) applyResult {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	res, ok := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(applyResult)
	if !ok {
		t.Fatalf("entry %d: no applyResult", index)
	}
	return res
}

func withRequest(cmd *metapb.Command, id string) *metapb.Command {
	cmd.RequestId = []byte(id)
	return cmd
}

// TestRepeatedRequestAppliesOnce (issue 7, point 5): a command whose request
// ID the state machine has applied is not applied again: it changes nothing
// and gets the first result, at the first index. Without this, a retry of
// AddJWTSecret answers "secret already exists" and a retry of DropUser
// "user not found" although both did what was asked.
func TestRepeatedRequestAppliesOnce(t *testing.T) {
	f := seededFSM(t)
	index := f.current().Applied
	for _, tc := range []struct {
		name  string
		cmd   *metapb.Command
		check func(*metapb.Data) bool
	}{
		{"add secret", cmdOf(&metapb.AddJWTSecret{Id: "k2", Value: []byte("fedcba9876543210"), Created: 2}), func(d *metapb.Data) bool { return len(d.JwtSecrets) == 2 }},
		{"drop user", cmdOf(&metapb.DropUser{Name: "bob"}), func(d *metapb.Data) bool { return FindUser(d, "bob") == nil }},
		{"create database", cmdOf(&metapb.CreateDatabase{Name: "another"}), func(d *metapb.Data) bool { return FindDatabase(d, "another") != nil }},
		{"create data node", cmdOf(&metapb.CreateDataNode{HttpAddr: "d3:8086", TcpAddr: "d3:8088"}), func(d *metapb.Data) bool { return len(d.DataNodes) == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "request-" + tc.name
			index++
			first := applyLog(t, f, index, withRequest(tc.cmd, id))
			if first.err != nil || first.index != 0 {
				t.Fatalf("first attempt: %+v", first)
			}
			after := f.current().Data
			if after.Index != index || !tc.check(after) {
				t.Fatalf("first attempt did not apply at %d: %v", index, after)
			}
			want := proto.Clone(after).(*metapb.Data)
			for range 3 {
				index++
				again := applyLog(t, f, index, withRequest(proto.Clone(tc.cmd).(*metapb.Command), id))
				if again.err != nil || again.index != after.Index || again.nodeID != first.nodeID {
					t.Fatalf("repeat at %d: %+v, want the first result (index %d, node %d)", index, again, after.Index, first.nodeID)
				}
				cur := f.current()
				if cur.Data != after || !proto.Equal(cur.Data, want) || cur.Applied != index {
					t.Fatalf("repeat at %d changed the state (or did not advance the applied index: %d)", index, cur.Applied)
				}
			}
		})
	}

	// Without a request ID, or under another one, the same command is a new
	// request: applied (here refused) again.
	index++
	if res := applyLog(t, f, index, cmdOf(&metapb.AddJWTSecret{Id: "k2", Value: []byte("fedcba9876543210")})); !errors.Is(res.err, ErrSecretExists) {
		t.Fatalf("the same command without a request ID: %v, want ErrSecretExists", res.err)
	}
}

// TestRepeatedRefusalGetsTheFirstRefusal: a refused request repeated later,
// when the state would now accept it, gets its first refusal (reason,
// message and index) and changes nothing.
func TestRepeatedRefusalGetsTheFirstRefusal(t *testing.T) {
	f := seededFSM(t)
	first := applyLog(t, f, 100, withRequest(cmdOf(&metapb.DropUser{Name: "eve"}), "drop-eve"))
	if !errors.Is(first.err, ErrUserNotFound) {
		t.Fatalf("first attempt: %v, want ErrUserNotFound", first.err)
	}
	if res := applyLog(t, f, 101, cmdOf(&metapb.CreateUser{Name: "eve", Hash: validHash})); res.err != nil {
		t.Fatal(res.err)
	}
	again := applyLog(t, f, 102, withRequest(cmdOf(&metapb.DropUser{Name: "eve"}), "drop-eve"))
	if !errors.Is(again.err, ErrUserNotFound) || again.err.Error() != first.err.Error() || again.index != 100 {
		t.Fatalf("repeat: %v at %d, want the first refusal %q at 100", again.err, again.index, first.err)
	}
	if FindUser(f.current().Data, "eve") == nil {
		t.Fatalf("the repeat of a refused drop dropped the user")
	}
	// Through Execute's answer: a CommandError at the first index that
	// crosses the wire as the same sentinel.
	_, err := responseOf(again, again.index)
	var ce *CommandError
	if !errors.As(FromStatus(ToStatus(err)), &ce) || ce.Index != 100 || !errors.Is(ce, ErrUserNotFound) {
		t.Fatalf("answer %v, want a CommandError at 100 matching ErrUserNotFound", err)
	}
}

// TestRequestIDsIgnoredBelowLevel2: below feature level 2 the state machine
// ignores request IDs, as meta nodes from before them do, so that replicas
// of both versions apply a repeated entry alike; nothing is recorded.
func TestRequestIDsIgnoredBelowLevel2(t *testing.T) {
	f := newFSM()
	applyLog(t, f, 1, cmdOf(&metapb.InitCluster{ClusterId: "old"}))
	add := withRequest(cmdOf(&metapb.AddJWTSecret{Id: "k1", Value: []byte("0123456789abcdef")}), "add-k1")
	if res := applyLog(t, f, 2, add); res.err != nil {
		t.Fatal(res.err)
	}
	if res := applyLog(t, f, 3, add); !errors.Is(res.err, ErrSecretExists) {
		t.Fatalf("repeat at level 1: %v, want ErrSecretExists (applied again, as an older replica does)", res.err)
	}
	if n := f.requests.len(); n != 0 {
		t.Fatalf("%d requests recorded at level 1", n)
	}
	// The raise itself is not recorded either: recording starts after it.
	if res := applyLog(t, f, 4, withRequest(cmdOf(&metapb.SetFeatureLevel{Level: 2}), "raise")); res.err != nil {
		t.Fatal(res.err)
	}
	if n := f.requests.len(); n != 0 {
		t.Fatalf("the raise to level 2 was recorded (%d records)", n)
	}
	if res := applyLog(t, f, 5, withRequest(cmdOf(&metapb.RemoveJWTSecret{Id: "k1"}), "remove-k1")); res.err != nil || f.requests.get([]byte("remove-k1")) == nil {
		t.Fatalf("first request at level 2: %v, recorded %v", res.err, f.requests.get([]byte("remove-k1")))
	}
}

// TestRequestRecordIsBounded: the state machine keeps the results of the
// last maxRequests request IDs, forgetting the oldest first in log order,
// and a snapshot holds no more.
func TestRequestRecordIsBounded(t *testing.T) {
	f := seededFSM(t)
	start := f.current().Applied
	const extra = 25
	for i := range maxRequests + extra {
		applyLog(t, f, start+1+uint64(i), withRequest(cmdOf(&metapb.DropUser{Name: "ghost"}), fmt.Sprint("r", i)))
	}
	if n := f.requests.len(); n != maxRequests {
		t.Fatalf("%d records, want %d", n, maxRequests)
	}
	for i := range extra {
		if f.requests.get([]byte(fmt.Sprint("r", i))) != nil {
			t.Fatalf("request r%d (among the oldest %d) is still recorded", i, extra)
		}
	}
	for _, i := range []int{extra, maxRequests + extra - 1} {
		if rec := f.requests.get([]byte(fmt.Sprint("r", i))); rec == nil || rec.Index != start+1+uint64(i) {
			t.Fatalf("request r%d: record %v", i, rec)
		}
	}
	if recs := f.requests.records(); len(f.requests.byID) != maxRequests || string(recs[0].Id) != fmt.Sprint("r", extra) {
		t.Fatalf("map holds %d, oldest record %q", len(f.requests.byID), recs[0].Id)
	}
	restored := newFSM()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	if n := restored.requests.len(); n != maxRequests {
		t.Fatalf("restored %d records, want %d", n, maxRequests)
	}
	// A forgotten request is a new one again: a retry that late applies.
	if res := applyLog(t, f, start+maxRequests+extra+1, withRequest(cmdOf(&metapb.DropUser{Name: "ghost"}), "r0")); res.index != 0 {
		t.Fatalf("a forgotten request was answered from the record: %+v", res)
	}
	// Restoring more than the bound (a snapshot from a binary with a larger
	// one) keeps the newest.
	r := newRequestLog(3)
	r.reset([]*metapb.AppliedRequest{{Id: []byte("a")}, {Id: []byte("b")}, {Id: []byte("c")}, {Id: []byte("d")}})
	if r.len() != 3 || r.get([]byte("a")) != nil || r.get([]byte("d")) == nil {
		t.Fatalf("reset beyond the bound kept %v", r.records())
	}
}

// TestRequestRecordSurvivesSnapshots: the record travels in the snapshot
// (format 3); a replica restored from it answers a repeat with the first
// result, and then goes on exactly like the replica that took it.
func TestRequestRecordSurvivesSnapshots(t *testing.T) {
	f := seededFSM(t)
	if res := applyLog(t, f, 50, withRequest(cmdOf(&metapb.CreateDataNode{HttpAddr: "d3:8086", TcpAddr: "d3:8088"}), "register-d3")); res.err != nil || res.nodeID != 3 {
		t.Fatalf("register: %+v", res)
	}
	applyLog(t, f, 51, withRequest(cmdOf(&metapb.DropUser{Name: "ghost"}), "drop-ghost"))
	snap := persist(t, f)
	if !bytes.HasPrefix(snap, snapshotMagicV3) {
		t.Fatalf("a snapshot with request records is not in format 3")
	}
	for name, b := range map[string][]byte{
		"truncated header": snap[:len(snapshotMagicV3)+3],
		"damaged message":  append(append([]byte(nil), snap[:len(snapshotMagicV3)+8]...), 0xff),
	} {
		if err := newFSM().Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Errorf("format 3, %s: restored without error", name)
		}
	}
	restored := newFSM()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(restored.current().Data, f.current().Data) || restored.current().Applied != 51 {
		t.Fatalf("restored state differs")
	}
	tail := []*metapb.Command{
		withRequest(cmdOf(&metapb.CreateDataNode{HttpAddr: "d3:8086", TcpAddr: "d3:8088"}), "register-d3"),
		withRequest(cmdOf(&metapb.DropUser{Name: "ghost"}), "drop-ghost"),
		withRequest(cmdOf(&metapb.CreateDataNode{HttpAddr: "d4:8086", TcpAddr: "d4:8088"}), "register-d4"),
	}
	for i, cmd := range tail {
		index := uint64(52 + i)
		want, got := applyLog(t, f, index, cmd), applyLog(t, restored, index, cmd)
		if want.index != got.index || want.nodeID != got.nodeID || fmt.Sprint(want.err) != fmt.Sprint(got.err) {
			t.Fatalf("entry %d: replica that took the snapshot answered %+v, restored one %+v", index, want, got)
		}
	}
	if res := applyLog(t, restored, 60, tail[0]); res.index != 50 || res.nodeID != 3 || res.err != nil {
		t.Fatalf("repeat of register-d3 after restore: %+v, want node 3 at index 50", res)
	}
	if !proto.Equal(restored.current().Data, f.current().Data) {
		t.Fatalf("states differ after the same entries")
	}
	if a, b := persist(t, restored), persist(t, f); !bytes.Equal(a[len(snapshotMagicV3)+8:], b[len(snapshotMagicV3)+8:]) {
		t.Fatalf("request records differ after the same entries")
	}

	// Without records the snapshot keeps format 2, which a meta node from
	// before request IDs reads; format 2 restores with no records.
	old := newFSM()
	old.publish(seedState(t), 20)
	snap = persist(t, old)
	if !bytes.HasPrefix(snap, snapshotMagic) {
		t.Fatalf("a snapshot without request records is not in format 2")
	}
	restored = newFSM()
	restored.requests.add(&metapb.AppliedRequest{Id: []byte("stale")})
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil || restored.requests.len() != 0 {
		t.Fatalf("format 2: %v, %d records kept", err, restored.requests.len())
	}
}
