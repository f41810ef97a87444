package cowmap

import (
	"math/rand/v2"
	"testing"
)

// TestVersionsStayAsTheyWere: random edits against a plain map, and
// every earlier version still reads as it did (nothing shared is changed).
func TestVersionsStayAsTheyWere(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := New[int, int](0)
	want := map[int]int{}
	type saved struct {
		m    *Map[int, int]
		want map[int]int
	}
	var versions []saved
	for round := range 300 {
		m = m.Edit(func(e *Editor[int, int]) {
			for range r.IntN(40) {
				k := r.IntN(5000)
				if r.IntN(4) == 0 {
					e.Delete(k)
					delete(want, k)
				} else {
					e.Set(k, round)
					want[k] = round
				}
			}
		})
		cp := make(map[int]int, len(want))
		for k, v := range want {
			cp[k] = v
		}
		versions = append(versions, saved{m, cp})
	}
	for i, v := range versions {
		if v.m.Len() != len(v.want) {
			t.Fatalf("version %d: %d keys, want %d", i, v.m.Len(), len(v.want))
		}
		n := 0
		for k, got := range v.m.All() {
			n++
			if w, ok := v.want[k]; !ok || w != got {
				t.Fatalf("version %d: %d=%d, want %d (present %v)", i, k, got, w, ok)
			}
		}
		for k, w := range v.want {
			if got, ok := v.m.Get(k); !ok || got != w {
				t.Fatalf("version %d: Get(%d) = %d, %v; want %d", i, k, got, ok, w)
			}
		}
		if n != len(v.want) {
			t.Fatalf("version %d: All yielded %d keys, want %d", i, n, len(v.want))
		}
	}
	if len(m.buckets) < 2 {
		t.Fatalf("the map never grew: %d buckets for %d keys", len(m.buckets), m.Len())
	}
}

// BenchmarkEditOneKey: changing one key of 100,000 copies one bucket.
func BenchmarkEditOneKey(b *testing.B) {
	m := New[int, int](100_000).Edit(func(e *Editor[int, int]) {
		for k := range 100_000 {
			e.Set(k, k)
		}
	})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m = m.Edit(func(e *Editor[int, int]) { e.Set(i%100_000, i) })
	}
}
