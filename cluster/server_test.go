package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testutil"
	"github.com/palisade-db/palisade/proto/datapb"
)

// panickingDataService panics in every handler it implements.
type panickingDataService struct {
	datapb.UnimplementedDataServiceServer
}

func (panickingDataService) NodeUp(_ context.Context, req *datapb.NodeUpRequest) (*datapb.NodeUpResponse, error) {
	var counts []int
	counts[req.NodeId]++ // out of range: the kind of bug a crafted request could reach
	return nil, nil
}

func (panickingDataService) ReadShards(*datapb.ReadShardsRequest, grpc.ServerStreamingServer[datapb.ReadFrame]) error {
	panic("a crafted expression the engine could not plan")
}

func serve(t *testing.T, c cluster.ServerConfig, svc datapb.DataServiceServer) (addr string, stats *cluster.ServerStats) {
	t.Helper()
	srv, stats := cluster.NewServer(c)
	datapb.RegisterDataServiceServer(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), stats
}

// TestPanickingHandlerFailsOnlyItsCall (issue 17, point 6): a handler that
// panics, unary or streaming, answers its caller codes.Internal, is logged
// and counted, and the node goes on serving (without the recovery the
// whole process died).
func TestPanickingHandlerFailsOnlyItsCall(t *testing.T) {
	const secret = "recover-test-secret"
	var logs testutil.SyncBuffer
	addr, stats := serve(t, cluster.ServerConfig{Secret: secret, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Component: "data"},
		panickingDataService{})
	conn, err := cluster.Dial(addr, cluster.DialOptions{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := datapb.NewDataServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := c.NodeUp(ctx, &datapb.NodeUpRequest{NodeId: 1}); status.Code(err) != codes.Internal {
			t.Fatalf("call %d of a panicking unary handler: got %v, want Internal", i, err)
		}
	}
	stream, err := c.ReadShards(ctx, &datapb.ReadShardsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("a panicking streaming handler: got %v, want Internal", err)
	}
	if n := stats.Panics.Load(); n != 4 {
		t.Fatalf("%d panics counted, want 4", n)
	}
	if !strings.Contains(logs.String(), "panicked") || !strings.Contains(logs.String(), "ReadShards") {
		t.Fatalf("the panic was not logged with its method: %s", logs.String())
	}
}

// TestTokenIsCheckedBeforeTheMessage: a call without a token is refused
// (Unauthenticated) and counted before its handler, and before the server
// reads its message: a message over the receive limit gets Unauthenticated,
// not ResourceExhausted, which it would get were the message read first.
func TestTokenIsCheckedBeforeTheMessage(t *testing.T) {
	addr, stats := serve(t, cluster.ServerConfig{Secret: "some-secret", MaxRecvMsgSize: 1 << 10}, panickingDataService{})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = datapb.NewDataServiceClient(conn).WriteShard(ctx, &datapb.WriteShardRequest{Points: make([]byte, 1<<20)})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a token and an oversized message: got %v, want Unauthenticated", err)
	}
	if _, err := datapb.NewDataServiceClient(conn).NodeUp(ctx, &datapb.NodeUpRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a token reached its (panicking) handler: %v", err)
	}
	if n := stats.Refused.Load(); n != 2 {
		t.Fatalf("%d refusals counted, want 2", n)
	}
	if n := stats.Panics.Load(); n != 0 {
		t.Fatalf("a handler ran without a token")
	}
}

// TestLimitListenerBoundsConnectionsPerHost: one host holds at most the
// limit of open connections; the next is closed at once and counted; a
// closed connection frees its place.
func TestLimitListenerBoundsConnectionsPerHost(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := cluster.LimitListener(raw, 3)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var server []net.Conn
	for range 3 {
		dial()
		server = append(server, <-accepted)
	}
	over := dial()
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("a fourth connection from the same host: read %v, want it closed", err)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a fourth connection was accepted: %v", c.RemoteAddr())
	default:
	}
	if n := ln.Refused.Load(); n != 1 {
		t.Fatalf("%d refusals counted, want 1", n)
	}
	server[0].Close()
	server[0].Close() // closing twice frees one place only
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a place freed by Close was not given to the next connection")
	}
	dial()
	if over := clients[len(clients)-1]; true {
		over.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := over.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
			t.Fatalf("a connection past the limit after a double Close: read %v, want it closed", err)
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestHealthChecksAreBounded (issue 17, point 1): health checks need no
// token, and gRPC reads each one's message before the health service runs,
// so at most MaxHealthStreams run at once; the next is refused before its
// message is read, and a place comes back when a check ends.
func TestHealthChecksAreBounded(t *testing.T) {
	srv, stats := cluster.NewServer(cluster.ServerConfig{Secret: "some-secret"})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Watch streams stay open: each holds a place.
	var stops []context.CancelFunc
	for i := range cluster.MaxHealthStreams {
		wctx, stop := context.WithCancel(ctx)
		stops = append(stops, stop)
		w, err := client.Watch(wctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = w.Recv()
		}
		if err != nil {
			t.Fatalf("health watch %d: %v", i, err)
		}
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 1<<20)}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a health check past the limit: got %v, want ResourceExhausted", err)
	}
	if n := stats.Refused.Load(); n != 1 {
		t.Fatalf("%d refusals counted, want 1", n)
	}
	stops[0]()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place came back after a health watch ended: %v", err)
		}
	}
	for _, stop := range stops {
		stop()
	}
}
