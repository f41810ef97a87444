package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// requests records the results of recent request IDs (applyEntry).
	requests *requestLog
	// level is the feature level this replica supports; it halts on an
	// entry that needs more.
	level uint32
	log   *slog.Logger
	// hold, when set (tests: export_test.go), blocks Apply until closed.
	hold atomic.Pointer[chan struct{}]
	// recent keeps the newest states for Watch streams that resume.
	recent *recent
}

func newFSM() *fsm {
	f := &fsm{requests: newRequestLog(maxRequests), level: FeatureLevel, log: slog.Default().With("component", "meta"), recent: &recent{}}
	f.state.Store(&State{Data: &metapb.Data{}, changed: make(chan struct{})})
	return f
}

func (f *fsm) current() *State { return f.state.Load() }

// publish makes s current and wakes everyone waiting on the previous State.
func (f *fsm) publish(data *metapb.Data, applied uint64) {
	old := f.state.Swap(&State{Data: data, Applied: applied, changed: make(chan struct{})})
	if data != old.Data {
		f.recent.add(data)
	}
	close(old.changed)
}

// Apply decodes and applies one command. A command that cannot be decoded,
// or that this binary cannot apply (an operation or field it does not know,
// a feature level above its own: the entry comes from a newer meta node),
// halts the replica: skipping it would let this replica drift from the
// others, silently. Refusals (user exists, ...) are returned as the result
// and change nothing.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if h := f.hold.Load(); h != nil {
		<-*h
	}
	var cmd metapb.Command
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		f.halt(l.Index, fmt.Errorf("cannot decode the command: %w", err))
	}
	if err := checkApplicable(&cmd, f.level); err != nil {
		f.halt(l.Index, err)
	}
	cur := f.current()
	next, res := applyEntry(cur.Data, f.requests, &cmd, l.Index)
	f.publish(next, l.Index)
	return res
}

// halt stops this replica at a log entry it cannot apply. The entry stays
// in the log: a binary that knows it applies it after a restart.
func (f *fsm) halt(index uint64, err error) {
	msg := fmt.Sprintf("meta: halting at log entry %d: %v; this replica stops rather than drift from the others: "+
		"run this meta node with the version the other meta nodes run", index, err)
	f.log.Error(msg, "index", index, "supported_feature_level", f.level)
	panic(msg)
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

// Snapshot keeps the current pointer, applied index and request records (a
// copy of the list; the records themselves never change); Persist marshals
// them. Raft calls it between two Applies, so the three agree.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	cur := f.current()
	return &fsmSnapshot{data: cur.Data, applied: cur.Applied, requests: f.requests.records()}, nil
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
	data, applied, requests, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	// A state at a level above this binary's holds what it cannot keep:
	// refuse it (the node stays behind, or does not start) rather than
	// drift.
	if have := ClusterFeatureLevel(data); have > f.level {
		err := fmt.Errorf("meta: cannot restore a snapshot at feature level %d: this binary supports %d; "+
			"run this meta node with the version the other meta nodes run", have, f.level)
		f.log.Error(err.Error(), "snapshot_feature_level", have, "supported_feature_level", f.level)
		return err
	}
	f.requests.reset(requests)
	f.publish(data, applied)
	return nil
}

// Snapshot formats. Format 3: snapshotMagicV3, the applied index (8 bytes,
// big endian), then a SnapshotState message (Data and the request records).
// Format 2: snapshotMagic, the applied index, then the Data message; it is
// still written when there are no request records (always below feature
// level 2), so that a meta node from before request IDs reads it. Format 1
// was the Data message alone; it is still read, with Data.Index as the
// applied index. They cannot be confused: an encoded message never starts
// with a zero byte (field number 0 does not exist).
var (
	snapshotMagic   = []byte("\x00palisade-meta-snapshot-v2\x00")
	snapshotMagicV3 = []byte("\x00palisade-meta-snapshot-v3\x00")
)

func encodeSnapshot(data *metapb.Data, applied uint64, requests []*metapb.AppliedRequest) ([]byte, error) {
	var body proto.Message = data
	magic := snapshotMagic
	if len(requests) > 0 {
		body, magic = &metapb.SnapshotState{Data: data, Requests: requests}, snapshotMagicV3
	}
	b := make([]byte, 0, len(magic)+8+proto.Size(body))
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint64(b, applied)
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, body)
}

func decodeSnapshot(b []byte) (*metapb.Data, uint64, []*metapb.AppliedRequest, error) {
	rest, v3 := bytes.CutPrefix(b, snapshotMagicV3)
	v2 := false
	if !v3 {
		rest, v2 = bytes.CutPrefix(b, snapshotMagic)
	}
	var applied uint64
	if v2 || v3 {
		if len(rest) < 8 {
			return nil, 0, nil, errors.New("meta: decoding snapshot: truncated header")
		}
		applied, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	st := &metapb.SnapshotState{Data: &metapb.Data{}}
	var err error
	if v3 {
		err = proto.Unmarshal(rest, st)
	} else {
		err = proto.Unmarshal(rest, st.Data)
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("meta: decoding snapshot: %w", err)
	}
	if st.Data == nil {
		st.Data = &metapb.Data{}
	}
	// An applied index below the state's own would make waits wrong the
	// other way (return before the state is there): never go below it.
	return st.Data, max(applied, st.Data.Index), st.Requests, nil
}

type fsmSnapshot struct {
	data     *metapb.Data
	applied  uint64
	requests []*metapb.AppliedRequest
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	b, err := encodeSnapshot(s.data, s.applied, s.requests)
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
