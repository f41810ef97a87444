package main

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/meta"
)

// describe turns an error from the meta client into a message for the
// operator. Errors are told apart by gRPC code and meta's sentinel errors,
// never by their text.
func (a *app) describe(err error) string {
	bind := a.globals.bind
	switch {
	case isUnauthenticated(err) && a.globals.secret == "":
		return fmt.Sprintf("the meta node refused the request: the internal shared secret is missing "+
			"(set %s, or -secret, to the meta nodes' [meta] internal-shared-secret)", secretEnv)
	case isUnauthenticated(err):
		return fmt.Sprintf("the meta node refused the request: the internal shared secret is wrong "+
			"(set %s, or -secret, to the meta nodes' [meta] internal-shared-secret): %s", secretEnv, grpcMessage(err))
	case errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled:
		return "interrupted"
	case errors.Is(err, meta.ErrNoLeader) || errors.Is(err, meta.ErrNotLeader):
		return fmt.Sprintf("the meta cluster at %s has no leader (is a majority of its meta nodes running?): %v", bind, err)
	case errors.Is(err, context.DeadlineExceeded):
		// The meta client gave up waiting for a leader: err says why.
		return fmt.Sprintf("no answer from the meta nodes at %s within %s (raise -timeout?): %v", bind, a.globals.timeout, err)
	case status.Code(err) == codes.DeadlineExceeded:
		return fmt.Sprintf("no answer from the meta nodes at %s within %s: a change needs a leader, "+
			"so a majority of the meta nodes must be running (check with 'palisade-ctl show', or raise -timeout)",
			bind, a.globals.timeout)
	case errors.Is(err, meta.ErrClosed):
		return fmt.Sprintf("the meta node is shutting down; try again: %v", err)
	case isUnreachable(err):
		return fmt.Sprintf("cannot reach any meta node at %s: %s", bind, grpcMessage(err))
	}
	return err.Error()
}

func isUnauthenticated(err error) bool {
	return status.Code(err) == codes.Unauthenticated
}

// isUnreachable reports whether err says that no meta node could be reached
// at all, rather than being an answer from one (cluster.Unreachable; the
// meta sentinels below are answers too, whatever their gRPC code).
func isUnreachable(err error) bool {
	if errors.Is(err, meta.ErrNoLeader) || errors.Is(err, meta.ErrNotLeader) || errors.Is(err, meta.ErrClosed) {
		return false
	}
	return cluster.Unreachable(err)
}

// grpcMessage returns the message of the gRPC status inside err, without
// the "rpc error: code = ..." prefix and the wrapping; or err's text.
func grpcMessage(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if m := se.GRPCStatus().Message(); m != "" {
			return m
		}
	}
	return err.Error()
}
