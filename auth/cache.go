package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxql"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/internal/cowmap"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Defaults for Options.
const (
	DefaultFailureThreshold       = 10
	DefaultClientFailureThreshold = 100
	DefaultFailureWindow          = time.Minute
	DefaultHashWait               = time.Second
)

// Options configure a Cache. Zero values take the defaults.
type Options struct {
	// LocalSecret is the node's own JWT secret ([http] shared-secret). It is
	// tried besides the cluster's secrets. Empty means none.
	LocalSecret []byte
	// JWTLeeway is the clock skew allowed on exp, nbf and iat. Default 0.
	JWTLeeway time.Duration
	// MaxConcurrentHashes bounds the bcrypt comparisons running at once.
	// Default GOMAXPROCS-1 (at least 1): a core stays free for requests
	// whose password the cache remembers.
	MaxConcurrentHashes int
	// HashWait bounds how long a login waits for a bcrypt slot (and the
	// request's context bounds it too) before it is refused with
	// ErrAuthenticationBusy. Default one second.
	HashWait time.Duration
	// FailureThreshold is how many failed logins a (user, client) pair may
	// have within FailureWindow before further attempts are refused with
	// ErrTooManyFailures, without running bcrypt. Default 10.
	FailureThreshold int
	// ClientFailureThreshold is how many failed logins one client may have
	// within FailureWindow, whatever the user names, before its logins that
	// would need bcrypt are refused with ErrTooManyFailures. A password the
	// cache remembers still passes. Default 100.
	ClientFailureThreshold int
	// FailureWindow: see FailureThreshold. Default one minute, counted from
	// the first failure.
	FailureWindow time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnHash, when set, is called before every bcrypt comparison, with a
	// slot held. Tests count and hold comparisons with it.
	OnHash func()
}

// Cache authenticates requests against the users and JWT secrets of the
// latest meta state. Authenticate may be called from any number of
// goroutines while Update swaps in a new state.
//
// The request path is an atomic load of the current snapshot, a map lookup and
// a keyed-hash comparison: no lock and no allocation once a user's password
// has been verified by bcrypt. That verification is remembered as a SHA-256
// of (user name, password) keyed by SHA-256(process key, user's bcrypt hash),
// so it is void as soon as the user's hash changes or the user is dropped
// (InfluxDB 1.x kept accepting old passwords after DROP USER / CREATE USER,
// influxdb#6020).
//
// bcrypt runs only on a cache miss, at most MaxConcurrentHashes at a time
// (a login that cannot get a slot within HashWait is refused), and not at all
// for a (user, client) pair over its failure threshold nor for a client over
// its own (influxdb#3157): a flood of made-up user names from one address
// costs at most ClientFailureThreshold bcrypt runs per window.
type Cache struct {
	now         func() time.Time
	clock       *requestClock // the cached-token path's clock
	local       []byte
	key         [32]byte // random; keys the verification digests; never leaves the process
	sem         chan struct{}
	hashWait    time.Duration
	onHash      func()
	fails       *failures // per (user, client)
	clientFails *failures // per client
	verifier    *tokenVerifier

	snap atomic.Pointer[snapshot]

	updateMu sync.Mutex // serializes Update; never taken on the request path

	// dummies[cost] is a bcrypt hash of a random password, compared against
	// for unknown users so that they cost what known users cost.
	dummies [bcrypt.MaxCost + 1]atomic.Pointer[[]byte]
}

// snapshot is one immutable view of the meta state.
type snapshot struct {
	// tokens remembers verified JWTs for this state only: a new state
	// (a secret removed, a user dropped) starts with none.
	tokens *tokenCache
	users  *cowmap.Map[string, *User]
	// secrets are the JWT secrets keys was made from.
	secrets     []*metapb.JWTSecret
	keys        *keyring
	adminExists bool
	// admins counts the admin users; costs counts the users by bcrypt cost.
	admins int
	costs  [bcrypt.MaxCost + 1]int
	// dummyCost is the most common bcrypt cost among the users.
	dummyCost int
}

// User is an authenticated user as of the state it was read from. It is
// immutable; a later state gives a new *User.
type User struct {
	name       string
	admin      bool
	privileges map[string]metapb.Privilege
	hash       []byte
	// verified is shared by the *User of every state in which the user's
	// hash stays the same.
	verified *verification
}

// verification remembers the digest of the last password bcrypt accepted for
// one bcrypt hash of one user. Update makes a new one whenever the hash
// changes, so a remembered password dies with its hash.
type verification struct {
	// key is SHA-256(process key || len(hash) || hash), truncated: it keys
	// the digests and binds them to the hash.
	key    [16]byte
	digest atomic.Pointer[[sha256.Size]byte]
}

