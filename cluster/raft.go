package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The Raft handshake. Every connection to a meta node's Raft port starts
// with it when the internal shared secret is set, before hashicorp/raft reads
// or writes a byte (inside TLS when TLS is on). All fields have fixed sizes:
//
//	dialer → listener  hello      raftMagic | version | client nonce (32)
//	listener → dialer  challenge  raftMagic | version | server nonce (32)
//	dialer → listener  proof      client MAC (32)
//	listener → dialer  answer     server MAC (32), sent only if the proof verified;
//	                              otherwise the listener closes the connection
//
//	MAC = HMAC-SHA256(secret, raftMACContext | 0x00 | role | client nonce | server nonce | binding)
//
// role is "client" or "server", so that one side's MAC never serves as the
// other's. Each side's MAC covers a nonce the other side has just chosen, so
// no MAC can be replayed on another connection. The dialer proves itself
// first: the listener sends no MAC to a peer that has not proved it knows the
// secret. The dialer checks the answer too, so that it sends Raft traffic
// (which holds password hashes and JWT secrets) only to a node that knows the
// secret. binding is, under TLS, 32 bytes exported from the TLS session
// (RFC 8446 section 7.5): a relay that terminates TLS on each side (possible
// when certificates are not verified) sees a different value on each, so a
// MAC does not verify across it. On plain TCP binding is empty, and a peer on
// the path can still take over a connection after its handshake: use TLS.
// A peer that sends anything but raftMagic first (a plain hashicorp/raft
// transport, a TLS client) is refused after 9 bytes.
const (
	raftMagic       = "PLSDRAFT"
	raftVersion     = 1
	raftNonceSize   = 32
	raftHeaderSize  = len(raftMagic) + 1
	raftMACSize     = sha256.Size
	raftMACContext  = "palisade-raft-handshake-v1"
	raftExportLabel = "EXPORTER-palisade-raft-handshake-v1"
)

// Defaults of RaftOptions.
const (
	// DefaultRaftHandshakeTimeout bounds the TLS and secret handshakes of one
	// Raft connection: a peer that stays silent is dropped after it.
	DefaultRaftHandshakeTimeout = 5 * time.Second
	// DefaultMaxPendingRaftHandshakes bounds the handshakes a listener runs
	// at once; connections beyond it are closed at once.
	DefaultMaxPendingRaftHandshakes = 64
)

// Raft handshake errors. They never contain the secret, a nonce or a MAC.
var (
	ErrRaftNotHandshake = errors.New("cluster: not a Palisade Raft handshake (internal-shared-secret set on one side only?)")
	ErrRaftVersion      = errors.New("cluster: unsupported Raft handshake version")
	ErrRaftPeerAuth     = errors.New("cluster: Raft peer failed authentication (internal shared secrets differ?)")
	ErrRaftRefused      = errors.New("cluster: Raft peer refused the handshake (internal shared secrets differ?)")
	ErrRaftTimeout      = errors.New("cluster: Raft handshake timed out")
	ErrRaftPeerClosed   = errors.New("cluster: Raft peer closed the connection during the handshake (internal-shared-secret or https-enabled differ?)")
	ErrRaftTLS          = errors.New("cluster: Raft TLS handshake failed")
	ErrRaftBusy         = errors.New("cluster: too many pending Raft handshakes")
)

// RaftOptions say how Raft connections are authenticated. The zero value is
// plain TCP without a handshake.
type RaftOptions struct {
	// Secret is the internal shared secret. When set, both ends of every
	// connection prove that they know it before Raft sees a byte.
	Secret string
	// ServerTLS, when set, makes the listener serve TLS (it must hold a
	// certificate); ClientTLS, when set, makes DialRaft use TLS. Raft
	// connections require TLS 1.3 (both ends are Palisade meta nodes).
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// HandshakeTimeout bounds the handshakes of one connection
	// (default DefaultRaftHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxPendingHandshakes bounds the handshakes a listener runs at once
	// (default DefaultMaxPendingRaftHandshakes).
	MaxPendingHandshakes int
	// Logger receives one warning per refused connection (default slog.Default()).
	Logger *slog.Logger
}

func (o RaftOptions) timeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultRaftHandshakeTimeout
}

// ClientTLSConfig returns the TLS configuration for dialing other nodes;
// insecure skips certificate verification (the operator's explicit choice,
// for self-signed test certificates).
func ClientTLSConfig(insecure bool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecure, //nolint:gosec // operator's explicit choice
	}
}

// raftTLS returns a copy of c for a Raft connection: TLS 1.3, which always
// has the exporter the handshake binds to.
func raftTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.MinVersion = tls.VersionTLS13
	return c
}

