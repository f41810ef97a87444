package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenHeader is the gRPC metadata key that carries the internal token.
const TokenHeader = "x-palisade-internal-token"

// TokenLifetime is how long an internal token stays valid (either side of the
// verifier's clock, to tolerate skew between nodes).
const TokenLifetime = time.Minute

const tokenContext = "palisade-internal-v1"

// Token errors. They never contain the secret or the token.
var (
	ErrTokenMissing = errors.New("cluster: internal token missing (is [meta] meta-internal-shared-secret / internal-shared-secret set on this client?)")
	ErrTokenInvalid = errors.New("cluster: internal token invalid (internal shared secrets differ?)")
	ErrTokenExpired = errors.New("cluster: internal token expired (clocks out of sync?)")
)

// MintToken returns a short-lived token proving knowledge of secret:
// "<unix-nanos>.<base64url(HMAC-SHA256(secret, context|unix-nanos))>".
func MintToken(secret []byte, now time.Time) string {
	ts := now.UnixNano()
	return strconv.FormatInt(ts, 10) + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, ts))
}

// VerifyToken checks a token made by MintToken with the same secret.
func VerifyToken(secret []byte, token string, now time.Time) error {
	tsText, macText, ok := strings.Cut(token, ".")
	if !ok {
		return ErrTokenInvalid
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTokenInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, ts)) {
		return ErrTokenInvalid
	}
	age := now.Sub(time.Unix(0, ts))
	if age > TokenLifetime || age < -TokenLifetime {
		return ErrTokenExpired
	}
	return nil
}

func tokenMAC(secret []byte, ts int64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenContext))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ts))
	m.Write(b[:])
	return m.Sum(nil)
}

// tokenCredentials attaches a fresh token to every RPC.
type tokenCredentials struct {
	secret     []byte
	requireTLS bool
}

// TokenCredentials returns per-RPC credentials that send a fresh internal
// token with every call.
func TokenCredentials(secret string, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCredentials{secret: []byte(secret), requireTLS: requireTLS}
}

func (t tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{TokenHeader: MintToken(t.secret, time.Now())}, nil
}

func (t tokenCredentials) RequireTransportSecurity() bool { return t.requireTLS }

// Authenticator checks the internal token on incoming RPCs. With an empty
// secret every RPC is let through.
type Authenticator struct {
	secret []byte
	now    func() time.Time
}

// NewAuthenticator returns an Authenticator for secret.
func NewAuthenticator(secret string) *Authenticator {
	return &Authenticator{secret: []byte(secret), now: time.Now}
}

// Enabled reports whether RPCs must carry a token.
func (a *Authenticator) Enabled() bool { return len(a.secret) > 0 }

func (a *Authenticator) check(ctx context.Context) error {
	if !a.Enabled() {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(TokenHeader)
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, ErrTokenMissing.Error())
	}
	if err := VerifyToken(a.secret, vals[0], a.now()); err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return nil
}

// UnaryInterceptor rejects unary RPCs without a valid token.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor rejects streaming RPCs without a valid token.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.check(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
