package peer

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/proto/datapb"
)

// ErrUnknownNode: the meta state has no data node with that ID (removed,
// or not in this node's state yet). It never crosses the wire.
var ErrUnknownNode = errors.New("data: no such data node in the meta state")

// The data service's errors (see proto/data.proto). A handler returns one
// made with Errorf; Status turns it into the gRPC status its code says, and
// FromStatus turns that status back into an error that wraps the same
// sentinel on the caller's side, so that no caller matches a code or a
// text.
var (
	// ErrShardNotFound: the shard is not in the receiver's meta state, its
	// group is deleted, it is of another database or policy, or it went
	// away during the write. Permanent for hinted handoff.
	ErrShardNotFound = errors.New("shard not found")
	// ErrNotOwner: the receiver does not own the shard (for writes), or
	// does not serve its reads. Permanent.
	ErrNotOwner = errors.New("not an owner of the shard")
	// ErrInvalid: the request can never be applied (points that do not
	// decode, a field type conflict, a delete or options that do not
	// parse). Permanent.
	ErrInvalid = errors.New("invalid request")
	// ErrDenied: the user of a read may not read the database there.
	ErrDenied = errors.New("read not allowed")
	// ErrUnavailable: the receiver is starting (not registered), behind the
	// sender's meta state, or could not do it now: retry later, or try
	// another owner. gRPC's client also answers it for a node it cannot
	// reach.
	ErrUnavailable = errors.New("data node unavailable")
	// ErrTimeout: no answer in time.
	ErrTimeout = errors.New("no answer in time")
	// ErrUnimplemented: the receiver does not know the call (an older
	// binary).
	ErrUnimplemented = errors.New("not implemented by the data node")
	// ErrInternal: anything else that failed on the receiver.
	ErrInternal = errors.New("internal error")
)

// errorTable pairs each error with its status code, for both directions.
var errorTable = []struct {
	err  error
	code codes.Code
}{
	{ErrShardNotFound, codes.NotFound},
	{ErrNotOwner, codes.FailedPrecondition},
	{ErrInvalid, codes.InvalidArgument},
	{ErrDenied, codes.PermissionDenied},
	{ErrUnavailable, codes.Unavailable},
	{ErrTimeout, codes.DeadlineExceeded},
	{ErrUnimplemented, codes.Unimplemented},
	{ErrInternal, codes.Internal},
}

// Error is an error a data service handler answers with: its text is Msg
// (what the caller sees in the status), its kind one of the errors above.
type Error struct {
	Kind error
	Msg  string
	// partial, when set, travels with the status as its detail (see
	// PartialWriteErrorf).
	partial *datapb.PartialWrite
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an Error of kind with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// PartialWriteErrorf is the ErrInvalid a shard write answers when the
// receiver wrote what it could and dropped the rest (the engine's partial
// write): the reason and the count of dropped points travel typed, so
// that the sender answers its client as a single influxd would.
func PartialWriteErrorf(reason string, dropped int, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Msg: fmt.Sprintf(format, args...),
		partial: &datapb.PartialWrite{Reason: reason, Dropped: int64(dropped)}}
}

// PartialWrite returns the reason and dropped count of a partial write
// answered by PartialWriteErrorf, on either side of the wire.
func PartialWrite(err error) (reason string, dropped int, ok bool) {
	var e *Error
	var r *remoteError
	switch {
	case errors.As(err, &e) && e.partial != nil:
		return e.partial.Reason, int(e.partial.Dropped), true
	case errors.As(err, &r) && r.partial != nil:
		return r.partial.Reason, int(r.partial.Dropped), true
	}
	return "", 0, false
}

// Status is what a data service handler answers for err: the status of
// its kind with its text (and a partial write's detail); a status as it
// is; ErrInternal for anything else.
func Status(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			st := status.New(e.code, err.Error())
			var pe *Error
			if errors.As(err, &pe) && pe.partial != nil {
				if withDetail, derr := st.WithDetails(pe.partial); derr == nil {
					st = withDetail
				}
			}
			return st.Err()
		}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// remoteError is a status a data node answered with, as its kind.
type remoteError struct {
	kind    error
	err     error
	partial *datapb.PartialWrite // the status's PartialWrite detail, if any
}

func (e *remoteError) Error() string   { return e.err.Error() }
func (e *remoteError) Unwrap() []error { return []error{e.kind, e.err} }

// FromStatus returns err, a data service call's error, wrapping the kind
// its status code names (the status itself stays reachable: errors.As,
// status.FromError and status.Code still see it). Other errors are
// returned as they are.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, e := range errorTable {
		if st.Code() == e.code {
			r := &remoteError{kind: e.err, err: err}
			if e.code == codes.InvalidArgument { // the only status with a detail; skip the decoding otherwise
				for _, d := range st.Details() {
					if pw, ok := d.(*datapb.PartialWrite); ok {
						r.partial = pw
					}
				}
			}
			return r
		}
	}
	return err
}

// Permanent reports whether a data service error means the request can
// never succeed: the receiver does not have the shard, does not own it, or
// cannot apply the points. A node missing from this node's meta state is
// not permanent: the state may be empty or behind (a node just started, or
// rejoined); the queue of a node that really left is removed by the purge,
// which acts only on a state that is there.
func Permanent(err error) bool { return Is(err, ErrShardNotFound, ErrNotOwner, ErrInvalid) }

// TryNextOwner reports whether a remote read or metadata call that failed
// with err may succeed on another owner of the same shards: the node is
// unknown, unreachable or did not answer in time, its meta state disagrees
// about the shards (it does not have them, or does not own them), or it
// does not know the call. The engine's own errors (in the end frame) and a
// refused user are the same on every owner.
func TryNextOwner(err error) bool {
	return Is(err, ErrUnknownNode, ErrUnavailable, ErrTimeout, ErrShardNotFound, ErrNotOwner, ErrUnimplemented)
}

// Is reports whether err is of one of kinds: made with it (Errorf), or a
// status whose code the table pairs with it (whether FromStatus wrapped it
// yet or not).
func Is(err error, kinds ...error) bool {
	if err == nil {
		return false
	}
	err = FromStatus(err)
	for _, kind := range kinds {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
