package cluster

import (
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ConnectTimeout bounds one attempt to open a connection to another node.
const ConnectTimeout = 3 * time.Second

// DialOptions say how to reach another node's gRPC server.
type DialOptions struct {
	// Secret is the internal shared secret; empty sends no token.
	Secret string
	// TLS dials with TLS; InsecureTLS skips certificate verification.
	TLS         bool
	InsecureTLS bool
}

// Dial returns a client connection to addr. It does not block: the connection
// is made on first use.
func Dial(addr string, o DialOptions) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
		// A node that does not answer at all (a host that drops packets)
		// fails an RPC after ConnectTimeout instead of gRPC's 20 s, so
		// that callers with several addresses move on to the next one.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: ConnectTimeout}),
	}
	if o.TLS {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(ClientTLSConfig(o.InsecureTLS))))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.Secret != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(TokenCredentials(o.Secret, false)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: dial %s: %w", addr, err)
	}
	return conn, nil
}

// ServerTLS loads a certificate and key for a gRPC server. key may be empty
// when the certificate file also holds the key.
func ServerTLS(certFile, keyFile string) (credentials.TransportCredentials, error) {
	cfg, err := ServerTLSConfig(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// ServerTLSConfig loads a certificate and key for a server: the gRPC server
// (credentials.NewTLS) or the Raft listener (RaftOptions.ServerTLS). key may
// be empty when the certificate file also holds the key.
func ServerTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: loading TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}
