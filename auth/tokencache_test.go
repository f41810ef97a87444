package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/proto/metapb"
)

// A remembered JWT is honoured only within its validity and only for the
// state it was verified against.
func TestTokenCache(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(Options{Now: clock.Now})
	alice := user(t, "alice", "pw", false)
	secrets := []*metapb.JWTSecret{{Id: "s1", Value: testSecret1, Created: 1}, {Id: "s2", Value: testSecret2, Created: 2}}
	c.Update(&metapb.Data{Users: []*metapb.User{alice}, JwtSecrets: secrets})
	tok := Credentials{Method: Bearer, Token: mustMint(t, "s1", testSecret1, "alice", testNow.Add(time.Minute))}

	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if s := c.snap.Load(); s.tokens.slot(tok.Token).Load() == nil {
		t.Fatal("a verified token was not remembered")
	}
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); err != nil {
		t.Fatalf("remembered: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { c.Authenticate(context.Background(), tok, "192.0.2.1") }); n != 0 {
		t.Errorf("remembered token: %v allocs, want 0", n)
	}

	// Expiry applies to a remembered token too.
	clock.Advance(2 * time.Minute)
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("remembered token after exp: %v", err)
	}

	// A new state forgets: a removed secret or a dropped user ends the token at once.
	clock.Advance(-2 * time.Minute)
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	c.Update(&metapb.Data{Users: []*metapb.User{alice}, JwtSecrets: secrets[1:]})
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); !errors.Is(err, ErrTokenSignatureInvalid) {
		t.Fatalf("after the secret was removed: %v", err)
	}
	c.Update(&metapb.Data{Users: []*metapb.User{alice}, JwtSecrets: secrets})
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	c.Update(&metapb.Data{JwtSecrets: secrets})
	if _, err := c.Authenticate(context.Background(), tok, "192.0.2.1"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("after the user was dropped: %v", err)
	}

	// A token that is not valid yet is not served from memory early.
	nbf := Credentials{Method: Bearer, Token: signToken(t, jwt.SigningMethodHS256, testSecret2, nil, jwt.MapClaims{
		"username": "alice", "exp": testNow.Add(time.Hour).Unix(), "nbf": testNow.Add(time.Minute).Unix(),
	})}
	c.Update(&metapb.Data{Users: []*metapb.User{alice}, JwtSecrets: secrets})
	if _, err := c.Authenticate(context.Background(), nbf, "192.0.2.1"); err == nil {
		t.Fatal("a token before its nbf was accepted")
	}
	clock.Advance(2 * time.Minute)
	if _, err := c.Authenticate(context.Background(), nbf, "192.0.2.1"); err != nil {
		t.Fatalf("after nbf: %v", err)
	}
}

func TestRequestClock(t *testing.T) {
	var c requestClock
	for range 1000 {
		got, want := c.unixNano(), time.Now().UnixNano()
		if d := want - got; d < 0 || d > int64(50*time.Millisecond) {
			t.Fatalf("requestClock is %v off time.Now", time.Duration(d))
		}
	}
	// A base older than a second is read again: the wall clock catches up.
	old := time.Now().Add(-2 * time.Second)
	c.base.Store(&old)
	got := c.unixNano()
	if d := time.Now().UnixNano() - got; d < 0 || d > int64(50*time.Millisecond) {
		t.Fatalf("after a stale base, requestClock is %v off", time.Duration(d))
	}
	fixed := time.Unix(1_000, 0)
	test := requestClock{now: func() time.Time { return fixed }}
	if test.unixNano() != fixed.UnixNano() {
		t.Fatal("a test's clock is not used")
	}
}