func (c *Cache) newVerification(hash []byte) *verification {
	var buf [128]byte
	b := append(buf[:0], c.key[:]...)
	b = binary.AppendUvarint(b, uint64(len(hash)))
	b = append(b, hash...)
	sum := sha256.Sum256(b)
	v := &verification{}
	copy(v.key[:], sum[:])
	return v
}

// NewCache returns a cache with no users and no cluster secrets; call Update
// with the meta state.
func NewCache(opts Options) *Cache {
	if opts.MaxConcurrentHashes <= 0 {
		opts.MaxConcurrentHashes = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if opts.HashWait <= 0 {
		opts.HashWait = DefaultHashWait
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = DefaultFailureThreshold
	}
	if opts.ClientFailureThreshold <= 0 {
		opts.ClientFailureThreshold = DefaultClientFailureThreshold
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = DefaultFailureWindow
	}
	clock := &requestClock{now: opts.Now}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cache{
		now:         opts.Now,
		clock:       clock,
		local:       bytes.Clone(opts.LocalSecret),
		sem:         make(chan struct{}, opts.MaxConcurrentHashes),
		hashWait:    opts.HashWait,
		onHash:      opts.OnHash,
		fails:       newFailures(opts.FailureThreshold, opts.FailureWindow),
		clientFails: newFailures(opts.ClientFailureThreshold, opts.FailureWindow),
		verifier:    newTokenVerifier(opts.JWTLeeway, opts.Now),
	}
	_, _ = rand.Read(c.key[:]) // never fails: since Go 1.24 it crashes the program instead
	c.snap.Store(&snapshot{keys: newKeyring(c.local, nil), dummyCost: DefaultHashCost, tokens: newTokenCache(),
		users: cowmap.New[string, *User](0)})
	return c
}

// Update makes d the state that requests are authenticated against. It keeps
// references into d, which must not be modified afterwards (meta states are
// immutable). Remembered password verifications survive for users whose
// hash is unchanged and are dropped for all others. A nil d means no users
// and no cluster secrets. Calls are serialized; the last one wins.
func (c *Cache) Update(d *metapb.Data) { c.update(d, nil, true) }

// UpdateChanged is Update for a state that differs from the one before only
// in the users named in users (in any order; dropped ones too) and in its
// JWT secrets: it costs what changed, not the number of users.
func (c *Cache) UpdateChanged(d *metapb.Data, users []string) { c.update(d, users, false) }

func (c *Cache) update(d *metapb.Data, changed []string, all bool) {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()

	old := c.snap.Load()
	s := &snapshot{users: old.users, secrets: old.secrets, keys: old.keys, tokens: old.tokens,
		admins: old.admins, costs: old.costs}
	if secrets := d.GetJwtSecrets(); !sameSecrets(old.secrets, secrets) {
		s.secrets, s.keys, s.tokens = secrets, newKeyring(c.local, secrets), newTokenCache()
	}
	// The users to convert: all of them, or those named (found by name:
	// a state keeps its users in name order).
	var set []*metapb.User
	var gone []string
	if all {
		s.users, s.admins, s.costs = cowmap.New[string, *User](len(d.GetUsers())), 0, [bcrypt.MaxCost + 1]int{}
		set = d.GetUsers()
	} else {
		for _, name := range changed {
			i, found := slices.BinarySearchFunc(d.GetUsers(), name, func(u *metapb.User, n string) int { return cmp.Compare(u.GetName(), n) })
			if found {
				set = append(set, d.Users[i])
			} else {
				gone = append(gone, name)
			}
			if prev, ok := old.users.Get(name); ok {
				s.count(prev, -1)
			}
		}
	}
	if len(set) > 0 || len(gone) > 0 || all {
		// A remembered token names the *User of its state: a changed user
		// must not be served from it.
		s.tokens = newTokenCache()
	}
	s.users = s.users.Edit(func(e *cowmap.Editor[string, *User]) {
		for _, name := range gone {
			e.Delete(name)
		}
		for _, pu := range set {
			u := &User{name: pu.GetName(), admin: pu.GetAdmin(), privileges: pu.GetPrivileges(), hash: pu.GetHash()}
			if prev, _ := old.users.Get(u.name); prev != nil && bytes.Equal(prev.hash, u.hash) {
				u.verified = prev.verified
			} else {
				u.verified = c.newVerification(u.hash)
			}
			e.Set(u.name, u)
			s.count(u, 1)
		}
	})
	s.adminExists = s.admins > 0
	s.dummyCost = DefaultHashCost
	for cost, n := range s.costs {
		if n > s.costs[s.dummyCost] {
			s.dummyCost = cost
		}
	}
	c.snap.Store(s)
}

// count adds u (n = 1) to the snapshot's tallies, or takes it out (-1).
func (s *snapshot) count(u *User, n int) {
	if u.admin {
		s.admins += n
	}
	s.costs[hashCost(u.hash)] += n
}

func sameSecrets(a, b []*metapb.JWTSecret) bool {
	return slices.EqualFunc(a, b, func(x, y *metapb.JWTSecret) bool { return x == y || proto.Equal(x, y) })
}

// hashCost reads the cost from a bcrypt hash ("$2a$10$..."), or returns
// DefaultHashCost when it cannot.
func hashCost(h []byte) int {
	if len(h) < 7 || h[0] != '$' || h[3] != '$' || h[6] != '$' ||
		h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' {
		return DefaultHashCost
	}
	cost := int(h[4]-'0')*10 + int(h[5]-'0')
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return DefaultHashCost
	}
	return cost
}

