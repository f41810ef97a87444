package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
)

func statusWithDetail(t *testing.T, c codes.Code) error {
	t.Helper()
	st, err := status.New(c, "not leader").WithDetails(&errdetails.ErrorInfo{Reason: "not_leader", Domain: "palisade"})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},

		// What gRPC's client makes when the peer cannot be reached or does not answer.
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), true},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"canceled", status.Error(codes.Canceled, "grpc: the client connection is closing"), true},
		{"wrapped unavailable", fmt.Errorf("node 2: %w", status.Error(codes.Unavailable, "eof")), true},

		// The peer's own answers.
		{"unavailable with details", statusWithDetail(t, codes.Unavailable), false},
		{"deadline with details", statusWithDetail(t, codes.DeadlineExceeded), false},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad"), false},
		{"not found", status.Error(codes.NotFound, "no such database"), false},
		{"failed precondition", status.Error(codes.FailedPrecondition, "x"), false},
		{"permission denied", status.Error(codes.PermissionDenied, "x"), false},
		{"unauthenticated", status.Error(codes.Unauthenticated, "bad token"), false},
		{"already exists", status.Error(codes.AlreadyExists, "x"), false},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "x"), false},
		{"internal", status.Error(codes.Internal, "x"), false},
		{"unknown", status.Error(codes.Unknown, "x"), false},

		// Errors of a dropped or refused connection.
		{"net.OpError", refused, true},
		{"wrapped net.OpError", fmt.Errorf("dial: %w", refused), true},
		{"ECONNREFUSED", syscall.ECONNREFUSED, true},
		{"ECONNRESET", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"EPIPE", syscall.EPIPE, true},
		{"io.EOF", io.EOF, true},
		{"wrapped io.EOF", fmt.Errorf("recv: %w", io.EOF), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"net.ErrClosed", net.ErrClosed, true},
		{"per-attempt timeout", fmt.Errorf("attempt: %w", context.DeadlineExceeded), true},
		{"net timeout", timeoutError{}, true},

		// Anything else is not about reaching the peer.
		{"plain error", errors.New("meta: user not found"), false},
		{"canceled context", context.Canceled, false},
		{"ENOENT", syscall.ENOENT, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cluster.Unreachable(tt.err); got != tt.want {
				t.Errorf("Unreachable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// A refused connection, as net and gRPC report it.
func TestUnreachableRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	if _, err := net.Dial("tcp", addr); err == nil {
		t.Skip("the closed port accepted a connection")
	} else if !cluster.Unreachable(err) {
		t.Errorf("Unreachable(%v) = false for a refused TCP connection", err)
	}

	p := cluster.NewPool(cluster.DialOptions{})
	defer p.Close()
	conn, err := p.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if !cluster.Unreachable(err) {
		t.Errorf("Unreachable(%v) = false for an RPC to a closed port", err)
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
