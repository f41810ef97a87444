package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	secret = []byte("the-internal-shared-secret")
	now    = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

func TestVerifyToken(t *testing.T) {
	good := MintToken(secret, now)
	ts, mac, _ := strings.Cut(good, ".")
	// The MAC with its first character changed (to another base64url one).
	flipped := map[byte]byte{'A': 'B'}[mac[0]]
	if flipped == 0 {
		flipped = 'A'
	}
	tamperedMAC := ts + "." + string(flipped) + mac[1:]
	tsNum, _ := strconv.ParseInt(ts, 10, 64)
	tamperedTS := strconv.FormatInt(tsNum+1, 10) + "." + mac

	for _, tc := range []struct {
		name   string
		secret []byte
		token  string
		at     time.Time
		want   error
	}{
		{"fresh", secret, good, now, nil},
		{"almost expired", secret, good, now.Add(TokenLifetime), nil},
		{"slightly ahead of the verifier's clock", secret, good, now.Add(-TokenLifetime), nil},
		{"expired", secret, good, now.Add(TokenLifetime + time.Nanosecond), ErrTokenExpired},
		{"from the future", secret, good, now.Add(-TokenLifetime - time.Nanosecond), ErrTokenExpired},
		{"long expired", secret, MintToken(secret, now.Add(-24*time.Hour)), now, ErrTokenExpired},
		{"wrong secret", []byte("another-secret"), good, now, ErrTokenInvalid},
		{"empty secret", nil, good, now, ErrTokenInvalid},
		{"minted with another secret", secret, MintToken([]byte("another-secret"), now), now, ErrTokenInvalid},
		{"tampered MAC", secret, tamperedMAC, now, ErrTokenInvalid},
		{"tampered timestamp", secret, tamperedTS, now, ErrTokenInvalid},
		{"MAC cut short", secret, good[:len(good)-2], now, ErrTokenInvalid},
		{"no dot", secret, strings.Replace(good, ".", "", 1), now, ErrTokenInvalid},
		{"timestamp not a number", secret, "x" + good, now, ErrTokenInvalid},
		{"MAC not base64", secret, ts + ".!!!!", now, ErrTokenInvalid},
		{"empty", secret, "", now, ErrTokenInvalid},
		{"only a timestamp", secret, ts + ".", now, ErrTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyToken(tc.secret, tc.token, tc.at)
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
	tok := MintToken(secret, now)
	if strings.Contains(tok, string(secret)) {
		t.Fatalf("token %q contains the secret", tok)
	}
	if MintToken(secret, now) != tok {
		t.Fatalf("the same secret and time gave two tokens")
	}
	if MintToken(secret, now.Add(time.Nanosecond)) == tok {
		t.Fatalf("tokens for two instants are equal")
	}
}

func TestTokenCredentials(t *testing.T) {
	md, err := TokenCredentials(string(secret), false).GetRequestMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyToken(secret, md[TokenHeader], time.Now()); err != nil {
		t.Fatalf("the credentials' token does not verify: %v", err)
	}
	if TokenCredentials("s", true).RequireTransportSecurity() != true || TokenCredentials("s", false).RequireTransportSecurity() != false {
		t.Fatalf("RequireTransportSecurity does not follow the flag")
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

// TestAuthenticatorInterceptors: handlers run only with a valid token;
// refusals are codes.Unauthenticated; an empty secret lets everything in.
func TestAuthenticatorInterceptors(t *testing.T) {
	withToken := func(tokens ...string) context.Context {
		md := metadata.MD{}
		for _, tok := range tokens {
			md.Append(TokenHeader, tok)
		}
		return metadata.NewIncomingContext(context.Background(), md)
	}
	a := NewAuthenticator(string(secret))
	a.now = func() time.Time { return now }
	for _, tc := range []struct {
		name string
		auth *Authenticator
		ctx  context.Context
		ok   bool
	}{
		{"valid token", a, withToken(MintToken(secret, now)), true},
		{"no metadata", a, context.Background(), false},
		{"no token", a, withToken(), false},
		{"wrong secret", a, withToken(MintToken([]byte("wrong"), now)), false},
		{"expired", a, withToken(MintToken(secret, now.Add(-2*TokenLifetime))), false},
		{"garbage", a, withToken("garbage"), false},
		{"first of two tokens is checked", a, withToken("garbage", MintToken(secret, now)), false},
		{"disabled: no token needed", NewAuthenticator(""), context.Background(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := tc.auth.UnaryInterceptor(tc.ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
				called = true
				return nil, nil
			})
			streamCalled := false
			serr := tc.auth.StreamInterceptor(nil, fakeStream{ctx: tc.ctx}, &grpc.StreamServerInfo{}, func(any, grpc.ServerStream) error {
				streamCalled = true
				return nil
			})
			if called != tc.ok || streamCalled != tc.ok {
				t.Fatalf("handlers called: unary %v, stream %v; want %v", called, streamCalled, tc.ok)
			}
			for _, err := range []error{err, serr} {
				if tc.ok && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !tc.ok && status.Code(err) != codes.Unauthenticated {
					t.Fatalf("got %v, want codes.Unauthenticated", err)
				}
				if err != nil && strings.Contains(err.Error(), string(secret)) {
					t.Fatalf("error %q reveals the secret", err)
				}
			}
		})
	}
	if NewAuthenticator("").Enabled() || !a.Enabled() {
		t.Fatalf("Enabled does not follow the secret")
	}
}