// Lookup returns the user called name in the current state, or nil. It
// authenticates nothing: it is for a peer that already authenticated the
// user (a remote read carries the name of the user who runs the query).
func (c *Cache) Lookup(name string) *User {
	u, _ := c.snap.Load().users.Get(name)
	return u
}

// AdminExists reports whether the current state has an admin user. Until it
// does, only the admin bootstrap statement is allowed (see IsAdminBootstrap).
func (c *Cache) AdminExists() bool { return c.snap.Load().adminExists }

// Authenticate returns the user creds identify. client is the client's IP
// address, used to throttle repeated failures; ctx bounds the wait for a
// bcrypt slot. Every error is an *Error: ErrAuthorizationFailed for a wrong
// password or an unknown user, ErrTooManyFailures or ErrAuthenticationBusy
// (both with RetryAfter), ErrUserNotFound or one of the JWT errors for
// Bearer, ErrUnparsableCredentials for a zero Credentials.
func (c *Cache) Authenticate(ctx context.Context, creds Credentials, client string) (*User, error) {
	s := c.snap.Load()
	switch creds.Method {
	case UserPass, Basic, Token:
		return c.authenticatePassword(ctx, s, creds.Username, creds.Password, client)
	case Bearer:
		return c.authenticateToken(s, creds.Token)
	}
	return nil, ErrUnparsableCredentials
}

func (c *Cache) authenticatePassword(ctx context.Context, s *snapshot, name, password, client string) (*User, error) {
	// The (user, client) throttle comes first, even for a password we
	// remember: otherwise a blocked client would learn the right password
	// from a fast 200 among fast 429s. While no login has failed (the
	// usual case) there is nothing to check or reset, and the key is not
	// even hashed.
	var key uint64
	throttled := !c.fails.idle()
	if throttled {
		key = c.fails.key(name, client)
		if wait, blocked := c.fails.blocked(key, c.now); blocked {
			return nil, tooManyFailures(wait)
		}
	}
	// A remembered password passes whatever other users of this client
	// (people behind the same NAT) got wrong: the client's budget is
	// checked only on the way to bcrypt.
	u, _ := s.users.Get(name)
	if u != nil {
		if want := u.verified.digest.Load(); want != nil {
			got := c.digest(u, password)
			if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
				if throttled {
					c.fails.reset(key)
				}
				return u, nil
			}
		}
	}
	if !throttled {
		key = c.fails.key(name, client)
	}
	return c.authenticateSlow(ctx, s, u, key, client, password)
}

