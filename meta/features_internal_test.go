package meta

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/palisade-db/palisade/proto/metapb"
)

// futureOp returns a command whose operation is field number of the op
// oneof, which this binary does not know: what a newer meta node proposes
// after adding an operation.
func futureOp(number protowire.Number) *metapb.Command {
	cmd := &metapb.Command{RequestId: []byte("future")}
	b := protowire.AppendTag(nil, number, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0x0a, 0x03, 'n', 'e', 'w'})
	cmd.ProtoReflect().SetUnknown(b)
	return cmd
}

// futureField returns a known operation with a field this binary does not
// know, as a newer meta node would send after adding one.
func futureField() *metapb.Command {
	cmd := cmdOf(&metapb.CreateDatabase{Name: "db2"})
	cmd.GetCreateDatabase().ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 1))
	return cmd
}

// mustHalt applies cmd at index and returns the panic message, failing
// when the state machine applies or refuses it instead.
func mustHalt(t *testing.T, f *fsm, index uint64, cmd *metapb.Command) (msg string) {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("entry %d (%v) did not halt the replica", index, cmd)
		}
		msg = fmt.Sprint(r)
	}()
	res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
	t.Fatalf("entry %d applied with %+v", index, res)
	return ""
}

// TestReplicaHaltsOnCommandFromTheFuture (issue 7, point 6): a replica that
// meets a log entry it cannot apply (an operation or field it does not
// know, a feature level above its own) halts with a clear line instead of
// refusing the entry and drifting from the replicas that apply it. Its
// state stays as it was, so that a binary that knows the entry applies it
// after a restart.
func TestReplicaHaltsOnCommandFromTheFuture(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level uint32
		cmd   *metapb.Command
		want  string
	}{
		{"unknown operation", FeatureLevel, futureOp(19), "field 19 of palisade.meta.v1.Command"},
		{"unknown field of a known operation", FeatureLevel, futureField(), "field 15 of palisade.meta.v1.CreateDatabase"},
		{"level above its own", FeatureLevel, cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel + 1}), fmt.Sprintf("set_feature_level needs feature level %d, this binary supports %d", FeatureLevel+1, FeatureLevel)},
		{"an older replica meets the raise", levelBase, cmdOf(&metapb.SetFeatureLevel{Level: levelRequestIDs}), "set_feature_level needs feature level 2, this binary supports 1"},
		{"a level-3 replica meets DROP SHARD", levelShardOwners, cmdOf(&metapb.DropShard{Id: 1, DeletedAt: 1}), "drop_shard needs feature level 4, this binary supports 3"},
		{"a level-4 replica meets CREATE CONTINUOUS QUERY", levelDropShard, cmdOf(&metapb.CreateContinuousQuery{Database: "db", Name: "c", Query: seedCQ}), "create_continuous_query needs feature level 5, this binary supports 4"},
		{"a level-4 replica meets a recorded run", levelDropShard, cmdOf(&metapb.RecordContinuousQueryRuns{}), "record_continuous_query_runs needs feature level 5, this binary supports 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := seededFSM(t)
			f.level, f.log = tc.level, slog.New(slog.NewTextHandler(&logs, nil))
			before := f.current()
			msg := mustHalt(t, f, before.Applied+1, tc.cmd)
			for _, want := range []string{fmt.Sprintf("halting at log entry %d", before.Applied+1), tc.want, "version the other meta nodes run"} {
				if !strings.Contains(msg, want) {
					t.Fatalf("panic %q does not say %q", msg, want)
				}
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("no error line before halting: %q", logs.String())
			}
			if f.current() != before || f.requests.get(tc.cmd.RequestId) != nil {
				t.Fatalf("the halted entry changed the state or was recorded")
			}
		})
	}
}

// TestEmptyCommandIsRefusedNotHalted: an empty command is the same for
// every version (no operation at all), so replicas refuse it alike; it is
// not a command from the future. (Execute refuses it before the log.)
func TestEmptyCommandIsRefusedNotHalted(t *testing.T) {
	f := seededFSM(t)
	before := f.current()
	if res := applyLog(t, f, before.Applied+1, &metapb.Command{}); !errors.Is(res.err, ErrInvalidCommand) {
		t.Fatalf("empty command: %v, want ErrInvalidCommand", res.err)
	}
	if f.current().Data != before.Data {
		t.Fatalf("empty command changed the state")
	}
}

