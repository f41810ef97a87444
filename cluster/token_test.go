package cluster

import (
	"context"
	"errors"
	"net"
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
	local  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8091}
	secret = []byte("the-internal-shared-secret")
	now    = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

const (
	// target is the address the tokens of these tests are minted for; the
	// Authenticator's connections arrive on local.
	target         = "127.0.0.1:8091"
	statusMethod   = "/palisade.meta.v1.MetaService/Status"
	snapshotMethod = "/palisade.meta.v1.MetaService/Snapshot"
)

// TestVerifyToken: a token verifies only with its secret, for its method,
// within TokenLifetime, and unaltered.
func TestVerifyToken(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	good := mintToken(secret, statusMethod, target, now, nonce)
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
		{"long expired", secret, MintToken(secret, statusMethod, target, now.Add(-24*time.Hour)), statusMethod, now, ErrTokenExpired},
		{"minted for Status, used for Snapshot", secret, good, snapshotMethod, now, ErrTokenInvalid},
		{"minted for Status, used for Execute", secret, good, "/palisade.meta.v1.MetaService/Execute", now, ErrTokenInvalid},
		{"minted for no method", secret, mintToken(secret, "", target, now, nonce), statusMethod, now, ErrTokenInvalid},
		{"wrong secret", []byte("another-secret"), good, statusMethod, now, ErrTokenInvalid},
		{"empty secret", nil, good, statusMethod, now, ErrTokenInvalid},
		{"minted with another secret", secret, MintToken([]byte("another-secret"), statusMethod, target, now), statusMethod, now, ErrTokenInvalid},
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
			err := VerifyToken(tc.secret, tc.token, tc.method, target, tc.at)
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
	tok := MintToken(secret, statusMethod, target, now)
	if strings.Contains(tok, string(secret)) {
		t.Fatalf("token %q contains the secret", tok)
	}
	if MintToken(secret, statusMethod, target, now) == tok {
		t.Fatalf("two tokens for the same method and instant are equal: the nonce is not fresh")
	}
}

// requestContext is the context gRPC passes to per-RPC credentials for a
// call of method.
func requestContext(method string) context.Context {
	return credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{Method: method})
}

func TestTokenCredentials(t *testing.T) {
	uri := "https://" + target + "/palisade.meta.v1.MetaService"
	md, err := TokenCredentials(string(secret), false).GetRequestMetadata(requestContext(statusMethod), uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyToken(secret, md[TokenHeader], statusMethod, target, time.Now()); err != nil {
		t.Fatalf("the credentials' token does not verify: %v", err)
	}
	if err := VerifyToken(secret, md[TokenHeader], snapshotMethod, target, time.Now()); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("the credentials' token for Status verifies for Snapshot: %v", err)
	}
	if err := VerifyToken(secret, md[TokenHeader], statusMethod, "127.0.0.2:8091", time.Now()); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("the credentials' token for %s verifies for another node: %v", target, err)
	}
	if _, err := TokenCredentials(string(secret), false).GetRequestMetadata(context.Background(), uri); !errors.Is(err, ErrTokenNoMethod) {
		t.Fatalf("credentials minted a token bound to no method: %v", err)
	}
	if _, err := TokenCredentials(string(secret), false).GetRequestMetadata(requestContext(statusMethod)); !errors.Is(err, ErrTokenNoTarget) {
		t.Fatalf("credentials minted a token bound to no target: %v", err)
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
		md := metadata.MD{":authority": {target}}
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
		{"valid token", string(secret), withToken(MintToken(secret, statusMethod, target, now)), statusMethod, true},
		{"no metadata", string(secret), nil, statusMethod, false},
		{"no token", string(secret), withToken(), statusMethod, false},
		{"wrong secret", string(secret), withToken(MintToken([]byte("wrong"), statusMethod, target, now)), statusMethod, false},
		{"token for another method", string(secret), withToken(MintToken(secret, statusMethod, target, now)), snapshotMethod, false},
		{"expired", string(secret), withToken(MintToken(secret, statusMethod, target, now.Add(-2*TokenLifetime))), statusMethod, false},
		{"garbage", string(secret), withToken("garbage"), statusMethod, false},
		{"first of two tokens is checked", string(secret), withToken("garbage", MintToken(secret, statusMethod, target, now)), statusMethod, false},
		{"disabled: no token needed", "", nil, statusMethod, true},
		// A token seen on its way to another node (issue 17).
		{"token for another node, replayed with its address", string(secret),
			metadata.MD{":authority": {"127.0.0.2:8091"}, TokenHeader: {MintToken(secret, statusMethod, "127.0.0.2:8091", now)}}, statusMethod, false},
		{"token for another node, sent with this node's address", string(secret),
			metadata.MD{":authority": {target}, TokenHeader: {MintToken(secret, statusMethod, "127.0.0.2:8091", now)}}, statusMethod, false},
		{"no address", string(secret), metadata.MD{TokenHeader: {MintToken(secret, statusMethod, "", now)}}, statusMethod, false},
		{"localhost on a loopback connection", string(secret),
			metadata.MD{":authority": {"localhost:8091"}, TokenHeader: {MintToken(secret, statusMethod, "localhost:8091", now)}}, statusMethod, true},
		{"localhost on another port", string(secret),
			metadata.MD{":authority": {"localhost:8092"}, TokenHeader: {MintToken(secret, statusMethod, "localhost:8092", now)}}, statusMethod, false},
		{"a short name of the advertised one (a DNS search path)", string(secret),
			metadata.MD{":authority": {"meta-0:8091"}, TokenHeader: {MintToken(secret, statusMethod, "meta-0:8091", now)}}, statusMethod, true},
		{"a short name of another node", string(secret),
			metadata.MD{":authority": {"meta-1:8091"}, TokenHeader: {MintToken(secret, statusMethod, "meta-1:8091", now)}}, statusMethod, false},
		{"the node's advertised name", string(secret),
			metadata.MD{":authority": {"Meta-0.example:8091"}, TokenHeader: {MintToken(secret, statusMethod, "meta-0.example:8091", now)}}, statusMethod, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthenticator(tc.secret, "meta-0.example:8091")
			a.now = func() time.Time { return now }
			err := a.checkHeaders(tc.md, tc.method, local)
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
	tok := MintToken(secret, statusMethod, target, now)
	call := func() error {
		return a.checkHeaders(metadata.Pairs(TokenHeader, tok, ":authority", target), statusMethod, local)
	}
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
	call := func(tok string) error {
		return a.checkHeaders(metadata.Pairs(TokenHeader, tok, ":authority", target), statusMethod, local)
	}
	var toks []string
	for range 3 {
		tok := MintToken(secret, statusMethod, target, now)
		toks = append(toks, tok)
		if err := call(tok); err != nil {
			t.Fatalf("token %d refused: %v", len(toks), err)
		}
	}
	if err := call(MintToken(secret, statusMethod, target, now)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a fourth token with the cache full: got %v, want codes.ResourceExhausted", err)
	}
	for i, tok := range toks {
		if err := call(tok); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("replay of token %d with the cache full: got %v, want codes.Unauthenticated", i, err)
		}
	}
	// Once the first three have expired, a token minted now fits.
	clock = now.Add(TokenLifetime + time.Second)
	if err := call(MintToken(secret, statusMethod, target, clock)); err != nil {
		t.Fatalf("a fresh token after the others expired: %v", err)
	}
	if n := len(a.seen); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1 (the expired ones swept)", n)
	}
}
