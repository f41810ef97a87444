package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	secret = []byte("the-internal-shared-secret")
	now    = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

const (
	statusMethod   = "/palisade.meta.v1.MetaService/Status"
	snapshotMethod = "/palisade.meta.v1.MetaService/Snapshot"
)

// TestVerifyToken: a token verifies only with its secret, for its method,
// within TokenLifetime, and unaltered.
func TestVerifyToken(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	good := mintToken(secret, statusMethod, now, nonce)
	parts := strings.Split(good, ".")
	ts, n, mac := parts[0], parts[1], parts[2]
	// A field with its first character changed (to another base64url one).
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	tsNum, _ := strconv.ParseInt(ts, 10, 64)

	for _, tc := range []struct {
		name   string
		secret []byte
		token  string
		method string
		at     time.Time
		want   error
	}{
		{"fresh", secret, good, statusMethod, now, nil},
		{"almost expired", secret, good, statusMethod, now.Add(TokenLifetime), nil},
		{"slightly ahead of the verifier's clock", secret, good, statusMethod, now.Add(-TokenLifetime), nil},
		{"expired", secret, good, statusMethod, now.Add(TokenLifetime + time.Nanosecond), ErrTokenExpired},
		{"from the future", secret, good, statusMethod, now.Add(-TokenLifetime - time.Nanosecond), ErrTokenExpired},
		{"long expired", secret, MintToken(secret, statusMethod, now.Add(-24*time.Hour)), statusMethod, now, ErrTokenExpired},
		{"minted for Status, used for Snapshot", secret, good, snapshotMethod, now, ErrTokenInvalid},
		{"minted for Status, used for Execute", secret, good, "/palisade.meta.v1.MetaService/Execute", now, ErrTokenInvalid},
		{"minted for no method", secret, mintToken(secret, "", now, nonce), statusMethod, now, ErrTokenInvalid},
		{"wrong secret", []byte("another-secret"), good, statusMethod, now, ErrTokenInvalid},
		{"empty secret", nil, good, statusMethod, now, ErrTokenInvalid},
		{"minted with another secret", secret, MintToken([]byte("another-secret"), statusMethod, now), statusMethod, now, ErrTokenInvalid},
		{"tampered MAC", secret, ts + "." + n + "." + flip(mac), statusMethod, now, ErrTokenInvalid},
		{"tampered nonce", secret, ts + "." + flip(n) + "." + mac, statusMethod, now, ErrTokenInvalid},
		{"tampered timestamp", secret, strconv.FormatInt(tsNum+1, 10) + "." + n + "." + mac, statusMethod, now, ErrTokenInvalid},
		{"nonce cut short", secret, ts + "." + n[:len(n)-2] + "." + mac, statusMethod, now, ErrTokenInvalid},
		{"MAC cut short", secret, good[:len(good)-2], statusMethod, now, ErrTokenInvalid},
		{"version 1 token (no nonce, no method)", secret, ts + "." + mac, statusMethod, now, ErrTokenInvalid},
		{"an extra field", secret, good + ".x", statusMethod, now, ErrTokenInvalid},
		{"timestamp not a number", secret, "x" + good, statusMethod, now, ErrTokenInvalid},
		{"MAC not base64", secret, ts + "." + n + ".!!!!", statusMethod, now, ErrTokenInvalid},
		{"empty", secret, "", statusMethod, now, ErrTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyToken(tc.secret, tc.token, tc.method, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error %q reveals the secret", err)
			}
		})
	}
}

func TestMintTokenDoesNotRevealSecret(t *testing.T) {
	tok := MintToken(secret, statusMethod, now)
	if strings.Contains(tok, string(secret)) {
		t.Fatalf("token %q contains the secret", tok)
	}
	if MintToken(secret, statusMethod, now) == tok {
		t.Fatalf("two tokens for the same method and instant are equal: the nonce is not fresh")
	}
}

// requestContext is the context gRPC passes to per-RPC credentials for a
// call of method.
func requestContext(method string) context.Context {
	return credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{Method: method})
}

func TestTokenCredentials(t *testing.T) {
	md, err := TokenCredentials(string(secret), false).GetRequestMetadata(requestContext(statusMethod))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyToken(secret, md[TokenHeader], statusMethod, time.Now()); err != nil {
		t.Fatalf("the credentials' token does not verify: %v", err)
	}
	if err := VerifyToken(secret, md[TokenHeader], snapshotMethod, time.Now()); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("the credentials' token for Status verifies for Snapshot: %v", err)
	}
	if _, err := TokenCredentials(string(secret), false).GetRequestMetadata(context.Background()); !errors.Is(err, ErrTokenNoMethod) {
		t.Fatalf("credentials minted a token bound to no method: %v", err)
	}
	if TokenCredentials("s", true).RequireTransportSecurity() != true || TokenCredentials("s", false).RequireTransportSecurity() != false {
		t.Fatalf("RequireTransportSecurity does not follow the flag")
	}
}

