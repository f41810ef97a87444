package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxql"
	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-db/palisade/proto/metapb"
)

// mustHash hashes at bcrypt's minimum cost, so that tests stay fast.
func mustHash(t testing.TB, password string) []byte {
	t.Helper()
	h, err := HashPassword(password, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func state(users ...*metapb.User) *metapb.Data {
	return &metapb.Data{Users: users, JwtSecrets: testSecrets()}
}

func user(t testing.TB, name, password string, admin bool) *metapb.User {
	return &metapb.User{Name: name, Hash: mustHash(t, password), Admin: admin}
}

// fakeClock is a settable Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(testNow.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func basic(name, password string) Credentials {
	return Credentials{Method: Basic, Username: name, Password: password}
}

// holdHashSlots takes every bcrypt slot of c until the returned function is
// called: while held, only the cached path and the throttle can answer, and
// a call that needs bcrypt blocks.
func holdHashSlots(c *Cache) (release func()) {
	for range cap(c.sem) {
		c.sem <- struct{}{}
	}
	return func() {
		for range cap(c.sem) {
			<-c.sem
		}
	}
}

// authenticateNoBcrypt authenticates while bcrypt is unavailable and fails the
// test (instead of hanging) if the call needed bcrypt.
func authenticateNoBcrypt(t *testing.T, c *Cache, creds Credentials, client string) (*User, error) {
	t.Helper()
	release := holdHashSlots(c)
	type result struct {
		u   *User
		err error
	}
	done := make(chan result, 1)
	go func() {
		u, err := c.Authenticate(context.Background(), creds, client)
		done <- result{u, err}
	}()
	select {
	case r := <-done:
		release()
		if errors.Is(r.err, ErrAuthenticationBusy) {
			t.Fatalf("Authenticate(%s) needed bcrypt", creds.Username)
		}
		return r.u, r.err
	case <-time.After(10 * time.Second):
		release()
		<-done
		t.Fatalf("Authenticate(%s) ran bcrypt", creds.Username)
		return nil, nil
	}
}

func mustAuthenticate(t *testing.T, c *Cache, creds Credentials) *User {
	t.Helper()
	u, err := c.Authenticate(context.Background(), creds, "192.0.2.1")
	if err != nil {
		t.Fatalf("Authenticate(%s): %v", creds.Username, err)
	}
	return u
}

func TestAuthenticatePassword(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{})
	c.Update(state(user(t, "alice", "s3cret pw", true), user(t, "bob", "hunter2", false)))

	for _, m := range []Method{UserPass, Basic, Token} {
		creds := Credentials{Method: m, Username: "alice", Password: "s3cret pw"}
		if u := mustAuthenticate(t, c, creds); u.Name() != "alice" || !u.Admin() {
			t.Errorf("%v: user = %q admin %v", m, u.Name(), u.Admin())
		}
	}

	fails := []Credentials{
		basic("alice", "wrong"),
		basic("alice", ""),
		basic("alice", "s3cret pw "),
		basic("nobody", "s3cret pw"),
		basic("", ""),
		{Method: Token, Username: "bob", Password: "s3cret pw"},
	}
	for _, creds := range fails {
		u, err := c.Authenticate(context.Background(), creds, "192.0.2.2")
		if u != nil || err != ErrAuthorizationFailed {
			t.Errorf("Authenticate(%q) = %v, %v; want authorization failed", creds.Username, u, err)
		}
		if status, msg := HTTPError(err); status != http.StatusUnauthorized || msg != "authorization failed" {
			t.Errorf("HTTPError = %d %q", status, msg)
		}
	}

	if _, err := c.Authenticate(context.Background(), Credentials{}, "192.0.2.1"); err != ErrUnparsableCredentials {
		t.Errorf("zero credentials: %v", err)
	}
}