// raftListener authenticates the connections of an inner listener off its
// Accept path: Accept returns only connections whose handshakes succeeded.
type raftListener struct {
	inner     net.Listener
	opts      RaftOptions
	serverTLS *tls.Config
	log       *slog.Logger

	ready    chan net.Conn // authenticated, waiting for Accept
	done     chan struct{} // closed by Close
	loopDone chan struct{} // closed when acceptLoop returns
	loopErr  error         // why acceptLoop returned; set before loopDone closes
	slots    chan struct{} // one per pending handshake
	wg       sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{}
	once    sync.Once
}

// NewRaftListener returns a listener whose Accept returns only connections
// that passed the handshakes o asks for (TLS, then the secret). Handshakes
// run in their own goroutines, at most o.MaxPendingHandshakes at once, and
// the handshakes of one connection must end within o.HandshakeTimeout, so a
// slow or hostile peer cannot stall Accept. A refused connection is closed and logged once, at warn, with its
// remote address and the reason. With no secret and no TLS, ln is returned
// as it is. Closing the returned listener closes ln.
func NewRaftListener(ln net.Listener, o RaftOptions) net.Listener {
	if o.Secret == "" && o.ServerTLS == nil {
		return ln
	}
	maxPending := o.MaxPendingHandshakes
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingRaftHandshakes
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	l := &raftListener{
		inner:    ln,
		opts:     o,
		log:      logger.With("component", "raft"),
		ready:    make(chan net.Conn),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		loopErr:  net.ErrClosed,
		slots:    make(chan struct{}, maxPending),
		pending:  map[net.Conn]struct{}{},
	}
	if o.ServerTLS != nil {
		l.serverTLS = raftTLS(o.ServerTLS)
	}
	go l.acceptLoop()
	return l
}

func (l *raftListener) acceptLoop() {
	defer close(l.loopDone)
	const baseDelay, maxDelay = 5 * time.Millisecond, time.Second
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				l.loopErr = err
				return
			}
			// A transient failure (out of file descriptors): back off.
			delay = min(max(2*delay, baseDelay), maxDelay)
			l.log.Error("accepting a Raft connection", "err", err)
			select {
			case <-l.done:
				return
			case <-time.After(delay):
				continue
			}
		}
		delay = 0
		select {
		case l.slots <- struct{}{}:
		default:
			l.refuse(c, ErrRaftBusy)
			continue
		}
		if !l.track(c) {
			<-l.slots
			c.Close()
			return
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *raftListener) handshake(c net.Conn) {
	defer l.wg.Done()
	conn, err := serverHandshake(c, l.serverTLS, l.opts.Secret, l.opts.timeout())
	l.untrack(c)
	<-l.slots
	if err != nil {
		if !l.isClosed() {
			l.refuse(c, err)
		} else {
			c.Close()
		}
		return
	}
	select {
	case l.ready <- conn:
	case <-l.done:
		conn.Close()
	}
}

// refuse closes c and logs why: never the secret, a nonce or a MAC.
func (l *raftListener) refuse(c net.Conn, reason error) {
	remote := c.RemoteAddr().String()
	c.Close()
	l.log.Warn("Raft connection refused", "remote", remote, "reason", reason.Error())
}

func (l *raftListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[c] = struct{}{}
	return true
}

func (l *raftListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
}

func (l *raftListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Accept returns the next authenticated connection.
func (l *raftListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.loopDone:
		return nil, l.loopErr
	}
}

// Close closes the inner listener and every connection still in its
// handshake, and waits for the handshake goroutines to end.
func (l *raftListener) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		for c := range l.pending {
			c.Close()
		}
		l.mu.Unlock()
		close(l.done)
		err = l.inner.Close()
		<-l.loopDone
		l.wg.Wait()
	})
	return err
}

func (l *raftListener) Addr() net.Addr { return l.inner.Addr() }

// DialRaft connects to the Raft port at addr and runs the handshakes o asks
// for (TLS, then the secret), which must end within o.HandshakeTimeout;
// timeout bounds the TCP connect. The connection returned is ready for Raft.
// Its errors say what failed and never contain the secret.
func DialRaft(addr string, timeout time.Duration, o RaftOptions) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if o.Secret == "" && o.ClientTLS == nil {
		return c, nil
	}
	var clientTLS *tls.Config
	if o.ClientTLS != nil {
		clientTLS = raftTLS(o.ClientTLS)
		if clientTLS.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("cluster: Raft address %q: %w", addr, err)
			}
			clientTLS.ServerName = host
		}
	}
	conn, err := clientHandshake(c, clientTLS, o.Secret, o.timeout())
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: Raft connection to %s: %w", addr, err)
	}
	return conn, nil
}

