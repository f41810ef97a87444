package cluster_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testutil"
)

// A TLS server is reachable with TLS (and the internal token), and not in
// plaintext.
func TestTLSAndToken(t *testing.T) {
	certFile, keyFile := testutil.SelfSignedCert(t)
	creds, err := cluster.ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a := cluster.NewAuthenticator("tls-test-secret")
	srv := grpc.NewServer(grpc.Creds(creds), grpc.ChainUnaryInterceptor(a.UnaryInterceptor))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	check := func(o cluster.DialOptions) error {
		conn, err := cluster.Dial(ln.Addr().String(), o)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(cluster.DialOptions{Secret: "tls-test-secret", TLS: true, InsecureTLS: true}); err != nil {
		t.Fatalf("TLS with the secret: %v", err)
	}
	if err := check(cluster.DialOptions{Secret: "tls-test-secret"}); err == nil {
		t.Fatal("plaintext to a TLS server succeeded")
	}
	if err := check(cluster.DialOptions{Secret: "tls-test-secret", TLS: true}); err == nil {
		t.Fatal("an unverifiable self-signed certificate was accepted without InsecureTLS")
	}
	if err := check(cluster.DialOptions{Secret: "wrong-secret", TLS: true, InsecureTLS: true}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	if _, err := cluster.ServerTLS(filepath.Join(t.TempDir(), "missing.pem"), ""); err == nil {
		t.Fatal("a missing certificate was accepted")
	}
}
