package cluster_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testutil"
	"github.com/palisade-db/palisade/proto/datapb"
)

// A TLS server is reachable with TLS (and the internal token), and not in
// plaintext; the standard health service needs no token (probes have none).
func TestTLSAndToken(t *testing.T) {
	certFile, keyFile := testutil.SelfSignedCert(t)
	creds, err := cluster.ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := cluster.NewServer(cluster.ServerConfig{Secret: "tls-test-secret", TLS: creds})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	// A service that needs the token: its methods answer UNIMPLEMENTED once
	// the token passed.
	datapb.RegisterDataServiceServer(srv, datapb.UnimplementedDataServiceServer{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	call := func(o cluster.DialOptions, health bool) error {
		conn, err := cluster.Dial(ln.Addr().String(), o)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if health {
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}
		_, err = datapb.NewDataServiceClient(conn).NodeUp(ctx, &datapb.NodeUpRequest{NodeId: 1})
		if status.Code(err) == codes.Unimplemented {
			return nil // through the token check
		}
		if err == nil {
			err = errors.New("the stub answered")
		}
		return err
	}
	check := func(o cluster.DialOptions) error { return call(o, false) }
	if err := check(cluster.DialOptions{Secret: "tls-test-secret", TLS: true, InsecureTLS: true}); err != nil {
		t.Fatalf("TLS with the secret: %v", err)
	}
	if err := check(cluster.DialOptions{Secret: "tls-test-secret"}); err == nil {
		t.Fatal("plaintext to a TLS server succeeded")
	}
	if err := check(cluster.DialOptions{Secret: "tls-test-secret", TLS: true}); err == nil {
		t.Fatal("an unverifiable self-signed certificate was accepted without InsecureTLS")
	}
	if err := check(cluster.DialOptions{Secret: "wrong-secret", TLS: true, InsecureTLS: true}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a wrong secret: %v, want Unauthenticated", err)
	}
	if err := check(cluster.DialOptions{TLS: true, InsecureTLS: true}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no secret: %v, want Unauthenticated", err)
	}
	if err := call(cluster.DialOptions{TLS: true, InsecureTLS: true}, true); err != nil {
		t.Fatalf("the health service without a secret: %v", err)
	}
	if _, err := cluster.ServerTLS(filepath.Join(t.TempDir(), "missing.pem"), ""); err == nil {
		t.Fatal("a missing certificate was accepted")
	}
}