// TestCheckRequest: what Execute refuses before proposing or forwarding.
func TestCheckRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  *metapb.Command
		want error
	}{
		{"empty", &metapb.Command{}, ErrInvalidCommand},
		{"request ID only", &metapb.Command{RequestId: []byte("id")}, ErrInvalidCommand},
		{"unknown operation", futureOp(19), ErrFeatureLevel},
		{"unknown field", futureField(), ErrFeatureLevel},
		{"level above this node's", cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel + 1}), ErrFeatureLevel},
		{"request ID too long", withRequest(cmdOf(&metapb.DropUser{Name: "bob"}), strings.Repeat("x", maxRequestIDLen+1)), ErrInvalidCommand},
		{"fine", withRequest(cmdOf(&metapb.DropUser{Name: "bob"}), strings.Repeat("x", maxRequestIDLen)), nil},
		{"raise to this node's level", cmdOf(&metapb.SetFeatureLevel{Level: FeatureLevel}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkRequest(tc.cmd, FeatureLevel); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRestoreRefusesSnapshotFromTheFuture: a snapshot of a cluster at a
// feature level above this binary's is refused with a clear error (the
// node does not start, or stays behind) rather than restored and drifted
// from.
func TestRestoreRefusesSnapshotFromTheFuture(t *testing.T) {
	d := seedState(t)
	d.FeatureLevel = FeatureLevel + 1
	b, err := encodeSnapshot(d, d.Index, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	f.log = slog.New(slog.DiscardHandler)
	err = f.Restore(io.NopCloser(bytes.NewReader(b)))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("feature level %d", FeatureLevel+1)) {
		t.Fatalf("restore: %v, want a refusal naming the level", err)
	}
	if f.current().Applied != 0 {
		t.Fatalf("the refused snapshot was restored")
	}
}

// TestEveryOperationIsKnown: every operation of the Command oneof is
// applied by apply (none falls through to "empty operation") and needs a
// level this binary supports, and the envelope has no field outside the op
// whose level nobody decided: adding one must update this test and
// commandLevel.
func TestEveryOperationIsKnown(t *testing.T) {
	desc := (&metapb.Command{}).ProtoReflect().Descriptor()
	op := desc.Oneofs().ByName("op")
	for i := range op.Fields().Len() {
		fd := op.Fields().Get(i)
		cmd := &metapb.Command{}
		m := cmd.ProtoReflect()
		m.Set(fd, m.NewField(fd))
		if _, res := apply(seedState(t), cmd, 1000); res.err != nil && strings.Contains(res.err.Error(), "empty operation") {
			t.Fatalf("apply does not handle %s", fd.Name())
		}
		if lvl := commandLevel(cmd); lvl < levelBase || lvl > FeatureLevel {
			t.Fatalf("%s needs level %d", fd.Name(), lvl)
		}
	}
	var envelope []string
	for i := range desc.Fields().Len() {
		if fd := desc.Fields().Get(i); fd.ContainingOneof() == nil {
			envelope = append(envelope, string(fd.Name()))
		}
	}
	if fmt.Sprint(envelope) != "[request_id]" {
		t.Fatalf("envelope fields %v: decide the feature level of each new one", envelope)
	}
}

// TestRetiredFieldsAreNotUnknown: a field whose number is reserved (retired)
// may still be in old log entries; it is not a field from the future, and
// does not halt a replica. Any other unknown number does.
func TestRetiredFieldsAreNotUnknown(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("retired_test.proto"),
		Package: proto.String("palisade.test"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:          proto.String("Op"),
			Field:         []*descriptorpb.FieldDescriptorProto{{Name: proto.String("name"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}},
			ReservedRange: []*descriptorpb.DescriptorProto_ReservedRange{{Start: proto.Int32(5), End: proto.Int32(6)}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(fd.Messages().ByName("Op"))
	var b []byte
	for _, num := range []protowire.Number{5, 6} {
		b = protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), 1)
	}
	m.SetUnknown(b)
	if got := unknownFields(m); fmt.Sprint(got) != "[field 6 of palisade.test.Op]" {
		t.Fatalf("unknown fields %v, want only field 6 (5 is retired)", got)
	}
}
