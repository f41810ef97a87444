package meta

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestRestoredAppliedIndexIsTheSnapshots (issue 6, point 11): refused
// commands and membership changes after the last change advance the
// applied index but not Data.Index. A snapshot taken then covers those
// entries; restoring it must not set the applied index back to
// Data.Index, or a caller waiting for one of those indexes would wait for
// the next unrelated change.
func TestRestoredAppliedIndexIsTheSnapshots(t *testing.T) {
	f := newFSM()
	f.publish(seedState(t), uint64(len(seedCommands())))
	// A refused command, then a membership change: Applied moves on, Data
	// stays.
	cmd, err := proto.Marshal(cmdOf(&metapb.DropUser{Name: "ghost"}))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := f.Apply(&raft.Log{Index: 20, Type: raft.LogCommand, Data: cmd}).(applyResult); res.err == nil {
		t.Fatalf("setup: dropping a missing user was accepted")
	}
	f.StoreConfiguration(21, raft.Configuration{})
	cur := f.current()
	if cur.Applied != 21 || cur.Data.Index >= 21 {
		t.Fatalf("setup: applied %d, data index %d; want 21 and less", cur.Applied, cur.Data.Index)
	}

	snap := persist(t, f)
	restored := newFSM()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	got := restored.current()
	if got.Applied != 21 {
		t.Fatalf("restored applied index %d, want the snapshot's, 21 (state index %d)", got.Applied, got.Data.Index)
	}
	if !proto.Equal(got.Data, cur.Data) {
		t.Fatalf("restored state differs:\n got %v\nwant %v", got.Data, cur.Data)
	}
	// WaitForApplied only reads the state: a store around the restored
	// FSM answers at once, even with a context that is already over.
	s := &Store{fsm: restored, closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitForApplied(ctx, 21); err != nil {
		t.Fatalf("WaitForApplied(snapshot index) after restore: %v", err)
	}
}

// TestRestoreReadsSnapshotsOfTheFirstFormat: snapshots written before the
// applied index was stored (the Data message alone) still restore, with
// Data.Index as the applied index.
func TestRestoreReadsSnapshotsOfTheFirstFormat(t *testing.T) {
	d := seedState(t)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if got := f.current(); got.Applied != d.Index || !proto.Equal(got.Data, d) {
		t.Fatalf("restored applied %d and %v, want %d and the state", got.Applied, got.Data, d.Index)
	}
	// An empty state encodes to nothing: still a valid old snapshot.
	f = newFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(nil))); err != nil || f.current().Applied != 0 {
		t.Fatalf("empty snapshot: %v, applied %d", err, f.current().Applied)
	}
}

// TestRestoreRefusesDamagedSnapshots: a header without its index, or a
// damaged message, is an error, never a silently empty state.
func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	f := newFSM()
	f.publish(seedState(t), 30)
	snap := persist(t, f)
	for name, b := range map[string][]byte{
		"truncated header": snap[:len(snapshotMagic)+3],
		"damaged message":  append(slices.Clone(snap[:len(snapshotMagic)+8]), 0xff),
	} {
		if err := newFSM().Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: restored without error", name)
		}
	}
}

// TestRestoredAppliedIndexNeverBelowTheState: a snapshot whose header
// claims less than its state's index restores at the state's index.
func TestRestoredAppliedIndexNeverBelowTheState(t *testing.T) {
	d := seedState(t)
	b, err := encodeSnapshot(d, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if got := f.current().Applied; got != d.Index {
		t.Fatalf("applied %d, want the state's index %d", got, d.Index)
	}
}

func persist(t *testing.T, f *fsm) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}
