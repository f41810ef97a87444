package cluster_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testutil"
)

const raftSecret = "raft-handshake-test-secret"

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// raftServer is a NewRaftListener on 127.0.0.1 whose Accept loop echoes each
// connection's bytes back, as a stand-in for Raft.
type raftServer struct {
	ln  net.Listener
	log *testutil.SyncBuffer
}

func startRaftServer(t *testing.T, o cluster.RaftOptions) *raftServer {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := &raftServer{ln: cluster.NewRaftListener(inner, o), log: logs}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		<-done
	})
	return s
}

func (s *raftServer) addr() string { return s.ln.Addr().String() }

// refusals returns the "Raft connection refused" lines logged so far.
func (s *raftServer) refusals() []string {
	var out []string
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "Raft connection refused") {
			out = append(out, line)
		}
	}
	return out
}

// waitRefusal waits for the listener to log the refusal of the connection
// from local (the client's address), once, with a reason containing reason;
// and checks that no secret reached the log.
func (s *raftServer) waitRefusal(t *testing.T, local, reason string) {
	t.Helper()
	var mine []string
	waitFor(t, "the refusal of "+local+" to be logged", func() bool {
		mine = mine[:0]
		for _, line := range s.refusals() {
			if strings.Contains(line, "remote="+local+" ") {
				mine = append(mine, line)
			}
		}
		return len(mine) > 0
	})
	if len(mine) != 1 || !strings.Contains(mine[0], reason) || !strings.Contains(mine[0], "level=WARN") ||
		!strings.Contains(mine[0], "component=raft") {
		t.Fatalf("refusal of %s logged as %q, want one warning with reason %q", local, mine, reason)
	}
	if log := s.log.String(); strings.Contains(log, raftSecret) || strings.Contains(log, "wrong-secret") {
		t.Fatalf("the log reveals a secret: %s", log)
	}
}

// echo checks that c carries bytes both ways after the handshake.
func echo(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("raft bytes after the handshake")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write after the handshake: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo after the handshake: %q, %v", got, err)
	}
}

// assertClosedByListener checks that the listener closed c without Raft
// seeing it: a read returns EOF or a reset, not an echo.
func assertClosedByListener(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after a refused handshake: read %d bytes, %v", n, err)
	}
}

func serverTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certFile, keyFile := testutil.SelfSignedCert(t)
	cfg, err := cluster.ServerTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return cfg, pool
}

