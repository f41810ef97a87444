package auth

import (
	"hash/maphash"
	"sync/atomic"
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
		now := c.now().UnixNano()
		if now >= e.valid.from && now < e.valid.until {
			return e.user, nil
		}
	}
	name, valid, err := c.verifier.verifyWindow(s.keys, token)
	if err != nil {
		return nil, err
	}
	u := s.users[name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	slot.Store(&tokenEntry{token: token, user: u, valid: valid})
	return u, nil
}
