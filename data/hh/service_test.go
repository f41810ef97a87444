package hh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
)

func TestReplayKeepsEnqueueOrder(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 100 // a few records per segment
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	want := payloads(50)
	for i, p := range want {
		mustEnqueue(t, svc, 1, uint64(i%3), p)
	}
	if !svc.Pending(1) || !svc.PendingShard(1, 2) || svc.PendingShard(1, 9) || svc.Pending(2) {
		t.Error("Pending/PendingShard wrong before delivery")
	}
	var bytes int64
	for _, p := range want {
		bytes += frameSize(len(p))
	}
	if st := statsOf(svc, 1); st.Records != 50 || st.Bytes != bytes {
		t.Errorf("stats before delivery: %+v", st)
	}
	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), want)
	if svc.Pending(1) || svc.PendingShard(1, 2) {
		t.Error("still pending after Drain")
	}
	if st := statsOf(svc, 1); st.Delivered != 50 || st.Records != 0 || st.Bytes != 0 {
		t.Errorf("stats after delivery: %+v", st)
	}
	// Delivered segments are deleted; the active one may stay.
	if segs := segments(t, filepath.Join(cfg.Dir, "1")); len(segs) > 1 {
		t.Errorf("segments left after delivery: %q", segs)
	}
}

func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := newRecorder()
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 4, 1, "x")
	mustDrain(t, svc, 4)
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.Dir, "4")
	for _, p := range append(segments(t, dir), dir, filepath.Join(dir, positionFile)) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

func TestMaxSizeRefusesAndKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxSize = configs.Size(3 * frameSize(2))
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	for _, p := range []string{"p0", "p1", "p2"} {
		mustEnqueue(t, svc, 1, 1, p)
	}
	if err := svc.Enqueue(1, 1, []byte("p3")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4th Enqueue: %v, want ErrQueueFull", err)
	}
	if err := svc.Enqueue(1, 1, make([]byte, MaxPayload+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("huge Enqueue: %v, want ErrRecordTooLarge", err)
	}
	// Another node has its own budget.
	mustEnqueue(t, svc, 2, 1, "q0")
	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"p0", "p1", "p2"})
	mustEnqueue(t, svc, 1, 1, "p4") // room again
}

func TestMaxAgeDropsAndCounts(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxAge = configs.Duration(time.Hour)
	cfg.RetryInterval, cfg.RetryMaxInterval = configs.Duration(time.Hour), configs.Duration(time.Hour) // only Purge applies max-age
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	for _, p := range []string{"old0", "old1", "old2"} {
		mustEnqueue(t, svc, 1, 1, p)
	}
	waitFor(t, "first attempt", func() bool { return s.attemptCount() >= 1 })
	// "new" is enqueued 2 minutes after the others, before the clock
	// jumps: whether the replay loop (which applies max-age too) or the
	// purge drops the old records first, the oldest waiting record is at
	// least 59 minutes old, and "new" is never past max-age.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	mustEnqueue(t, svc, 1, 1, "new")
	mu.Lock()
	now = now.Add(59 * time.Minute)
	mu.Unlock()
	if st := statsOf(svc, 1); st.OldestAge < 59*time.Minute {
		t.Errorf("OldestAge = %v, want at least 59m", st.OldestAge)
	}
	svc.Purge(nil, nil) // the node still does not answer: purge applies max-age
	waitFor(t, "3 records dropped", func() bool { return statsOf(svc, 1).Dropped == 3 })
	if st := statsOf(svc, 1); st.Records != 1 || st.OldestAge != 59*time.Minute { // "new"'s age
		t.Errorf("stats after max-age: %+v", st)
	}
	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"new"})
}

func TestPermanentErrorDropsRecord(t *testing.T) {
	t.Parallel()
	s := newRecorder()
	s.setFail(func(_ uint64, r Record, _ int) error {
		if r.ShardID == 7 {
			return fmt.Errorf("sending: %w", Permanent(errors.New("node no longer owns shard 7")))
		}
		return nil
	})
	svc := mustOpen(t, testConfig(t), s)
	mustEnqueue(t, svc, 1, 1, "a")
	mustEnqueue(t, svc, 1, 7, "b")
	mustEnqueue(t, svc, 1, 1, "c")
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"a", "c"})
	if st := statsOf(svc, 1); st.Undeliverable != 1 || st.Delivered != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func TestPurgeRemovedNode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.PurgeInterval = configs.Duration(5 * time.Millisecond)
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 1, 1, "a")
	mustEnqueue(t, svc, 2, 1, "b")
	mustEnqueue(t, svc, 3, 1, "c")
	svc.Purge(func(n uint64) bool { return n != 2 }, nil)
	if svc.Pending(2) {
		t.Error("node 2 still pending")
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "2")); !os.IsNotExist(err) {
		t.Errorf("node 2's directory: %v, want it gone", err)
	}
	// The periodic purge uses the filter.
	svc.SetPurgeFilter(func(n uint64) bool { return n == 1 }, nil)
	waitFor(t, "node 3 purged", func() bool { return !svc.Pending(3) })
	if st := svc.Stats(); len(st) != 1 || st[0].Node != 1 || st[0].Records != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestPurgeDroppedShard(t *testing.T) {
	t.Parallel()
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, testConfig(t), s)
	for i, shard := range []uint64{1, 2, 1, 2, 3} {
		mustEnqueue(t, svc, 1, shard, fmt.Sprintf("s%d-%d", shard, i))
	}
	svc.Purge(nil, func(shard uint64) bool { return shard != 2 })
	if svc.PendingShard(1, 2) || !svc.PendingShard(1, 1) || !svc.PendingShard(1, 3) {
		t.Error("PendingShard wrong after purging shard 2")
	}
	if st := statsOf(svc, 1); st.Records != 3 || st.Purged != 2 {
		t.Errorf("stats after purge: %+v", st)
	}
	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"s1-0", "s1-2", "s3-4"})
}

