package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// State is one published version of the cluster state. It never changes:
// Data must be treated as read-only. Changed is closed when a newer State is
// published.
type State struct {
	Data *metapb.Data
	// Applied is the index of the last log entry applied, including entries
	// that were refused and left Data as it was.
	Applied uint64
	changed chan struct{}
}

// Changed returns a channel that is closed when a newer State is published.
func (s *State) Changed() <-chan struct{} { return s.changed }

// fsm is the Raft state machine. Apply runs on Raft's single apply goroutine;
// readers load the current State without locks.
type fsm struct {
	state atomic.Pointer[State]
}

func newFSM() *fsm {
	f := &fsm{}
	f.state.Store(&State{Data: &metapb.Data{}, changed: make(chan struct{})})
	return f
}

func (f *fsm) current() *State { return f.state.Load() }

// publish makes s current and wakes everyone waiting on the previous State.
func (f *fsm) publish(data *metapb.Data, applied uint64) {
	old := f.state.Swap(&State{Data: data, Applied: applied, changed: make(chan struct{})})
	close(old.changed)
}

// Apply decodes and applies one command. A command that cannot be decoded
// panics: it means the replicas would diverge. Refusals (user exists, ...)
// are returned as the result and change nothing.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var cmd metapb.Command
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		panic(fmt.Sprintf("meta: cannot decode command at index %d: %v", l.Index, err))
	}
	cur := f.current()
	next, res := apply(cur.Data, &cmd, l.Index)
	f.publish(next, l.Index)
	return res
}

// StoreConfiguration is called for each committed membership change
// (raft.ConfigurationStore). The state does not change, but Applied
// advances, so that the index a membership change returns (RemoveNode) can be
// waited for with WaitForApplied like a command's.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	if cur := f.current(); index > cur.Applied {
		f.publish(cur.Data, index)
	}
}

var _ raft.ConfigurationStore = (*fsm)(nil)

// Snapshot keeps the current pointer and applied index; Persist marshals them.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	cur := f.current()
	return &fsmSnapshot{data: cur.Data, applied: cur.Applied}, nil
}

// Restore replaces the state with a snapshot's. Applied becomes the index
// the snapshot was taken at, not the state's own Data.Index: entries after
// the last change (refused commands, membership changes) are covered by the
// snapshot too, and a caller waiting for one of their indexes must not wait
// for the next unrelated change.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("meta: reading snapshot: %w", err)
	}
	data, applied, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	f.publish(data, applied)
	return nil
}

// Snapshot format: snapshotMagic, the applied index (8 bytes, big endian),
// then the Data message. The first format was the Data message alone; it is
// still read, with Data.Index as the applied index. The two cannot be
// confused: an encoded message never starts with a zero byte (field number 0
// does not exist).
var snapshotMagic = []byte("\x00palisade-meta-snapshot-v2\x00")

func encodeSnapshot(data *metapb.Data, applied uint64) ([]byte, error) {
	b := make([]byte, 0, len(snapshotMagic)+8+proto.Size(data))
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint64(b, applied)
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, data)
}

func decodeSnapshot(b []byte) (*metapb.Data, uint64, error) {
	data := &metapb.Data{}
	rest, v2 := bytes.CutPrefix(b, snapshotMagic)
	var applied uint64
	if v2 {
		if len(rest) < 8 {
			return nil, 0, errors.New("meta: decoding snapshot: truncated header")
		}
		applied, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	if err := proto.Unmarshal(rest, data); err != nil {
		return nil, 0, fmt.Errorf("meta: decoding snapshot: %w", err)
	}
	// An applied index below the state's own would make waits wrong the
	// other way (return before the state is there): never go below it.
	return data, max(applied, data.Index), nil
}

type fsmSnapshot struct {
	data    *metapb.Data
	applied uint64
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	b, err := encodeSnapshot(s.data, s.applied)
	if err == nil {
		_, err = sink.Write(b)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("meta: writing snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
