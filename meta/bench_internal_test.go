package meta

import (
	"bytes"
	"fmt"
	"io"
	"testing"

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