func TestAuthenticateRemembersVerification(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{MaxConcurrentHashes: 1})
	c.Update(state(user(t, "alice", "pw", false)))
	mustAuthenticate(t, c, basic("alice", "pw")) // bcrypt, then remembered

	for _, m := range []Method{Basic, UserPass, Token} {
		u, err := authenticateNoBcrypt(t, c, Credentials{Method: m, Username: "alice", Password: "pw"}, "192.0.2.1")
		if err != nil || u.Name() != "alice" {
			t.Fatalf("%v cached: %v, %v", m, u, err)
		}
	}

	// A new state in which alice's hash is unchanged keeps the verification,
	// and the user has the new privileges.
	alice := &metapb.User{Name: "alice", Hash: c.Lookup("alice").hash,
		Privileges: map[string]metapb.Privilege{"db": metapb.Privilege_PRIVILEGE_READ}}
	c.Update(state(alice, user(t, "bob", "x", true)))
	u, err := authenticateNoBcrypt(t, c, basic("alice", "pw"), "192.0.2.1")
	if err != nil {
		t.Fatalf("after unrelated update: %v", err)
	}
	if u.Privilege("db") != metapb.Privilege_PRIVILEGE_READ || !u.Authorize(influxql.ReadPrivilege, "db") {
		t.Errorf("privileges not updated: %v", u.Privilege("db"))
	}
}

// The three ways InfluxDB 1.x kept accepting an old password (influxdb#6020).
func TestOldPasswordFailsAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states func(t *testing.T) []*metapb.Data // applied after "old" was verified
		newPW  string                            // accepted at the end; empty for none
	}{
		{name: "set password", newPW: "new", states: func(t *testing.T) []*metapb.Data {
			return []*metapb.Data{state(user(t, "alice", "new", true))}
		}},
		{name: "drop user", states: func(t *testing.T) []*metapb.Data {
			return []*metapb.Data{state(user(t, "admin", "x", true))}
		}},
		{name: "drop and recreate", newPW: "new", states: func(t *testing.T) []*metapb.Data {
			return []*metapb.Data{
				state(user(t, "admin", "x", true)),
				state(user(t, "admin", "x", true), user(t, "alice", "new", false)),
			}
		}},
		{name: "drop and recreate in one step", newPW: "new", states: func(t *testing.T) []*metapb.Data {
			return []*metapb.Data{state(user(t, "alice", "new", false))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewCache(Options{MaxConcurrentHashes: 1})
			c.Update(state(user(t, "alice", "old", true)))
			mustAuthenticate(t, c, basic("alice", "old"))
			if _, err := authenticateNoBcrypt(t, c, basic("alice", "old"), "192.0.2.1"); err != nil {
				t.Fatalf("old password not remembered: %v", err)
			}

			for i, d := range tt.states(t) {
				c.Update(d)
				if _, err := c.Authenticate(context.Background(), basic("alice", "old"), "192.0.2.1"); err != ErrAuthorizationFailed {
					t.Fatalf("state %d: old password: %v, want authorization failed", i, err)
				}
			}
			if tt.newPW != "" {
				mustAuthenticate(t, c, basic("alice", tt.newPW))
				if _, err := c.Authenticate(context.Background(), basic("alice", "old"), "192.0.2.1"); err != ErrAuthorizationFailed {
					t.Fatalf("old password after new one was used: %v", err)
				}
			}
		})
	}
}

// A verification that finishes after the state changed must not leak into the
// new state.
func TestVerificationRacingUpdate(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{})
	c.Update(state(user(t, "alice", "old", false)))
	old := c.snap.Load()
	c.Update(state(user(t, "alice", "new", false)))
	// Authenticate against the old snapshot as a request that loaded it just
	// before the update would.
	if _, err := c.authenticatePassword(context.Background(), old, "alice", "old", "192.0.2.1"); err != nil {
		t.Fatalf("old snapshot: %v", err)
	}
	if _, err := c.Authenticate(context.Background(), basic("alice", "old"), "192.0.2.1"); err != ErrAuthorizationFailed {
		t.Fatalf("old password in new state: %v", err)
	}
}

