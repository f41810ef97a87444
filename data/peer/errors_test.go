package peer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestErrorTableRoundTrip (issue 18): every typed error of the data
// service crosses the wire as its code and comes back as itself, with the
// handler's text, and as no other.
func TestErrorTableRoundTrip(t *testing.T) {
	codesSeen := map[codes.Code]bool{}
	for _, e := range errorTable {
		if codesSeen[e.code] {
			t.Fatalf("two errors share the code %s: the way back would be ambiguous", e.code)
		}
		codesSeen[e.code] = true
		sent := Errorf(e.err, "shard %d: %s", 7, "what went wrong")
		wire := Status(sent)
		st, ok := status.FromError(wire)
		if !ok || st.Code() != e.code || st.Message() != "shard 7: what went wrong" {
			t.Fatalf("%v: on the wire as %v", e.err, wire)
		}
		back := FromStatus(wire)
		if !errors.Is(back, e.err) {
			t.Errorf("%v: came back as %v, not itself", e.err, back)
		}
		if status.Code(back) != e.code || back.Error() != wire.Error() {
			t.Errorf("%v: the status is lost on the way back: %v", e.err, back)
		}
		for _, other := range errorTable {
			if other.err != e.err && errors.Is(back, other.err) {
				t.Errorf("%v came back as %v too", e.err, other.err)
			}
		}
		// A status that was never ours (gRPC's client makes them) has a
		// kind all the same.
		if !Is(status.Error(e.code, "x"), e.err) {
			t.Errorf("a bare %s status is not %v", e.code, e.err)
		}
	}
}

func TestStatusOfOtherErrors(t *testing.T) {
	if Status(nil) != nil || FromStatus(nil) != nil {
		t.Fatal("nil is not nil")
	}
	if got := status.Code(Status(errors.New("disk on fire"))); got != codes.Internal {
		t.Errorf("an untyped error answers %s, want Internal", got)
	}
	canceled := status.FromContextError(context.Canceled).Err()
	if got := Status(canceled); status.Code(got) != codes.Canceled {
		t.Errorf("a status answers as %v, want itself", got)
	}
	wrapped := fmt.Errorf("writing: %w", Errorf(ErrShardNotFound, "shard 3 does not exist"))
	if got := status.Code(Status(wrapped)); got != codes.NotFound {
		t.Errorf("a wrapped typed error answers %s, want NotFound", got)
	}
	if Permanent(status.Error(codes.Unavailable, "down")) || !Permanent(FromStatus(status.Error(codes.NotFound, "gone"))) {
		t.Error("Permanent does not follow the table")
	}
	if !TryNextOwner(fmt.Errorf("%w: 9", ErrUnknownNode)) || TryNextOwner(status.Error(codes.PermissionDenied, "no")) {
		t.Error("TryNextOwner does not follow the table")
	}
}

// TestPartialWriteRoundTrip (issue 19, point 3): an owner's partial write
// (a field type conflict) crosses the wire typed: the sender gets the
// reason and the dropped count, not only a text, and it is still
// ErrInvalid for a caller that knows no more (an older sender).
func TestPartialWriteRoundTrip(t *testing.T) {
	reason := `field type conflict: input field "v" on measurement "cpu" is type string, already exists as type float`
	sent := PartialWriteErrorf(reason, 3, "partial write: %s dropped=%d", reason, 3)
	if r, n, ok := PartialWrite(sent); !ok || r != reason || n != 3 {
		t.Fatalf("before the wire: %q %d %v", r, n, ok)
	}
	back := FromStatus(Status(sent))
	if r, n, ok := PartialWrite(back); !ok || r != reason || n != 3 {
		t.Fatalf("after the wire: %q %d %v (%v)", r, n, ok, back)
	}
	if !Is(back, ErrInvalid) || back.Error() != Status(sent).Error() {
		t.Errorf("after the wire: %v, want ErrInvalid with the same text", back)
	}
	if _, _, ok := PartialWrite(FromStatus(Status(Errorf(ErrInvalid, "points do not decode")))); ok {
		t.Error("an ErrInvalid without the detail reads as a partial write")
	}
}
