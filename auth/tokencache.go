package auth

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// tokenCacheSlots is the number of JWTs one state remembers (a power of two).
const tokenCacheSlots = 4096

// tokenCache remembers JWTs that were verified against one state, so that a
// client sending the same token again costs a hash and a string compare, not
// a JSON decode and an HMAC. It is direct-mapped: a slot holds the last token
// verified there; a collision just costs a verification. Slots are atomic
// pointers: no lock on the request path.
type tokenCache struct {
	seed  maphash.Seed
	slots [tokenCacheSlots]atomic.Pointer[tokenEntry]
}

type tokenEntry struct {
	token string
	user  *User
	valid validity
}

func newTokenCache() *tokenCache { return &tokenCache{seed: maphash.MakeSeed()} }

func (tc *tokenCache) slot(token string) *atomic.Pointer[tokenEntry] {
	return &tc.slots[maphash.String(tc.seed, token)&(tokenCacheSlots-1)]
}

// authenticateToken verifies a Bearer token, or finds it verified already in
// this state and still within its validity.
func (c *Cache) authenticateToken(s *snapshot, token string) (*User, error) {
	slot := s.tokens.slot(token)
	if e := slot.Load(); e != nil && e.token == token {
		now := c.clock.unixNano()
		if now >= e.valid.from && now < e.valid.until {
			return e.user, nil
		}
	}
	name, valid, err := c.verifier.verifyWindow(s.keys, token)
	if err != nil {
		return nil, err
	}
	u, _ := s.users.Get(name)
	if u == nil {
		return nil, ErrUserNotFound
	}
	slot.Store(&tokenEntry{token: token, user: u, valid: valid})
	return u, nil
}

// requestClock tells the time for the check of a remembered token's
// validity, once per request. time.Now reads two clocks (wall and
// monotonic; ≈ 50 ns on a VM with kvm-clock); this reads only the monotonic
// one, on top of a wall-clock reading that is at most a second old, so a
// step of the system clock shows within a second. A test's clock (now) is
// read every time.
type requestClock struct {
	now  func() time.Time
	base atomic.Pointer[time.Time]
}

func (c *requestClock) unixNano() int64 {
	if c.now != nil {
		return c.now().UnixNano()
	}
	if b := c.base.Load(); b != nil {
		// Since uses only the monotonic clock for a time that has a
		// monotonic reading, as time.Now's does.
		if d := time.Since(*b); d >= 0 && d < time.Second {
			return b.UnixNano() + int64(d)
		}
	}
	t := time.Now()
	c.base.Store(&t)
	return t.UnixNano()
}
