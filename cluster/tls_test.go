package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palisade-db/palisade/cluster"
)

// writeSelfSigned writes a certificate and key for 127.0.0.1 and returns their paths.
func writeSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "palisade-test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A TLS server is reachable with TLS (and the internal token), and not in
// plaintext.
func TestTLSAndToken(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t)
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