// authenticateSlow checks password with bcrypt and remembers the result.
func (c *Cache) authenticateSlow(ctx context.Context, s *snapshot, u *User, key uint64, client, password string) (*User, error) {
	ckey := c.clientFails.key("", client)
	if wait, blocked := c.clientFails.blocked(ckey, c.now); blocked {
		// No bcrypt for a client over its budget. The attempt still counts
		// for (user, client): a guess at a remembered password, answered
		// above without bcrypt, must stop after FailureThreshold as it
		// would with bcrypt.
		if pairWait, refused := c.fails.attempt(key, c.now().UnixNano()); refused {
			wait = max(wait, pairWait)
		}
		return nil, tooManyFailures(wait)
	}
	if err := c.acquireHashSlot(ctx); err != nil {
		return nil, err
	}
	defer c.releaseHashSlot()
	// Both attempts are recorded before the comparison, so that concurrent
	// guesses cannot overshoot either threshold.
	now := c.now().UnixNano()
	if wait, refused := c.fails.attempt(key, now); refused {
		return nil, tooManyFailures(wait)
	}
	if wait, refused := c.clientFails.attempt(ckey, now); refused {
		return nil, tooManyFailures(wait)
	}
	if c.onHash != nil {
		c.onHash()
	}
	var ok bool
	if u != nil {
		ok = CheckPassword(u.hash, password)
	} else {
		c.burn(s.dummyCost, password)
	}
	if !ok {
		return nil, ErrAuthorizationFailed
	}
	c.fails.reset(key)
	c.clientFails.forgive(ckey) // a success is not a failure
	sum := c.digest(u, password)
	u.verified.digest.Store(&sum)
	return u, nil
}

// acquireHashSlot takes one of MaxConcurrentHashes slots, waiting at most
// HashWait and no longer than ctx allows. Release it with releaseHashSlot.
func (c *Cache) acquireHashSlot(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(c.hashWait)
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	return &Error{Status: http.StatusTooManyRequests, Message: ErrAuthenticationBusy.Message, RetryAfter: time.Second}
}

func (c *Cache) releaseHashSlot() { <-c.sem }

// burn spends on an unknown user what a known user's comparison costs.
func (c *Cache) burn(cost int, password string) {
	p := &c.dummies[cost]
	if h := p.Load(); h != nil {
		_ = bcrypt.CompareHashAndPassword(*h, []byte(password))
		return
	}
	// The first time, generating the dummy is the work.
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	h, err := bcrypt.GenerateFromPassword(pw[:], cost)
	if err == nil {
		p.CompareAndSwap(nil, &h)
	}
}

// digestBufSize is the stack buffer for digest; longer inputs use the heap.
const digestBufSize = 256

// digest is the keyed hash that stands for "bcrypt accepted this password for
// this user with this hash": SHA-256(verification key || len(name) || name ||
// len(password) || password), lengths as uvarints so that the input is
// unambiguous. The 16-byte per-hash key (rather than the 32-byte process key
// and the 60-byte bcrypt hash themselves) keeps the usual name and password
// within one SHA-256 block.
func (c *Cache) digest(u *User, password string) [sha256.Size]byte {
	var buf [digestBufSize]byte
	b := buf[:0]
	if n := len(u.verified.key) + 2*binary.MaxVarintLen64 + len(u.name) + len(password); n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = append(b, u.verified.key[:]...)
	b = binary.AppendUvarint(b, uint64(len(u.name)))
	b = append(b, u.name...)
	b = binary.AppendUvarint(b, uint64(len(password)))
	b = append(b, password...)
	sum := sha256.Sum256(b)
	clear(b) // do not leave the password behind in memory we no longer use
	return sum
}

func tooManyFailures(wait time.Duration) error {
	return &Error{Status: http.StatusTooManyRequests, Message: ErrTooManyFailures.Message, RetryAfter: wait}
}

// Name is the user's name.
func (u *User) Name() string {
	if u == nil {
		return ""
	}
	return u.name
}

// Admin reports whether the user has all privileges.
func (u *User) Admin() bool { return u != nil && u.admin }

// Privilege is the user's privilege on database db (PRIVILEGE_NONE if none).
// It does not account for admin.
func (u *User) Privilege(db string) metapb.Privilege {
	if u == nil {
		return metapb.Privilege_PRIVILEGE_NONE
	}
	return u.privileges[db]
}

// Authorize reports whether the user holds privilege p on database db. An
// admin holds everything; NoPrivileges is always held; ReadPrivilege needs
// READ or ALL; WritePrivilege needs WRITE or ALL; AllPrivileges needs ALL.
func (u *User) Authorize(p influxql.Privilege, db string) bool {
	if u == nil {
		return false
	}
	if u.admin {
		return true
	}
	have := u.privileges[db]
	switch p {
	case influxql.NoPrivileges:
		return true
	case influxql.ReadPrivilege:
		return have == metapb.Privilege_PRIVILEGE_READ || have == metapb.Privilege_PRIVILEGE_ALL
	case influxql.WritePrivilege:
		return have == metapb.Privilege_PRIVILEGE_WRITE || have == metapb.Privilege_PRIVILEGE_ALL
	case influxql.AllPrivileges:
		return have == metapb.Privilege_PRIVILEGE_ALL
	}
	return false
}