func TestUnknownUserSpendsBcrypt(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{})
	c.Update(state(user(t, "alice", "pw", false), user(t, "bob", "pw", false)))
	if got := c.snap.Load().dummyCost; got != bcrypt.MinCost {
		t.Fatalf("dummy cost = %d, want the users' cost %d", got, bcrypt.MinCost)
	}
	for range 2 {
		if _, err := c.Authenticate(context.Background(), basic("mallory", "pw"), "192.0.2.1"); err != ErrAuthorizationFailed {
			t.Fatalf("unknown user: %v", err)
		}
	}
	h := c.dummies[bcrypt.MinCost].Load()
	if h == nil {
		t.Fatal("no dummy hash was computed")
	}
	if cost, err := bcrypt.Cost(*h); err != nil || cost != bcrypt.MinCost {
		t.Errorf("dummy cost = %d, %v", cost, err)
	}
}

func TestHashCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hash string
		want int
	}{
		{"$2a$04$abcdefghijklmnopqrstuu", 4},
		{"$2b$12$abcdefghijklmnopqrstuu", 12},
		{"$2a$99$x", DefaultHashCost},
		{"$2a$1x$x", DefaultHashCost},
		{"", DefaultHashCost},
		{"plain", DefaultHashCost},
	}
	for _, tt := range tests {
		if got := hashCost([]byte(tt.hash)); got != tt.want {
			t.Errorf("hashCost(%q) = %d, want %d", tt.hash, got, tt.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	const client = "198.51.100.7"
	newCache := func(t *testing.T) (*Cache, *fakeClock) {
		clock := newFakeClock()
		c := NewCache(Options{FailureThreshold: 3, FailureWindow: time.Minute, Now: clock.Now, HashWait: time.Minute})
		c.Update(state(user(t, "alice", "pw", false)))
		return c, clock
	}
	fail := func(t *testing.T, c *Cache, name string, n int) {
		t.Helper()
		for i := range n {
			if _, err := c.Authenticate(context.Background(), basic(name, "wrong"), client); err != ErrAuthorizationFailed {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
	}
	wantBlocked := func(t *testing.T, c *Cache, creds Credentials, client string, retry time.Duration) {
		t.Helper()
		_, err := authenticateNoBcrypt(t, c, creds, client)
		var e *Error
		if !errors.Is(err, ErrTooManyFailures) || !errors.As(err, &e) {
			t.Fatalf("err = %v, want too many failures", err)
		}
		if e.Status != http.StatusTooManyRequests || e.RetryAfter != retry {
			t.Errorf("status %d retry %v, want 429 %v", e.Status, e.RetryAfter, retry)
		}
	}

	t.Run("blocks after threshold without bcrypt", func(t *testing.T) {
		t.Parallel()
		c, clock := newCache(t)
		mustAuthenticate(t, c, basic("alice", "pw")) // remembered
		fail(t, c, "alice", 3)
		clock.Advance(10 * time.Second)
		wantBlocked(t, c, basic("alice", "wrong"), client, 50*time.Second)
		// Even the right, remembered password: a blocked client must not be
		// able to test guesses against the cache.
		wantBlocked(t, c, basic("alice", "pw"), client, 50*time.Second)
		// Other clients and other users are not blocked.
		if _, err := authenticateNoBcrypt(t, c, basic("alice", "pw"), "198.51.100.8"); err != nil {
			t.Fatalf("other client: %v", err)
		}
		clock.Advance(50 * time.Second)
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client)
	})
	t.Run("unknown users are throttled too", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t)
		fail(t, c, "mallory", 3)
		wantBlocked(t, c, basic("mallory", "x"), client, time.Minute)
	})
	t.Run("success resets", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t)
		fail(t, c, "alice", 2)
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client)
		fail(t, c, "alice", 2)
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client) // cached path resets too
		fail(t, c, "alice", 3)
		wantBlocked(t, c, basic("alice", "pw"), client, time.Minute)
	})
	t.Run("the table empties again after successes", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t)
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client)
		if !c.fails.idle() {
			t.Fatal("a success with no failure before it left an entry")
		}
		fail(t, c, "alice", 2)
		if c.fails.idle() {
			t.Fatal("failures left no entry")
		}
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client) // remembered: the fast path must reset
		if !c.fails.idle() {
			t.Fatal("the success did not clear the pair's entry")
		}
		// With the table idle again, the pair's earlier failures are gone:
		// three fresh ones are needed to block it.
		fail(t, c, "alice", 2)
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client)
	})
	t.Run("window restarts", func(t *testing.T) {
		t.Parallel()
		c, clock := newCache(t)
		fail(t, c, "alice", 2)
		clock.Advance(time.Minute)
		fail(t, c, "alice", 2) // a new window: 2 of 3
		mustAuthenticateFrom(t, c, basic("alice", "pw"), client)
	})
	t.Run("concurrent guesses do not overshoot", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t)
		var wg sync.WaitGroup
		var failed, blocked atomic.Int32
		for range 20 {
			wg.Go(func() {
				_, err := c.Authenticate(context.Background(), basic("alice", "wrong"), client)
				switch {
				case err == ErrAuthorizationFailed:
					failed.Add(1)
				case errors.Is(err, ErrTooManyFailures):
					blocked.Add(1)
				default:
					t.Errorf("err = %v", err)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 3 || blocked.Load() != 17 {
			t.Errorf("failed %d blocked %d, want 3 and 17", failed.Load(), blocked.Load())
		}
	})
}

func mustAuthenticateFrom(t *testing.T, c *Cache, creds Credentials, client string) {
	t.Helper()
	if _, err := c.Authenticate(context.Background(), creds, client); err != nil {
		t.Fatalf("Authenticate(%s) from %s: %v", creds.Username, client, err)
	}
}

func TestAuthenticateBearer(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{LocalSecret: testLocal, Now: func() time.Time { return testNow }})
	c.Update(state(user(t, "alice", "pw", false)))
	bearer := func(tok string) Credentials { return Credentials{Method: Bearer, Token: tok} }

	u, err := c.Authenticate(context.Background(), bearer(mustMint(t, "s1", testSecret1, "alice", testNow.Add(time.Hour))), "192.0.2.1")
	if err != nil || u.Name() != "alice" {
		t.Fatalf("cluster secret: %v, %v", u, err)
	}
	if _, err := c.Authenticate(context.Background(), bearer(mustMint(t, "", testLocal, "alice", testNow.Add(time.Hour))), "192.0.2.1"); err != nil {
		t.Fatalf("local secret: %v", err)
	}
	_, err = c.Authenticate(context.Background(), bearer(mustMint(t, "s1", testSecret1, "ghost", testNow.Add(time.Hour))), "192.0.2.1")
	if status, msg := HTTPError(err); status != http.StatusUnauthorized || msg != "user not found" {
		t.Errorf("unknown user: %d %q", status, msg)
	}
	_, err = c.Authenticate(context.Background(), bearer(mustMint(t, "s1", testSecret1, "alice", testNow.Add(-time.Hour))), "192.0.2.1")
	if !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}

	// Secret removed from the state: tokens signed with it stop working.
	c.Update(&metapb.Data{Users: []*metapb.User{user(t, "alice", "pw", false)}})
	_, err = c.Authenticate(context.Background(), bearer(mustMint(t, "s1", testSecret1, "alice", testNow.Add(time.Hour))), "192.0.2.1")
	if !errors.Is(err, ErrTokenSignatureInvalid) {
		t.Errorf("removed secret: %v", err)
	}

	// No secret anywhere.
	c2 := NewCache(Options{})
	c2.Update(&metapb.Data{Users: []*metapb.User{user(t, "alice", "pw", false)},
		JwtSecrets: []*metapb.JWTSecret{{Id: "empty"}}})
	_, err = c2.Authenticate(context.Background(), bearer(mustMint(t, "s1", testSecret1, "alice", testNow.Add(time.Hour))), "192.0.2.1")
	if !errors.Is(err, ErrBearerDisabled) {
		t.Errorf("no secret: %v", err)
	}
}

