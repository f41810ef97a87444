package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestStatusRoundTrip: every error of errorTable, bare, wrapped, or in a
// CommandError, becomes a status with the table's code and comes back from
// FromStatus matching the same sentinel (and no other), with its message
// and its index.
func TestStatusRoundTrip(t *testing.T) {
	reasons := map[string]bool{}
	for _, e := range errorTable {
		if reasons[e.reason] {
			t.Fatalf("reason %q appears twice in errorTable", e.reason)
		}
		reasons[e.reason] = true

		for _, tc := range []struct {
			name  string
			err   error
			index uint64
		}{
			{"bare", e.err, 0},
			{"wrapped", fmt.Errorf("%w: some detail", e.err), 0},
			{"command error", &CommandError{Index: 42, Err: fmt.Errorf("%w: some detail", e.err)}, 42},
		} {
			st := ToStatus(tc.err)
			if got := status.Code(st); got != e.code {
				t.Fatalf("%s (%s): code %v, want %v", e.reason, tc.name, got, e.code)
			}
			back := FromStatus(st)
			if !errors.Is(back, e.err) {
				t.Fatalf("%s (%s): %v does not match its sentinel after the round trip", e.reason, tc.name, back)
			}
			for _, other := range errorTable {
				if other.err != e.err && errors.Is(back, other.err) {
					t.Fatalf("%s (%s): %v also matches %v", e.reason, tc.name, back, other.err)
				}
			}
			if e.err != ErrNotLeader && back.Error() != tc.err.Error() {
				t.Fatalf("%s (%s): message %q, want %q", e.reason, tc.name, back, tc.err)
			}
			var ce *CommandError
			if got := errors.As(back, &ce); got != (tc.index > 0) || (got && ce.Index != tc.index) {
				t.Fatalf("%s (%s): index lost or invented: %#v", e.reason, tc.name, back)
			}
		}
	}

	// Callers tell these apart by code and reason (a data node answers an
	// admin bootstrap refused with ErrAdminExists as it answers a missing
	// login): they must stay in the table as they are.
	t.Run("admin and time range sentinels", func(t *testing.T) {
		for _, want := range []struct {
			err    error
			reason string
			code   codes.Code
		}{
			{ErrAdminExists, "admin_exists", codes.FailedPrecondition},
			{ErrLastAdmin, "last_admin", codes.FailedPrecondition},
			{ErrTimeOutOfRange, "time_out_of_range", codes.InvalidArgument},
			// Older and newer meta nodes and clients must agree on it.
			{ErrFeatureLevel, "feature_level", codes.FailedPrecondition},
		} {
			st, _ := status.FromError(ToStatus(want.err))
			var reason string
			for _, d := range st.Details() {
				if ed, ok := d.(*metapb.ErrorDetail); ok {
					reason = ed.Reason
				}
			}
			if st.Code() != want.code || reason != want.reason || st.Message() != want.err.Error() {
				t.Fatalf("%v: code %v reason %q message %q, want %v %q", want.err, st.Code(), reason, st.Message(), want.code, want.reason)
			}
		}
	})

	t.Run("leader address", func(t *testing.T) {
		back := FromStatus(ToStatus(&NotLeaderError{LeaderRPCAddr: "10.0.0.9:8091"}))
		var nl *NotLeaderError
		if !errors.As(back, &nl) || nl.LeaderRPCAddr != "10.0.0.9:8091" || !errors.Is(back, ErrNotLeader) {
			t.Fatalf("got %#v, want NotLeaderError with the leader's address", back)
		}
	})
	t.Run("errors outside the table", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			code codes.Code
		}{
			{errors.New("disk on fire"), codes.Internal},
			{fmt.Errorf("proposing: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
			{context.Canceled, codes.Canceled},
		} {
			st := ToStatus(tc.err)
			if status.Code(st) != tc.code {
				t.Fatalf("%v: code %v, want %v", tc.err, status.Code(st), tc.code)
			}
			back := FromStatus(st)
			for _, e := range errorTable {
				if errors.Is(back, e.err) {
					t.Fatalf("%v came back as %v", tc.err, e.err)
				}
			}
		}
		if ToStatus(nil) != nil || FromStatus(nil) != nil {
			t.Fatalf("nil did not stay nil")
		}
		// A status (e.g. from a forwarded call) passes through unchanged.
		in := status.Error(codes.Unauthenticated, "no token")
		if ToStatus(in) != in {
			t.Fatalf("ToStatus changed a status error")
		}
	})
}
