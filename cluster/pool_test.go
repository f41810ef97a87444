package cluster_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palisade-db/palisade/cluster"
)

// startHealthServer serves the standard gRPC health service on 127.0.0.1:0
// until the test ends, and returns its address.
func startHealthServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func mustCheck(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health status = %v, want SERVING", resp.Status)
	}
}

func TestPoolConcurrentGetSharesOneConn(t *testing.T) {
	addr := startHealthServer(t)
	p := cluster.NewPool(cluster.DialOptions{})
	defer p.Close()

	const n = 16
	conns := make([]*grpc.ClientConn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = p.Get(addr) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Get %d: %v", i, errs[i])
		}
		if conns[i] != conns[0] {
			t.Fatalf("Get %d returned another connection", i)
		}
	}
	mustCheck(t, conns[0])
}

func TestPoolKeepsOneConnPerAddress(t *testing.T) {
	a, b := startHealthServer(t), startHealthServer(t)
	p := cluster.NewPool(cluster.DialOptions{})
	defer p.Close()
	ca, err := p.Get(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := p.Get(b)
	if err != nil {
		t.Fatal(err)
	}
	if ca == cb {
		t.Fatal("two addresses share one connection")
	}
	mustCheck(t, ca)
	mustCheck(t, cb)
}

func TestPoolForgetRedials(t *testing.T) {
	addr := startHealthServer(t)
	p := cluster.NewPool(cluster.DialOptions{})
	defer p.Close()
	old, err := p.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, old)
	p.Forget(addr)
	p.Forget(addr) // forgetting twice, or an unknown address, is harmless
	p.Forget("127.0.0.1:1")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(old).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("RPC on a forgotten connection succeeded; want it closed")
	}
	fresh, err := p.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old {
		t.Fatal("Get after Forget returned the closed connection")
	}
	mustCheck(t, fresh)
}

func TestPoolGetAfterCloseFails(t *testing.T) {
	addr := startHealthServer(t)
	p := cluster.NewPool(cluster.DialOptions{})
	conn, err := p.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, conn)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := p.Get(addr); !errors.Is(err, cluster.ErrPoolClosed) {
		t.Fatalf("Get after Close: err = %v, want ErrPoolClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	p.Forget(addr) // harmless after Close
}

func TestPoolGetBadAddress(t *testing.T) {
	p := cluster.NewPool(cluster.DialOptions{})
	defer p.Close()
	if _, err := p.Get("dns://a b/%%"); err == nil {
		t.Fatal("Get of an unparsable target succeeded")
	}
}