func TestKickRetriesAtOnce(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RetryInterval = configs.Duration(time.Hour)
	cfg.RetryMaxInterval = configs.Duration(time.Hour)
	s := newRecorder()
	s.setFail(func(_ uint64, _ Record, attempt int) error {
		if attempt == 1 {
			return errDown
		}
		return nil
	})
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 1, 1, "a")
	waitFor(t, "first attempt", func() bool { return s.attemptCount() == 1 })
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"a"})
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RetryInterval = configs.Duration(20 * time.Millisecond)
	cfg.RetryMaxInterval = configs.Duration(80 * time.Millisecond)
	s := newRecorder()
	s.setFail(func(_ uint64, _ Record, attempt int) error {
		if attempt <= 5 {
			return errDown
		}
		return nil
	})
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 1, 1, "a")
	mustDrain(t, svc, 1)
	s.mu.Lock()
	times := s.times
	s.mu.Unlock()
	if len(times) != 6 {
		t.Fatalf("%d attempts, want 6", len(times))
	}
	for i, want := range []time.Duration{20, 40, 80, 80, 80} {
		want *= time.Millisecond
		// The upper bound is loose: on a loaded machine (the race
		// detector, packages tested in parallel) a retry comes up to
		// seconds late. The lower bounds check the doubling.
		if gap := times[i+1].Sub(times[i]); gap < want-2*time.Millisecond || gap > want+3*time.Second {
			t.Errorf("gap before attempt %d = %v, want about %v", i+2, gap, want)
		}
	}
}

func TestRetryRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RetryRateLimit = configs.Size(10_000) // bytes/s
	s := newRecorder()
	svc := mustOpen(t, cfg, s)
	start := time.Now()
	for range 4 {
		if err := svc.Enqueue(1, 1, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	mustDrain(t, svc, 1)
	// The first goes at once, each next 100 ms later.
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Errorf("4 x 1000 bytes at 10,000 B/s took %v, want at least 300 ms", d)
	}
}

func TestConcurrentEnqueueAndReplay(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 4 << 10
	cfg.RetryInterval = configs.Duration(time.Millisecond)
	cfg.RetryConcurrency = 2
	s := newRecorder()
	s.setFail(func(_ uint64, _ Record, attempt int) error {
		if attempt%7 == 0 {
			return errDown
		}
		return nil
	})
	svc := mustOpen(t, cfg, s)
	const writers, perWriter, nodes = 8, 100, 3
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				node := uint64(i%nodes + 1)
				if err := svc.Enqueue(node, uint64(w), fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					svc.Pending(node)
					svc.Stats()
					svc.Kick(node)
				}
			}
		})
	}
	wg.Wait()
	for node := uint64(1); node <= nodes; node++ {
		mustDrain(t, svc, node)
		s.mu.Lock()
		got := s.got[node]
		s.mu.Unlock()
		// Per writer, in order, each once.
		last, want := map[int]int{}, 0
		for w := range writers {
			last[w] = -1
			for i := range perWriter {
				if uint64(i%nodes+1) == node {
					want++
				}
			}
		}
		for _, r := range got {
			var w, i int
			if _, err := fmt.Sscanf(string(r.Payload), "w%d-%d", &w, &i); err != nil {
				t.Fatal(err)
			}
			if i <= last[w] || uint64(i%nodes+1) != node {
				t.Fatalf("node %d: writer %d: record %d after %d", node, w, i, last[w])
			}
			last[w] = i
		}
		if len(got) != want {
			t.Errorf("node %d: %d records delivered, want %d", node, len(got), want)
		}
	}
}

func TestEnqueueAfterClose(t *testing.T) {
	t.Parallel()
	svc := mustOpen(t, testConfig(t), newRecorder())
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Enqueue(1, 1, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if err := svc.Drain(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Drain after Close: %v, want ErrClosed", err)
	}
}