// TestRaftHandshake: nodes that share the secret (and TLS, when the
// listener serves it) connect and then carry Raft's bytes both ways; every
// other peer is refused by the listener, logged once with its address and
// the reason, and never reaches Raft.
func TestRaftHandshake(t *testing.T) {
	srvTLS, roots := serverTLS(t)
	verifying := cluster.ClientTLSConfig(false)
	verifying.RootCAs = roots
	for _, tc := range []struct {
		name   string
		server cluster.RaftOptions
		client cluster.RaftOptions
		// dialErr is the error DialRaft returns; nil: it connects.
		dialErr error
		// refusal is the reason the listener logs; "": none.
		refusal string
	}{
		{"same secret", cluster.RaftOptions{Secret: raftSecret}, cluster.RaftOptions{Secret: raftSecret}, nil, ""},
		{"same secret over TLS", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{Secret: raftSecret, ClientTLS: cluster.ClientTLSConfig(true)}, nil, ""},
		{"same secret over verified TLS", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{Secret: raftSecret, ClientTLS: verifying}, nil, ""},
		{"TLS without a secret", cluster.RaftOptions{ServerTLS: srvTLS}, cluster.RaftOptions{ClientTLS: cluster.ClientTLSConfig(true)}, nil, ""},
		{"wrong secret", cluster.RaftOptions{Secret: raftSecret}, cluster.RaftOptions{Secret: "wrong-secret"}, cluster.ErrRaftRefused, "failed authentication"},
		{"wrong secret over TLS", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{Secret: "wrong-secret", ClientTLS: cluster.ClientTLSConfig(true)}, cluster.ErrRaftRefused, "failed authentication"},
		{"no secret on the dialer", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{ClientTLS: cluster.ClientTLSConfig(true)}, nil, "not a Palisade Raft handshake"},
		{"plain TCP to a TLS port", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{Secret: raftSecret}, cluster.ErrRaftPeerClosed, "TLS handshake failed"},
		{"unverifiable certificate", cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS}, cluster.RaftOptions{Secret: raftSecret, ClientTLS: cluster.ClientTLSConfig(false)}, cluster.ErrRaftTLS, "TLS handshake failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRaftServer(t, tc.server)
			c, err := cluster.DialRaft(s.addr(), 5*time.Second, tc.client)
			if tc.refusal == "" {
				if err != nil {
					t.Fatalf("DialRaft: %v", err)
				}
				defer c.Close()
				echo(t, c)
				if r := s.refusals(); len(r) != 0 {
					t.Fatalf("refusals logged: %q", r)
				}
				return
			}
			if tc.dialErr == nil {
				// The dialer runs no handshake of its own: the listener
				// refuses what it sends.
				if err != nil {
					t.Fatalf("DialRaft: %v", err)
				}
				defer c.Close()
				local := c.LocalAddr().String()
				if _, err := c.Write([]byte("raft bytes without a handshake")); err != nil {
					t.Fatal(err)
				}
				assertClosedByListener(t, c)
				s.waitRefusal(t, local, tc.refusal)
				return
			}
			if !errors.Is(err, tc.dialErr) {
				t.Fatalf("DialRaft: got %v, want %v", err, tc.dialErr)
			}
			if strings.Contains(err.Error(), raftSecret) || strings.Contains(err.Error(), "wrong-secret") {
				t.Fatalf("error %q reveals a secret", err)
			}
			waitFor(t, "a refusal to be logged", func() bool { return len(s.refusals()) > 0 })
			if r := s.refusals(); len(r) != 1 || !strings.Contains(r[0], tc.refusal) {
				t.Fatalf("refusals logged: %q, want one with %q", r, tc.refusal)
			}
			if strings.Contains(s.log.String(), raftSecret) {
				t.Fatalf("the log reveals the secret")
			}
		})
	}
}

// TestRaftListenerRefusesPlainRaftPeer: a peer that speaks hashicorp/raft's
// wire protocol straight away (any process that knows no secret) is closed
// before Raft reads its bytes.
func TestRaftListenerRefusesPlainRaftPeer(t *testing.T) {
	s := startRaftServer(t, cluster.RaftOptions{Secret: raftSecret})
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// rpcAppendEntries (0) followed by a msgpack map, as NetworkTransport sends.
	if _, err := c.Write([]byte{0, 0x88, 0xa4, 'T', 'e', 'r', 'm', 0xcf, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	assertClosedByListener(t, c)
	s.waitRefusal(t, local, "not a Palisade Raft handshake")
}

// TestRaftDialerRefusesImpostorListener: a listener that does not know the
// secret cannot pass itself off as a meta node: it gets the dialer's proof
// but cannot answer it, and the dialer hands no connection to Raft.
func TestRaftDialerRefusesImpostorListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		hello := make([]byte, 9+32)
		if _, err := io.ReadFull(c, hello); err != nil {
			return
		}
		// The right header and a nonce, then any 32 bytes as its "MAC".
		challenge := append(append([]byte{}, hello[:9]...), bytes.Repeat([]byte{7}, 32)...)
		c.Write(challenge)
		io.ReadFull(c, make([]byte, 32))
		c.Write(bytes.Repeat([]byte{9}, 32))
		io.Copy(io.Discard, c)
	}()
	_, err = cluster.DialRaft(ln.Addr().String(), 5*time.Second, cluster.RaftOptions{Secret: raftSecret})
	if !errors.Is(err, cluster.ErrRaftPeerAuth) {
		t.Fatalf("DialRaft to an impostor: got %v, want %v", err, cluster.ErrRaftPeerAuth)
	}
}

