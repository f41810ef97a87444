// Package cowmap is an immutable map that is changed by making a new
// version: a change copies only the buckets it touches, so a version that
// differs from the last in a few keys costs a few small copies, not a
// copy of every key. Versions share everything else and never change, so
// readers need no lock.
package cowmap

import (
	"hash/maphash"
	"iter"
)

// perBucket is the mean bucket size the map grows at: a change copies a
// bucket of about this many keys (at most twice as many), plus the slice
// of bucket pointers (a fortieth of the keys at this size, one memmove).
const perBucket = 32

// Map is one immutable version. The zero value is not usable: New.
type Map[K comparable, V any] struct {
	seed    maphash.Seed
	buckets []map[K]V
	n       int
}

// New returns an empty map sized for about hint keys.
func New[K comparable, V any](hint int) *Map[K, V] {
	return &Map[K, V]{seed: maphash.MakeSeed(), buckets: make([]map[K]V, bucketsFor(hint))}
}

func bucketsFor(n int) int {
	b := 1
	for b*perBucket < n {
		b *= 2
	}
	return b
}

func (m *Map[K, V]) bucket(k K) int {
	return int(maphash.Comparable(m.seed, k) & uint64(len(m.buckets)-1))
}

// Get returns the value of k.
func (m *Map[K, V]) Get(k K) (V, bool) {
	v, ok := m.buckets[m.bucket(k)][k]
	return v, ok
}

// Len returns the number of keys.
func (m *Map[K, V]) Len() int { return m.n }

// All yields every key and value, in no order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, b := range m.buckets {
			for k, v := range b {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Editor changes a new version (Edit).
type Editor[K comparable, V any] struct {
	m      *Map[K, V]
	copied map[int]bool
}

// Edit returns the version that fn's changes make of m; m stays as it was.
func (m *Map[K, V]) Edit(fn func(e *Editor[K, V])) *Map[K, V] {
	n := &Map[K, V]{seed: m.seed, buckets: append([]map[K]V(nil), m.buckets...), n: m.n}
	fn(&Editor[K, V]{m: n, copied: map[int]bool{}})
	if n.n > 2*perBucket*len(n.buckets) {
		return n.regrow()
	}
	return n
}

// own returns k's bucket in the new version, copied on first touch.
func (e *Editor[K, V]) own(k K) map[K]V {
	i := e.m.bucket(k)
	if !e.copied[i] {
		b := make(map[K]V, len(e.m.buckets[i])+1)
		for k, v := range e.m.buckets[i] {
			b[k] = v
		}
		e.m.buckets[i] = b
		e.copied[i] = true
	}
	return e.m.buckets[i]
}

// Set sets k to v.
func (e *Editor[K, V]) Set(k K, v V) {
	b := e.own(k)
	if _, ok := b[k]; !ok {
		e.m.n++
	}
	b[k] = v
}

// Delete removes k.
func (e *Editor[K, V]) Delete(k K) {
	if _, ok := e.m.buckets[e.m.bucket(k)][k]; !ok {
		return
	}
	delete(e.own(k), k)
	e.m.n--
}

// regrow spreads m over more buckets (amortized: it runs each time the
// map doubles past its size).
func (m *Map[K, V]) regrow() *Map[K, V] {
	n := &Map[K, V]{seed: m.seed, buckets: make([]map[K]V, bucketsFor(m.n))}
	for k, v := range m.All() {
		i := n.bucket(k)
		if n.buckets[i] == nil {
			n.buckets[i] = map[K]V{}
		}
		n.buckets[i][k] = v
	}
	n.n = m.n
	return n
}
