package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Unreachable reports whether err means that the peer could not be reached
// or did not answer, so that another peer or address may be tried or the
// work queued, as opposed to an answer from the peer. Unreachable are:
//
//   - gRPC statuses Unavailable, DeadlineExceeded and Canceled that carry no
//     details: gRPC's client makes them for a connection that fails, a
//     deadline that passes, a connection that closes;
//   - errors of a dropped or refused connection: *net.OpError,
//     ECONNREFUSED, ECONNRESET, EPIPE, io.EOF, io.ErrUnexpectedEOF,
//     net.ErrClosed, a net.Error that timed out;
//   - context.DeadlineExceeded (a per-attempt timeout).
//
// Any other status is the peer's answer (InvalidArgument, NotFound,
// FailedPrecondition, PermissionDenied, Unauthenticated, AlreadyExists,
// ResourceExhausted...), and so is a status with details, whatever its
// code: our servers attach an ErrorInfo to every error they return (see
// meta/errors.go), so Unavailable "not leader" is an answer. A caller whose
// own context ended should check ctx.Err() first: a deadline of the whole
// operation says nothing about the peer. nil is not unreachable.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := status.FromError(err); ok {
		if len(st.Details()) > 0 {
			return false
		}
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return true
		}
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	for _, target := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE,
		io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
