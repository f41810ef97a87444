package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
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
	tokenContext   = "palisade-internal-v2"
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
)

// MintToken returns a token proving knowledge of secret, valid for one call
// of the RPC method (its full name, "/package.Service/Method") for
// TokenLifetime either side of now:
//
//	<unix-nanos>.<base64url(nonce)>.<base64url(HMAC-SHA256(secret, context|0|len(method)|method|unix-nanos|nonce))>
//
// with a fresh random 16-byte nonce.
func MintToken(secret []byte, method string, now time.Time) string {
	nonce := make([]byte, tokenNonceSize)
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(nonce)
	return mintToken(secret, method, now, nonce)
}

func mintToken(secret []byte, method string, now time.Time, nonce []byte) string {
	ts := now.UnixNano()
	return strconv.FormatInt(ts, 10) + "." + base64.RawURLEncoding.EncodeToString(nonce) + "." +
		base64.RawURLEncoding.EncodeToString(tokenMAC(secret, method, ts, nonce))
}

// VerifyToken checks a token made by MintToken with the same secret for the
// same method. It cannot tell a replayed token from a fresh one: an
// Authenticator does that.
func VerifyToken(secret []byte, token, method string, now time.Time) error {
	_, _, err := verifyToken(secret, token, method, now)
	return err
}

// verifyToken checks token and returns its nonce and the time after which
// it is expired anyway.
func verifyToken(secret []byte, token, method string, now time.Time) (nonce [tokenNonceSize]byte, expires time.Time, err error) {
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
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, method, ts, n)) {
		return nonce, expires, ErrTokenInvalid
	}
	minted := time.Unix(0, ts)
	if age := now.Sub(minted); age > TokenLifetime || age < -TokenLifetime {
		return nonce, expires, ErrTokenExpired
	}
	copy(nonce[:], n)
	return nonce, minted.Add(TokenLifetime), nil
}

func tokenMAC(secret []byte, method string, ts int64, nonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenContext))
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], uint32(len(method)))
	m.Write([]byte{0})
	m.Write(b[:4])
	m.Write([]byte(method))
	binary.BigEndian.PutUint64(b[:], uint64(ts))
	m.Write(b[:])
	m.Write(nonce)
	return m.Sum(nil)
}

// tokenCredentials attaches a fresh token to every RPC.
type tokenCredentials struct {
	secret     []byte
	requireTLS bool
}

// TokenCredentials returns per-RPC credentials that send a fresh internal
// token, bound to the RPC's method, with every call.
func TokenCredentials(secret string, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCredentials{secret: []byte(secret), requireTLS: requireTLS}
}

func (t tokenCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || ri.Method == "" {
		return nil, ErrTokenNoMethod
	}
	return map[string]string{TokenHeader: MintToken(t.secret, ri.Method, time.Now())}, nil
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

	mu        sync.Mutex
	seen      map[[tokenNonceSize]byte]int64 // nonce → expiry, unix nanos
	maxSeen   int
	nextSweep time.Time
}

// NewAuthenticator returns an Authenticator for secret.
func NewAuthenticator(secret string) *Authenticator {
	return &Authenticator{
		secret:  []byte(secret),
		now:     time.Now,
		seen:    map[[tokenNonceSize]byte]int64{},
		maxSeen: DefaultReplayCacheSize,
	}
}

// Enabled reports whether RPCs must carry a token.
func (a *Authenticator) Enabled() bool { return len(a.secret) > 0 }

// checkHeaders checks the token in an RPC's headers for method; its errors
// are gRPC statuses.
func (a *Authenticator) checkHeaders(md metadata.MD, method string) error {
	if !a.Enabled() || strings.HasPrefix(method, healthMethods) {
		return nil
	}
	vals := md.Get(TokenHeader)
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, ErrTokenMissing.Error())
	}
	now := a.now()
	nonce, expires, err := verifyToken(a.secret, vals[0], method, now)
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
