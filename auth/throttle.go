package auth

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// failureSlots is the size of the failure table. It bounds the memory an
// attacker can make us spend on tracking, whatever the number of users and
// clients they try.
const failureSlots = 1 << 14

// failures counts failed logins per key (a (user, client) pair, or a client
// alone) in a fixed-size,
// direct-mapped table of immutable entries replaced by compare-and-swap. No
// locks, no cleanup goroutine, and a lookup does not allocate. Two keys that
// land in the same slot evict each other; an attacker cannot aim for that
// (the hash seed is random per process) and each eviction costs them a
// bcrypt run like any other guess.
type failures struct {
	seed      maphash.Seed
	threshold int32
	window    int64 // nanoseconds
	// used counts the slots that hold an entry. While it is zero no key can
	// be blocked and none needs a reset, so the request path skips hashing
	// the key and touching the table (see idle).
	used  atomic.Int64
	slots [failureSlots]atomic.Pointer[failureEntry]
}

// failureEntry is immutable once published.
type failureEntry struct {
	key   uint64
	start int64 // unix nanoseconds of the first failure in the window
	count int32 // attempts that have not (yet) succeeded, at most threshold
}

func newFailures(threshold int, window time.Duration) *failures {
	return &failures{
		seed:      maphash.MakeSeed(),
		threshold: int32(min(threshold, 1<<30)),
		window:    int64(window),
	}
}

// key fingerprints (user, client). The user's length goes first so that no
// two pairs hash the same input. The per-client table uses key("", client).
func (f *failures) key(user, client string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(user)))
	h.Write(n[:])
	h.WriteString(user)
	h.WriteString(client)
	return h.Sum64()
}

// idle reports whether the table holds no entry at all: no key is blocked
// and none has attempts to forget. It is one atomic load.
func (f *failures) idle() bool { return f.used.Load() == 0 }

func (f *failures) slot(key uint64) *atomic.Pointer[failureEntry] {
	return &f.slots[key%failureSlots]
}

// blocked reports whether key has used up its attempts in the current
// window, and for how long it stays blocked. It does not write. now is
// called only when the entry is over the threshold.
func (f *failures) blocked(key uint64, now func() time.Time) (time.Duration, bool) {
	e := f.slot(key).Load()
	if e == nil || e.key != key || e.count < f.threshold {
		return 0, false
	}
	left := e.start + f.window - now().UnixNano()
	if left <= 0 {
		return 0, false
	}
	return time.Duration(left), true
}

// attempt records one attempt for key before the password is checked, so
// that concurrent guesses cannot overshoot the threshold. It reports whether
// the attempt must be refused (and for how long) instead.
func (f *failures) attempt(key uint64, nowNanos int64) (time.Duration, bool) {
	s := f.slot(key)
	for {
		old := s.Load()
		next := &failureEntry{key: key, start: nowNanos, count: 1}
		if old != nil && old.key == key && nowNanos-old.start < f.window {
			if old.count >= f.threshold {
				return time.Duration(old.start + f.window - nowNanos), true
			}
			next.start, next.count = old.start, old.count+1
		}
		if s.CompareAndSwap(old, next) {
			if old == nil {
				f.used.Add(1)
			}
			return 0, false
		}
	}
}

// reset forgets key's attempts after a success. It writes only when there is
// something to forget.
func (f *failures) reset(key uint64) {
	s := f.slot(key)
	if e := s.Load(); e != nil && e.key == key && s.CompareAndSwap(e, nil) {
		f.used.Add(-1)
	}
}

// forgive takes back one attempt of key, recorded by attempt before a check
// that then succeeded.
func (f *failures) forgive(key uint64) {
	s := f.slot(key)
	for {
		e := s.Load()
		if e == nil || e.key != key || e.count == 0 {
			return
		}
		if s.CompareAndSwap(e, &failureEntry{key: key, start: e.start, count: e.count - 1}) {
			return
		}
	}
}
