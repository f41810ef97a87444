package meta

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// usersState returns a state with n users (sorted names, a bcrypt hash each).
func usersState(n int) *metapb.Data {
	d := &metapb.Data{Index: uint64(n), ClusterId: "bench"}
	d.Users = make([]*metapb.User, n)
	for i := range d.Users {
		d.Users[i] = &metapb.User{Name: fmt.Sprintf("user%06d", i), Hash: validHash}
	}
	return d
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "bench" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// BenchmarkSnapshot100kUsers measures what a Raft snapshot of 100,000 users
// costs: its size, the time to persist it (marshal) and to restore it into
// a fresh state machine.
func BenchmarkSnapshot100kUsers(b *testing.B) {
	const n = 100_000
	d := usersState(n)
	var snap []byte
	b.Run("persist", func(b *testing.B) {
		for b.Loop() {
			sink := &memSink{}
			if err := (&fsmSnapshot{data: d}).Persist(sink); err != nil {
				b.Fatal(err)
			}
			snap = sink.Bytes()
		}
		b.ReportMetric(float64(len(snap)), "bytes")
	})
	b.Run("restore", func(b *testing.B) {
		if snap == nil {
			sink := &memSink{}
			if err := (&fsmSnapshot{data: d}).Persist(sink); err != nil {
				b.Fatal(err)
			}
			snap = sink.Bytes()
		}
		for b.Loop() {
			f := newFSM()
			if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
				b.Fatal(err)
			}
			if got := len(f.current().Data.Users); got != n {
				b.Fatalf("restored %d users, want %d", got, n)
			}
		}
		b.ReportMetric(float64(len(snap)), "bytes")
	})
}

// BenchmarkApplyAt100kUsers measures one user command applied to a state
// of 100,000 users: copy-on-write copies the users slice (pointers), so the
// cost grows with the number of users.
func BenchmarkApplyAt100kUsers(b *testing.B) {
	d := usersState(100_000)
	for _, tc := range []struct {
		name string
		cmd  *metapb.Command
	}{
		{"create-user", cmdOf(&metapb.CreateUser{Name: "user050000x", Hash: validHash})},
		{"set-admin", cmdOf(&metapb.SetAdmin{Name: "user050000", Admin: true})},
		{"create-database", cmdOf(&metapb.CreateDatabase{Name: "db"})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, res := apply(d, tc.cmd, d.Index+1); res.err != nil {
					b.Fatal(res.err)
				}
			}
		})
	}
}

// largeState applies the commands of a large cluster to an empty state:
// 5,000 databases, 10,000 users and 100,000 shards (10 shard groups of 2
// shards per database, on two data nodes), issue 20's benchmark state.
func largeState(b *testing.B) *metapb.Data {
	b.Helper()
	d, index := &metapb.Data{}, uint64(0)
	do := func(op any) {
		index++
		next, res := apply(d, cmdOf(op), index)
		if res.err != nil {
			b.Fatalf("%v: %v", op, res.err)
		}
		d = next
	}
	do(&metapb.InitCluster{ClusterId: "large"})
	do(&metapb.SetFeatureLevel{Level: FeatureLevel})
	do(&metapb.CreateDataNode{HttpAddr: "d1:8086", TcpAddr: "d1:8088"})
	do(&metapb.CreateDataNode{HttpAddr: "d2:8086", TcpAddr: "d2:8088"})
	for i := range 5000 {
		do(&metapb.CreateDatabase{Name: fmt.Sprintf("big%05d", i)})
	}
	for i := range 10000 {
		do(&metapb.CreateUser{Name: fmt.Sprintf("user%05d", i), Hash: validHash})
	}
	week := int64(7 * 24 * time.Hour)
	for g := range 10 {
		for i := range 5000 {
			do(&metapb.CreateShardGroup{Database: fmt.Sprintf("big%05d", i), RetentionPolicy: DefaultRetentionPolicyName,
				Timestamp: sgTimestamp + int64(g)*week})
		}
	}
	return d
}

// BenchmarkSnapshotOfLargeState (issue 20, point 4) times a meta node's
// snapshot of the large state (taking it and writing it out) and its
// restore (reading it back and publishing it), the state machine's share
// of a Raft snapshot and of a node's restart from one.
//
//	go test -run '^$' -bench BenchmarkSnapshotOfLargeState -benchtime 10x ./meta/
func BenchmarkSnapshotOfLargeState(b *testing.B) {
	f := newFSM()
	f.publish(largeState(b), 1<<20)
	var sink memSink
	b.Run("persist", func(b *testing.B) {
		for b.Loop() {
			sink.Reset()
			snap, err := f.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			if err := snap.Persist(&sink); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(sink.Len()), "snapshot-bytes")
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			if err := newFSM().Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeltaOfLargeState: making the delta of one user change on the
// large state (what a Watch stream does per change), and applying it (what
// a data node does).
func BenchmarkDeltaOfLargeState(b *testing.B) {
	d := largeState(b)
	next, res := apply(d, cmdOf(&metapb.SetAdmin{Name: "user05000", Admin: true}), d.Index+1)
	if res.err != nil {
		b.Fatal(res.err)
	}
	delta := MakeDelta(d, next)
	b.Run("make", func(b *testing.B) {
		for b.Loop() {
			MakeDelta(d, next)
		}
	})
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := ApplyDelta(d, delta); err != nil {
				b.Fatal(err)
			}
		}
	})
}
