package hh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
)

var errDown = errors.New("node down")

// recorder is a Sender that records what it delivers. fail, when set,
// decides per attempt (nil: deliver).
type recorder struct {
	mu       sync.Mutex
	got      map[uint64][]Record
	attempts int
	times    []time.Time
	fail     func(node uint64, r Record, attempt int) error
}

func newRecorder() *recorder { return &recorder{got: map[uint64][]Record{}} }

func (s *recorder) Send(ctx context.Context, node uint64, r Record) error {
	s.mu.Lock()
	s.attempts++
	s.times = append(s.times, time.Now())
	attempt, fail := s.attempts, s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(node, r, attempt); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.got[node] = append(s.got[node], r)
	s.mu.Unlock()
	return nil
}

func (s *recorder) setFail(f func(node uint64, r Record, attempt int) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *recorder) payloads(node uint64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.got[node] {
		out = append(out, string(r.Payload))
	}
	return out
}

func (s *recorder) attemptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func down(uint64, Record, int) error { return errDown }

func testConfig(t testing.TB) Config {
	return Config{
		Dir:           t.TempDir(),
		RetryInterval: configs.Duration(10 * time.Millisecond),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustOpen(t testing.TB, cfg Config, s Sender) *Service {
	t.Helper()
	svc, err := Open(cfg, s)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func mustEnqueue(t testing.TB, svc *Service, node, shard uint64, payload string) {
	t.Helper()
	if err := svc.Enqueue(node, shard, []byte(payload)); err != nil {
		t.Fatalf("Enqueue(%d, %d, %q): %v", node, shard, payload, err)
	}
}

func mustDrain(t testing.TB, svc *Service, node uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Drain(ctx, node); err != nil {
		t.Fatalf("Drain(%d): %v; stats %+v", node, err, svc.Stats())
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func statsOf(svc *Service, node uint64) NodeStats {
	for _, st := range svc.Stats() {
		if st.Node == node {
			return st
		}
	}
	return NodeStats{Node: node}
}

// payloads returns "p0".."p<n-1>".
func payloads(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d", i)
	}
	return out
}

func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func checkEqual(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
