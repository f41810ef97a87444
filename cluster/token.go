package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenHeader is the gRPC metadata key that carries the internal token.
const TokenHeader = "x-palisade-internal-token"

// TokenLifetime is how long an internal token stays valid, either side of the
// verifier's clock. A token is minted for each RPC attempt just before it is
// sent, so its age on arrival is the network delay plus the difference
// between the two nodes' clocks: 10 s leaves room for clocks that NTP keeps
// within seconds of each other, and it is how long a token seen on the wire
// could be replayed to a node that has not seen it (each node refuses a token
// it has seen; see Authenticator).
const TokenLifetime = 10 * time.Second

// DefaultReplayCacheSize bounds the tokens an Authenticator remembers (a few
// MB): 5,000 RPCs a second for the 20 s in which a token can be accepted,
// far more than meta traffic.
const DefaultReplayCacheSize = 100_000

const (
	tokenContext   = "palisade-internal-v3"
	tokenNonceSize = 16
)

// Token errors. They never contain the secret or the token.
var (
	ErrTokenMissing  = errors.New("cluster: internal token missing (is [meta] meta-internal-shared-secret / internal-shared-secret set on this client?)")
	ErrTokenInvalid  = errors.New("cluster: internal token invalid (internal shared secrets differ, or the token was made for another RPC?)")
	ErrTokenExpired  = errors.New("cluster: internal token outside its validity window (clocks out of sync?)")
	ErrTokenReplayed = errors.New("cluster: internal token already used (replayed?)")
	ErrTokenBusy     = errors.New("cluster: too many internal tokens to remember; retry")
	ErrTokenNoMethod = errors.New("cluster: no RPC method to bind the internal token to")
	ErrTokenNoTarget = errors.New("cluster: no target address to bind the internal token to")
	ErrTokenTarget   = errors.New("cluster: internal token made for another node (the call names an address this node does not serve as)")
)

// MintToken returns a token proving knowledge of secret, valid for one call
// of the RPC method (its full name, "/package.Service/Method") to the node
// at target (the address the caller dials, host:port, as the call's
// :authority carries it) for TokenLifetime either side of now:
//
//	<unix-nanos>.<base64url(nonce)>.<base64url(HMAC-SHA256(secret, context|0|len(method)|method|len(target)|target|unix-nanos|nonce))>
//
// with a fresh random 16-byte nonce. A token seen on its way to one node is
// refused by every other: each accepts only the addresses it serves as
// (Authenticator).
func MintToken(secret []byte, method, target string, now time.Time) string {
	nonce := make([]byte, tokenNonceSize)
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(nonce)
	return mintToken(secret, method, target, now, nonce)
}

func mintToken(secret []byte, method, target string, now time.Time, nonce []byte) string {
	ts := now.UnixNano()
	return strconv.FormatInt(ts, 10) + "." + base64.RawURLEncoding.EncodeToString(nonce) + "." +
		base64.RawURLEncoding.EncodeToString(tokenMAC(secret, method, normTarget(target), ts, nonce))
}

// normTarget is the form of a target address that tokens are bound to.
func normTarget(target string) string {
	return strings.ToLower(strings.TrimSuffix(target, ":443"))
}

// TargetOf returns the target address of a call from the URI that gRPC
// gives per-RPC credentials ("https://<authority>/<service>").
func TargetOf(uri ...string) string {
	if len(uri) == 0 {
		return ""
	}
	rest, _ := strings.CutPrefix(uri[0], "https://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// VerifyToken checks a token made by MintToken with the same secret for the
// same method and target. It cannot tell a replayed token from a fresh one: an
// Authenticator does that.
func VerifyToken(secret []byte, token, method, target string, now time.Time) error {
	_, _, err := verifyToken(secret, token, method, target, now)
	return err
}

// verifyToken checks token and returns its nonce and the time after which
// it is expired anyway.
func verifyToken(secret []byte, token, method, target string, now time.Time) (nonce [tokenNonceSize]byte, expires time.Time, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nonce, expires, ErrTokenInvalid
	}
	ts, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return nonce, expires, ErrTokenInvalid
	}
	n, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(n) != tokenNonceSize {
		return nonce, expires, ErrTokenInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, method, normTarget(target), ts, n)) {
		return nonce, expires, ErrTokenInvalid
	}
	minted := time.Unix(0, ts)
	if age := now.Sub(minted); age > TokenLifetime || age < -TokenLifetime {
		return nonce, expires, ErrTokenExpired
	}
	copy(nonce[:], n)
	return nonce, minted.Add(TokenLifetime), nil
}

func tokenMAC(secret []byte, method, target string, ts int64, nonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenContext))
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], uint32(len(method)))
	m.Write([]byte{0})
	m.Write(b[:4])
	m.Write([]byte(method))
	binary.BigEndian.PutUint32(b[:4], uint32(len(target)))
	m.Write(b[:4])
	m.Write([]byte(target))
	binary.BigEndian.PutUint64(b[:], uint64(ts))
	m.Write(b[:])
	m.Write(nonce)
	return m.Sum(nil)
}

// tokenCredentials attaches a fresh token to every RPC, bound to its method
// and to the address it goes to.
type tokenCredentials struct {
	secret     []byte
	requireTLS bool
}

