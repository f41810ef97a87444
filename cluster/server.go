package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// ServerConfig describes a node-to-node gRPC server (the meta nodes'
// MetaService, the data nodes' data service). NewServer applies the same
// protections to both:
//
//   - The internal token is checked on the request's headers, in the
//     transport, before a byte of the message is read: a peer without the
//     secret costs the server a header frame, never a message buffer
//     (grpc-go reads and decodes a whole message before any interceptor
//     runs, so a check there lets anyone make the node allocate
//     MaxRecvMsgSize per call).
//   - At most MaxConcurrentStreams RPCs at once on one connection, and
//     header lists of at most MaxHeaderListSize bytes.
//   - A panic in a handler is recovered: logged with its stack, counted in
//     Stats, answered codes.Internal; the node keeps serving.
//
// Connections per peer are bounded by the listener (LimitListener).
type ServerConfig struct {
	// Secret is the internal shared secret; empty lets every RPC through.
	Secret string
	// Names are the addresses (host:port) the node serves as besides each
	// connection's local address: its advertised address. A token is bound
	// to the address its caller dialed, and refused by a node that does not
	// serve as that address.
	Names []string
	// TLS, when set, serves TLS.
	TLS credentials.TransportCredentials
	// MaxRecvMsgSize bounds one message from an authenticated peer, and
	// MaxSendMsgSize one message to a peer (0: grpc-go's defaults).
	MaxRecvMsgSize int
	MaxSendMsgSize int
	// MaxConcurrentStreams bounds the RPCs in flight on one connection
	// (DefaultMaxConcurrentStreams when 0).
	MaxConcurrentStreams uint32
	// Logger and Component name where recovered panics are logged.
	Logger    *slog.Logger
	Component string
	// Errors, when set, turns every error a handler returns into the
	// status its caller gets (a service's error table).
	Errors func(error) error
}

// Server limits, the same for both kinds of node unless a ServerConfig says
// otherwise.
const (
	// DefaultMaxConcurrentStreams: a peer's writes, replays and reads share
	// one pooled connection, and a query holds a read stream per call and
	// node until it ends; more than this wait for a free stream on the
	// client side. Only authenticated calls get this far.
	DefaultMaxConcurrentStreams = 4096
	// MaxHealthStreams bounds the health checks in flight on a server: they
	// need no token, and gRPC reads each one's message (up to the receive
	// limit) before the health service sees it. Probes send one at a time.
	MaxHealthStreams = 4
	// MaxHeaderListSize bounds what a peer's headers can make the server
	// hold before the token is checked (grpc-go's default is 16 MiB). Our
	// headers are a token and grpc's own, well under 1 KiB.
	MaxHeaderListSize = 64 << 10
)

// ServerStats counts what NewServer's guards did. Safe for concurrent use.
type ServerStats struct {
	// health is the number of health checks in flight.
	health atomic.Int64
	// loggedTarget is when a call naming another node was last logged
	// (unix nanos): at most one line every 10 s.
	loggedTarget atomic.Int64
	// Refused counts RPCs refused before their message was read
	// (no, a bad, an expired or a replayed token).
	Refused atomic.Int64
	// Panics counts handlers that panicked.
	Panics atomic.Int64
}

// authenticatedKey marks the context of an RPC whose token the tap checked.
type authenticatedKey struct{}

// NewServer returns a gRPC server with c's guards installed, and the
// counters they keep.
func NewServer(c ServerConfig) (*grpc.Server, *ServerStats) {
	a := NewAuthenticator(c.Secret, c.Names...)
	stats := &ServerStats{}
	streams := c.MaxConcurrentStreams
	if streams == 0 {
		streams = DefaultMaxConcurrentStreams
	}
	g := guard{a: a, stats: stats, log: c.Logger, component: c.Component, errors: c.Errors}
	opts := []grpc.ServerOption{
		grpc.InTapHandle(g.tap),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
		grpc.MaxConcurrentStreams(streams),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
	}
	if c.MaxRecvMsgSize > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(c.MaxRecvMsgSize))
	}
	if c.MaxSendMsgSize > 0 {
		opts = append(opts, grpc.MaxSendMsgSize(c.MaxSendMsgSize))
	}
	if c.TLS != nil {
		opts = append(opts, grpc.Creds(c.TLS))
	}
	return grpc.NewServer(opts...), stats
}

// guard is NewServer's tap and interceptors.
type guard struct {
	a         *Authenticator
	stats     *ServerStats
	log       *slog.Logger
	component string
	errors    func(error) error
}

// tap runs in the transport when a stream's headers have arrived, before
// its message is read: an RPC without a valid token ends here.
func (g guard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if isHealthMethod(info.FullMethodName) {
		if g.stats.health.Add(1) > MaxHealthStreams {
			g.stats.health.Add(-1)
			g.stats.Refused.Add(1)
			return ctx, status.Error(codes.ResourceExhausted, "cluster: too many health checks at once")
		}
		// The stream's context ends with the stream, whatever ends it.
		context.AfterFunc(ctx, func() { g.stats.health.Add(-1) })
		return context.WithValue(ctx, authenticatedKey{}, true), nil
	}
	var local net.Addr
	if p, ok := peer.FromContext(ctx); ok {
		local = p.LocalAddr
	}
	if err := g.a.checkHeaders(info.Header, info.FullMethodName, local); err != nil {
		g.stats.Refused.Add(1)
		g.logWrongTarget(err, info.Header.Get(":authority"))
		return ctx, err
	}
	return context.WithValue(ctx, authenticatedKey{}, true), nil
}

// logWrongTarget logs, at most every 10 s, a call refused because it named
// an address this node does not serve as: a misconfigured peer (dialing a
// load balancer's name, say) looks like this, and its calls fail until it
// dials the node's advertised address.
func (g guard) logWrongTarget(err error, authority []string) {
	if g.log == nil || status.Convert(err).Message() != ErrTokenTarget.Error() {
		return
	}
	now := time.Now().UnixNano()
	last := g.stats.loggedTarget.Load()
	if now-last < int64(10*time.Second) || !g.stats.loggedTarget.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("refused a node-to-node call that names an address this node does not serve as; "+
		"peers must dial its advertised address (hostname and port)", "component", g.component,
		"authority", strings.Join(authority, ","), "served_as", g.a.nameList())
}

// authenticated fails closed should a transport ever skip the tap.
func authenticated(ctx context.Context) error {
	if ok, _ := ctx.Value(authenticatedKey{}).(bool); !ok {
		return status.Error(codes.Unauthenticated, "cluster: the RPC was not authenticated")
	}
	return nil
}

func (g guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	if err := authenticated(ctx); err != nil {
		return nil, err
	}
	defer g.recover(info.FullMethod, &err)
	resp, err = handler(ctx, req)
	return resp, g.status(err)
}

func (g guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	if err := authenticated(ss.Context()); err != nil {
		return err
	}
	defer g.recover(info.FullMethod, &err)
	return g.status(handler(srv, ss))
}

// status is what the caller gets for a handler's err.
func (g guard) status(err error) error {
	if err == nil || g.errors == nil {
		return err
	}
	return g.errors(err)
}

// recover turns a handler's panic into codes.Internal for its caller.
func (g guard) recover(method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	g.stats.Panics.Add(1)
	if g.log != nil {
		g.log.Error("an RPC handler panicked; the call failed and the node goes on",
			"component", g.component, "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
	*err = status.Errorf(codes.Internal, "%s failed: internal error", method)
}