// TestRaftHandshakeBindsToTLSSession: with certificate checks off
// (https-insecure-tls), a relay that terminates TLS on both sides and passes
// the handshake through cannot get a connection: each MAC is bound to the TLS
// session it was made in.
func TestRaftHandshakeBindsToTLSSession(t *testing.T) {
	srvTLS, _ := serverTLS(t)
	s := startRaftServer(t, cluster.RaftOptions{Secret: raftSecret, ServerTLS: srvTLS})

	relayTLS, _ := serverTLS(t) // the relay's own certificate
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	var relayLocal string
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		in, err := relay.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := tls.Dial("tcp", s.addr(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer out.Close()
		relayLocal = out.LocalAddr().String()
		tin := tls.Server(in, relayTLS)
		go func() { io.Copy(out, tin); out.CloseWrite() }()
		io.Copy(tin, out)
	}()
	_, err = cluster.DialRaft(relay.Addr().String(), 5*time.Second,
		cluster.RaftOptions{Secret: raftSecret, ClientTLS: cluster.ClientTLSConfig(true)})
	if !errors.Is(err, cluster.ErrRaftRefused) {
		t.Fatalf("DialRaft through a TLS relay: got %v, want %v", err, cluster.ErrRaftRefused)
	}
	relay.Close()
	<-relayed
	s.waitRefusal(t, relayLocal, "failed authentication")
}

// TestRaftListenerBoundsHandshakes: peers that connect and stay silent are
// dropped after the handshake timeout, at most MaxPendingHandshakes of them
// are held at once (beyond that a connection is closed at once), and while
// they are held an honest peer still gets through: Accept is never stalled.
func TestRaftListenerBoundsHandshakes(t *testing.T) {
	const timeout = time.Second
	s := startRaftServer(t, cluster.RaftOptions{Secret: raftSecret, HandshakeTimeout: timeout, MaxPendingHandshakes: 2})

	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	// A third peer finds no free slot (connections are accepted in order):
	// it is closed at once, long before the timeout.
	third, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(timeout / 2))
	if _, err := third.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the limit was held")
	}
	s.waitRefusal(t, third.LocalAddr().String(), "too many pending Raft handshakes")

	// The silent peers are dropped after the timeout, with the reason.
	for _, c := range silent {
		local := c.LocalAddr().String()
		assertClosedByListener(t, c)
		s.waitRefusal(t, local, "timed out")
	}

	// Slots are free again: an honest peer connects while a new silent one
	// holds a slot.
	hold, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	start := time.Now()
	c, err := cluster.DialRaft(s.addr(), 5*time.Second, cluster.RaftOptions{Secret: raftSecret})
	if err != nil {
		t.Fatalf("an honest peer behind a silent one: %v", err)
	}
	defer c.Close()
	if d := time.Since(start); d >= timeout {
		t.Fatalf("the honest peer waited %v behind a silent one", d)
	}
	echo(t, c)
}

// TestRaftListenerClose: Close stops Accept with net.ErrClosed and drops
// connections still in their handshake.
func TestRaftListenerClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := cluster.NewRaftListener(inner, cluster.RaftOptions{Secret: raftSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	pending, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	assertClosedByListener(t, pending)
	if _, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		t.Fatalf("the inner listener still accepts after Close")
	}
}

// TestRaftListenerWithoutSecretOrTLS: with neither, the listener is the one
// given and the dialer a plain TCP dial, as before the handshake existed.
func TestRaftListenerWithoutSecretOrTLS(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if ln := cluster.NewRaftListener(inner, cluster.RaftOptions{}); ln != inner {
		t.Fatalf("NewRaftListener wrapped a listener that needs no handshake")
	}
}