// serverHandshake runs the listener's side of the handshakes on c.
func serverHandshake(c net.Conn, serverTLS *tls.Config, secret string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	conn, binding, err := startTLS(c, serverTLS, deadline, tls.Server)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		if err := proveServer(conn, []byte(secret), binding); err != nil {
			return nil, classify(err)
		}
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return conn, nil
}

// clientHandshake runs the dialer's side of the handshakes on c.
func clientHandshake(c net.Conn, clientTLS *tls.Config, secret string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	conn, binding, err := startTLS(c, clientTLS, deadline, tls.Client)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		if err := proveClient(conn, []byte(secret), binding); err != nil {
			return nil, classify(err)
		}
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return conn, nil
}

// startTLS runs the TLS handshake on c when cfg is set and returns the TLS
// connection and its channel binding; without cfg it returns c and no binding.
func startTLS(c net.Conn, cfg *tls.Config, deadline time.Time, wrap func(net.Conn, *tls.Config) *tls.Conn) (net.Conn, []byte, error) {
	if cfg == nil {
		return c, nil, nil
	}
	tc := wrap(c, cfg)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(classify(err), ErrRaftTimeout) {
			return nil, nil, ErrRaftTimeout
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrRaftTLS, err)
	}
	st := tc.ConnectionState()
	binding, err := st.ExportKeyingMaterial(raftExportLabel, nil, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrRaftTLS, err)
	}
	return tc, binding, nil
}

// proveServer is the listener's side of the secret handshake: it answers
// with its own MAC only after the dialer has proved that it knows the secret.
func proveServer(conn net.Conn, secret, binding []byte) error {
	hello := make([]byte, raftHeaderSize+raftNonceSize)
	if err := readHeader(conn, hello); err != nil {
		return err
	}
	clientNonce := hello[raftHeaderSize:]
	serverNonce := newNonce()
	if _, err := conn.Write(append(raftHeader(), serverNonce...)); err != nil {
		return err
	}
	proof := make([]byte, raftMACSize)
	if _, err := io.ReadFull(conn, proof); err != nil {
		return err
	}
	if !hmac.Equal(proof, raftMAC(secret, "client", clientNonce, serverNonce, binding)) {
		return ErrRaftPeerAuth
	}
	_, err := conn.Write(raftMAC(secret, "server", clientNonce, serverNonce, binding))
	return err
}

// proveClient is the dialer's side of the secret handshake.
func proveClient(conn net.Conn, secret, binding []byte) error {
	clientNonce := newNonce()
	if _, err := conn.Write(append(raftHeader(), clientNonce...)); err != nil {
		return err
	}
	challenge := make([]byte, raftHeaderSize+raftNonceSize)
	if err := readHeader(conn, challenge); err != nil {
		return err
	}
	serverNonce := challenge[raftHeaderSize:]
	if _, err := conn.Write(raftMAC(secret, "client", clientNonce, serverNonce, binding)); err != nil {
		return err
	}
	answer := make([]byte, raftMACSize)
	if _, err := io.ReadFull(conn, answer); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return ErrRaftRefused
		}
		return err
	}
	if !hmac.Equal(answer, raftMAC(secret, "server", clientNonce, serverNonce, binding)) {
		return ErrRaftPeerAuth
	}
	return nil
}

func raftHeader() []byte {
	return append([]byte(raftMagic), raftVersion)
}

// readHeader fills buf, checking its magic and version as soon as they
// arrive, so that a peer speaking anything else fails at once.
func readHeader(conn net.Conn, buf []byte) error {
	n := raftHeaderSize
	if _, err := io.ReadFull(conn, buf[:n]); err != nil {
		return err
	}
	if string(buf[:len(raftMagic)]) != raftMagic {
		return ErrRaftNotHandshake
	}
	if v := buf[len(raftMagic)]; v != raftVersion {
		return fmt.Errorf("%w %d (this node speaks %d)", ErrRaftVersion, v, raftVersion)
	}
	_, err := io.ReadFull(conn, buf[n:])
	return err
}

func raftMAC(secret []byte, role string, clientNonce, serverNonce, binding []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(raftMACContext))
	m.Write([]byte{0})
	m.Write([]byte(role))
	m.Write(clientNonce)
	m.Write(serverNonce)
	m.Write(binding)
	return m.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, raftNonceSize)
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(b)
	return b
}

// classify turns a handshake I/O failure into a sentinel that says what
// happened; other errors are returned as they are.
func classify(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrRaftTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		return ErrRaftPeerClosed
	}
	return err
}

// isReset reports whether err says that the peer reset the connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