func TestAdminExists(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{})
	if c.AdminExists() {
		t.Fatal("new cache has an admin")
	}
	c.Update(state(user(t, "bob", "pw", false)))
	if c.AdminExists() {
		t.Fatal("admin exists without one")
	}
	c.Update(state(user(t, "bob", "pw", false), user(t, "root", "pw", true)))
	if !c.AdminExists() {
		t.Fatal("admin not seen")
	}
	c.Update(nil)
	if c.AdminExists() {
		t.Fatal("admin after nil state")
	}
}

func TestLongCredentials(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("n", 300) // past the digest's stack buffer
	pw := strings.Repeat("p", 70)
	c := NewCache(Options{MaxConcurrentHashes: 1})
	c.Update(state(user(t, name, pw, false)))
	mustAuthenticate(t, c, basic(name, pw))
	if _, err := authenticateNoBcrypt(t, c, basic(name, pw), "192.0.2.1"); err != nil {
		t.Fatalf("cached long credentials: %v", err)
	}
	if _, err := c.Authenticate(context.Background(), basic(name, pw+"x"), "192.0.2.1"); err != ErrAuthorizationFailed {
		t.Fatalf("wrong long password: %v", err)
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	const pw = "correct-horse-battery"
	c := NewCache(Options{FailureThreshold: 1})
	c.Update(state(user(t, "alice", pw, false)))
	hash := string(c.Lookup("alice").hash)
	for _, creds := range []Credentials{basic("alice", pw+"!"), basic("alice", pw), basic("ghost", pw)} {
		_, err := c.Authenticate(context.Background(), creds, "192.0.2.9")
		if err == nil {
			continue
		}
		if msg := err.Error(); strings.Contains(msg, pw) || strings.Contains(msg, hash) {
			t.Errorf("error %q leaks a secret", msg)
		}
	}
}

func TestCachedPathDoesNotAllocate(t *testing.T) {
	c := NewCache(Options{})
	c.Update(state(user(t, "alice", "pw", false)))
	creds := basic("alice", "pw")
	mustAuthenticate(t, c, creds)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Authenticate(context.Background(), creds, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("cached Authenticate allocates %v times", allocs)
	}
}

func TestConcurrentAuthenticateAndUpdate(t *testing.T) {
	t.Parallel()
	hashes := map[string][]byte{"a": mustHash(t, "a"), "b": mustHash(t, "b")}
	c := NewCache(Options{HashWait: time.Minute})
	mk := func(pw string, extra int) *metapb.Data {
		users := []*metapb.User{{Name: "alice", Hash: hashes[pw]}}
		for i := range extra {
			users = append(users, &metapb.User{Name: fmt.Sprint("u", i), Hash: hashes["a"]})
		}
		return state(users...)
	}
	c.Update(mk("a", 0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				pw := "a"
				if i%2 == 1 {
					pw = "b"
				}
				u, err := c.Authenticate(context.Background(), basic("alice", pw), fmt.Sprint("192.0.2.", i))
				if err != nil && err != ErrAuthorizationFailed && !errors.Is(err, ErrTooManyFailures) {
					t.Errorf("err = %v", err)
				}
				if err == nil && u.Name() != "alice" {
					t.Errorf("user = %q", u.Name())
				}
			}
		})
	}
	for i := range 200 {
		c.Update(mk([]string{"a", "b"}[i%2], i%5))
	}
	close(stop)
	wg.Wait()

	// The final state is "b" (i = 199): "a" must fail now.
	c.fails = newFailures(DefaultFailureThreshold, DefaultFailureWindow)
	if _, err := c.Authenticate(context.Background(), basic("alice", "a"), "192.0.2.50"); err != ErrAuthorizationFailed {
		t.Errorf("stale password: %v", err)
	}
	mustAuthenticate(t, c, basic("alice", "b"))
}