// TokenCredentials returns per-RPC credentials that send a fresh internal
// token, bound to the RPC's method, with every call.
func TokenCredentials(secret string, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCredentials{secret: []byte(secret), requireTLS: requireTLS}
}

func (t tokenCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || ri.Method == "" {
		return nil, ErrTokenNoMethod
	}
	target := TargetOf(uri...)
	if target == "" {
		return nil, ErrTokenNoTarget
	}
	return map[string]string{TokenHeader: MintToken(t.secret, ri.Method, target, time.Now())}, nil
}

func (t tokenCredentials) RequireTransportSecurity() bool { return t.requireTLS }

// Authenticator checks the internal token on incoming RPCs: made with the
// secret, for the method called, within TokenLifetime, and not seen before.
// It remembers each accepted token's nonce until the token expires, at most
// DefaultReplayCacheSize of them; when that many unexpired tokens are
// remembered, further RPCs are refused (codes.ResourceExhausted) until some
// expire, rather than forgetting one that could then be replayed. Only
// tokens that verify are remembered, so a client without the secret cannot
// fill the cache. With an empty secret every RPC is let through. NewServer
// runs it on each RPC's headers, before the message is read.
type Authenticator struct {
	secret []byte
	now    func() time.Time
	// names are the addresses this node serves as besides those of the
	// connection itself (its advertised host:port).
	names map[string]bool

	mu        sync.Mutex
	seen      map[[tokenNonceSize]byte]int64 // nonce → expiry, unix nanos
	maxSeen   int
	nextSweep time.Time
}

// NewAuthenticator returns an Authenticator for secret, for a node that
// serves as names (host:port, e.g. its advertised address) and as the local
// address of each connection (and "localhost" on a loopback one).
func NewAuthenticator(secret string, names ...string) *Authenticator {
	set := map[string]bool{}
	for _, n := range names {
		set[normTarget(n)] = true
	}
	return &Authenticator{
		names:   set,
		secret:  []byte(secret),
		now:     time.Now,
		seen:    map[[tokenNonceSize]byte]int64{},
		maxSeen: DefaultReplayCacheSize,
	}
}

// Enabled reports whether RPCs must carry a token.
func (a *Authenticator) Enabled() bool { return len(a.secret) > 0 }

// checkHeaders checks the token in an RPC's headers for method and for the
// address the call names (its :authority), which must be one this node
// serves as on the connection whose local address is local; its errors are
// gRPC statuses.
func (a *Authenticator) checkHeaders(md metadata.MD, method string, local net.Addr) error {
	if !a.Enabled() || isHealthMethod(method) {
		return nil
	}
	vals := md.Get(TokenHeader)
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, ErrTokenMissing.Error())
	}
	var target string
	if t := md.Get(":authority"); len(t) > 0 {
		target = t[0]
	}
	if !a.servesAs(target, local) {
		return status.Error(codes.Unauthenticated, ErrTokenTarget.Error())
	}
	now := a.now()
	nonce, expires, err := verifyToken(a.secret, vals[0], method, target, now)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	switch err := a.remember(nonce, expires, now); {
	case errors.Is(err, ErrTokenBusy):
		return status.Error(codes.ResourceExhausted, err.Error())
	case err != nil:
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return nil
}

// nameList lists the names the node serves as, for a log line.
func (a *Authenticator) nameList() string {
	names := make([]string, 0, len(a.names))
	for n := range a.names {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// servesAs reports whether target (host:port) names this node on a
// connection whose local address is local: one of its names, the local
// address itself, or localhost on a loopback connection (same port).
func (a *Authenticator) servesAs(target string, local net.Addr) bool {
	target = normTarget(target)
	if target == "" {
		return false
	}
	if a.names[target] {
		return true
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	// A short name of an advertised one ("meta-0" for "meta-0.example.com"),
	// as a DNS search path completes it.
	for name := range a.names {
		if nhost, nport, err := net.SplitHostPort(name); err == nil && nport == port && strings.HasPrefix(nhost, host+".") {
			return true
		}
	}
	if local == nil {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil || port != lport {
		return false
	}
	lip := net.ParseIP(lhost)
	if ip := net.ParseIP(host); ip != nil {
		return lip != nil && ip.Equal(lip)
	}
	return host == "localhost" && lip != nil && lip.IsLoopback()
}

// remember records nonce until expires, or reports that it was seen.
func (a *Authenticator) remember(nonce [tokenNonceSize]byte, expires, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Forget expired tokens at most once a second: each sweep costs one pass
	// over the cache.
	if !now.Before(a.nextSweep) {
		cutoff := now.UnixNano()
		for n, exp := range a.seen {
			if exp < cutoff {
				delete(a.seen, n)
			}
		}
		a.nextSweep = now.Add(time.Second)
	}
	if _, ok := a.seen[nonce]; ok {
		return ErrTokenReplayed
	}
	if len(a.seen) >= a.maxSeen {
		return ErrTokenBusy
	}
	a.seen[nonce] = expires.UnixNano()
	return nil
}

// healthMethods prefixes the standard gRPC health service's methods, which
// need no token: probes have no secret, and the answer (serving or not)
// tells nothing more than whether the port answers.
const healthMethods = "/grpc.health.v1.Health/"

func isHealthMethod(method string) bool { return strings.HasPrefix(method, healthMethods) }