// TestAuthenticatorChecksHeaders: an RPC passes only with a valid token for
// the method called, seen for the first time; refusals are
// codes.Unauthenticated; an empty secret lets everything in.
func TestAuthenticatorChecksHeaders(t *testing.T) {
	withToken := func(tokens ...string) metadata.MD {
		md := metadata.MD{}
		for _, tok := range tokens {
			md.Append(TokenHeader, tok)
		}
		return md
	}
	for _, tc := range []struct {
		name   string
		secret string
		md     metadata.MD
		method string
		ok     bool
	}{
		{"valid token", string(secret), withToken(MintToken(secret, statusMethod, now)), statusMethod, true},
		{"no metadata", string(secret), nil, statusMethod, false},
		{"no token", string(secret), withToken(), statusMethod, false},
		{"wrong secret", string(secret), withToken(MintToken([]byte("wrong"), statusMethod, now)), statusMethod, false},
		{"token for another method", string(secret), withToken(MintToken(secret, statusMethod, now)), snapshotMethod, false},
		{"expired", string(secret), withToken(MintToken(secret, statusMethod, now.Add(-2*TokenLifetime))), statusMethod, false},
		{"garbage", string(secret), withToken("garbage"), statusMethod, false},
		{"first of two tokens is checked", string(secret), withToken("garbage", MintToken(secret, statusMethod, now)), statusMethod, false},
		{"disabled: no token needed", "", nil, statusMethod, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthenticator(tc.secret)
			a.now = func() time.Time { return now }
			err := a.checkHeaders(tc.md, tc.method)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && status.Code(err) != codes.Unauthenticated {
				t.Fatalf("got %v, want codes.Unauthenticated", err)
			}
			if err != nil && strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error %q reveals the secret", err)
			}
		})
	}
	if NewAuthenticator("").Enabled() || !NewAuthenticator(string(secret)).Enabled() {
		t.Fatalf("Enabled does not follow the secret")
	}
}

// TestReplayedTokenIsRefused: a token seen once (say, captured from a
// plaintext connection) is refused when it comes again within its window,
// and stays refused until it has expired.
func TestReplayedTokenIsRefused(t *testing.T) {
	a := NewAuthenticator(string(secret))
	clock := now
	a.now = func() time.Time { return clock }
	tok := MintToken(secret, statusMethod, now)
	call := func() error { return a.checkHeaders(metadata.Pairs(TokenHeader, tok), statusMethod) }
	if err := call(); err != nil {
		t.Fatalf("first use refused: %v", err)
	}
	for _, at := range []time.Duration{0, time.Second, TokenLifetime / 2, TokenLifetime} {
		clock = now.Add(at)
		err := call()
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), ErrTokenReplayed.Error()) {
			t.Fatalf("replay %v after minting: got %v, want %v", at, err, ErrTokenReplayed)
		}
	}
	clock = now.Add(TokenLifetime + time.Nanosecond)
	if err := call(); !strings.Contains(err.Error(), ErrTokenExpired.Error()) {
		t.Fatalf("replay after expiry: got %v, want %v", err, ErrTokenExpired)
	}
}

// TestReplayCacheFullRefusesRatherThanForgets: the replay cache is bounded;
// when it is full of unexpired tokens, a new token is refused
// (ResourceExhausted, so the caller retries) instead of an old one being
// forgotten and becoming replayable; expired tokens make room again.
func TestReplayCacheFullRefusesRatherThanForgets(t *testing.T) {
	a := NewAuthenticator(string(secret))
	a.maxSeen = 3
	clock := now
	a.now = func() time.Time { return clock }
	call := func(tok string) error { return a.checkHeaders(metadata.Pairs(TokenHeader, tok), statusMethod) }
	var toks []string
	for range 3 {
		tok := MintToken(secret, statusMethod, now)
		toks = append(toks, tok)
		if err := call(tok); err != nil {
			t.Fatalf("token %d refused: %v", len(toks), err)
		}
	}
	if err := call(MintToken(secret, statusMethod, now)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a fourth token with the cache full: got %v, want codes.ResourceExhausted", err)
	}
	for i, tok := range toks {
		if err := call(tok); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("replay of token %d with the cache full: got %v, want codes.Unauthenticated", i, err)
		}
	}
	// Once the first three have expired, a token minted now fits.
	clock = now.Add(TokenLifetime + time.Second)
	if err := call(MintToken(secret, statusMethod, clock)); err != nil {
		t.Fatalf("a fresh token after the others expired: %v", err)
	}
	if n := len(a.seen); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1 (the expired ones swept)", n)
	}
}
