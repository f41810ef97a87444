package hh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
)

// batchRecorder is a BatchSender that records what it delivers and each
// call's payloads. failBatch, when set, decides per call how many records
// are delivered and with which error (nil: all, nil); when it returns an
// error, it records what arrived itself (arrive).
type batchRecorder struct {
	*recorder
	calls     [][]string
	failBatch func(node uint64, recs []Record, call int) (int, error)
}

func newBatchRecorder() *batchRecorder { return &batchRecorder{recorder: newRecorder()} }

func (s *batchRecorder) SendBatch(ctx context.Context, node uint64, recs []Record) (int, error) {
	s.mu.Lock()
	var ps []string
	for _, r := range recs {
		ps = append(ps, string(r.Payload))
	}
	s.calls = append(s.calls, ps)
	call, fail := len(s.calls), s.failBatch
	s.mu.Unlock()
	n, err := len(recs), error(nil)
	if fail != nil {
		n, err = fail(node, recs, call)
	}
	if err == nil {
		s.arrive(node, recs[:n]...)
	}
	return n, err
}

func (s *batchRecorder) arrive(node uint64, recs ...Record) {
	s.mu.Lock()
	s.got[node] = append(s.got[node], recs...)
	s.mu.Unlock()
}

func (s *batchRecorder) setFailBatch(f func(node uint64, recs []Record, call int) (int, error)) {
	s.mu.Lock()
	s.failBatch = f
	s.mu.Unlock()
}

func (s *batchRecorder) callLog() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.calls...)
}

func downBatch(uint64, []Record, int) (int, error) { return 0, errDown }

// fillDown enqueues payloads (shard 1) for node 1 while SendBatch fails,
// and waits for the first failed call.
func fillDown(t *testing.T, svc *Service, s *batchRecorder, want []string) {
	t.Helper()
	s.setFailBatch(downBatch)
	for _, p := range want {
		mustEnqueue(t, svc, 1, 1, p)
	}
	waitFor(t, "a first call", func() bool { return len(s.callLog()) > 0 })
}

// Batches follow enqueue order across segments; each holds at most 64
// records and ReplayBatchBytes of payload plus one record.
func TestBatchReplayKeepsOrderAcrossSegments(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 200 // a few records per segment
	cfg.ReplayBatchBytes = 40
	cfg.RetryInterval = configs.Duration(time.Hour)
	s := newBatchRecorder()
	svc := mustOpen(t, cfg, s)
	want := make([]string, 300)
	for i := range want {
		want[i] = fmt.Sprintf("r%03d", i) // 4 bytes: a batch is 10 records
	}
	fillDown(t, svc, s, want)
	s.setFailBatch(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), want)
	full := 0
	for _, c := range s.callLog()[1:] { // the first call failed
		if len(c) > 10 {
			t.Errorf("a batch of %d records of 4 bytes, over ReplayBatchBytes (40) plus one record", len(c))
		}
		if len(c) == 10 {
			full++
		}
	}
	if full < 25 {
		t.Errorf("%d full batches of 10 records out of 30", full)
	}
	if segs := segments(t, filepath.Join(cfg.Dir, "1")); len(segs) > 1 {
		t.Errorf("segments left after delivery: %q", segs)
	}
	if st := statsOf(svc, 1); st.Delivered != 300 || st.Records != 0 || st.Bytes != 0 {
		t.Errorf("stats: %+v", st)
	}

	// A batch is at most 64 records, whatever their size.
	cfg2 := testConfig(t)
	s2 := newBatchRecorder()
	svc2 := mustOpen(t, cfg2, s2)
	fillDown(t, svc2, s2, payloads(200))
	s2.setFailBatch(nil)
	svc2.Kick(1)
	mustDrain(t, svc2, 1)
	checkEqual(t, "delivered", s2.payloads(1), payloads(200))
	for _, c := range s2.callLog() {
		if len(c) > replayBatchRecords {
			t.Errorf("a batch of %d records", len(c))
		}
	}
}

// A batch that fails after a delivered prefix is retried from its first
// record not delivered: nothing is lost or reordered, and the only
// duplicate is the record that was in flight (it arrived, its answer did
// not). The read position covers the prefix: a restart resends only the rest.
func TestBatchPartialFailureResumesAfterPrefix(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 64
	cfg.RetryInterval = configs.Duration(time.Millisecond)
	s := newBatchRecorder()
	svc := mustOpen(t, cfg, s)
	want := payloads(40)
	fillDown(t, svc, s, want)
	s.setFailBatch(func(node uint64, recs []Record, call int) (int, error) {
		if string(recs[0].Payload) == "p0" {
			if len(recs) < 8 { // a window read before the last enqueues
				return 0, errDown
			}
			// p0..p6 delivered; p7 arrived but its answer was lost.
			s.arrive(node, recs[:8]...)
			return 7, errDown
		}
		return len(recs), nil
	})
	svc.Kick(1)
	mustDrain(t, svc, 1)
	got := s.payloads(1)
	checkEqual(t, "delivered", got, slices.Concat(want[:8], want[7:]))
	if st := statsOf(svc, 1); st.Delivered != 40 || st.Undeliverable != 0 {
		t.Errorf("stats: %+v", st)
	}

	// After a restart, only what follows the delivered prefix is sent.
	cfg = testConfig(t)
	cfg.SegmentSize = 64
	cfg.RetryInterval, cfg.RetryMaxInterval = configs.Duration(time.Hour), configs.Duration(time.Hour)
	s = newBatchRecorder()
	svc = mustOpen(t, cfg, s)
	fillDown(t, svc, s, want)
	s.setFailBatch(func(node uint64, recs []Record, _ int) (int, error) {
		if string(recs[0].Payload) == "p0" && len(recs) > 12 {
			s.arrive(node, recs[:12]...)
			return 12, errDown
		}
		return 0, errDown
	})
	svc.Kick(1)
	waitFor(t, "the prefix delivered", func() bool { return statsOf(svc, 1).Delivered == 12 })
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "before restart", s.payloads(1), want[:12])
	s2 := newBatchRecorder()
	svc = mustOpen(t, cfg, s2)
	mustDrain(t, svc, 1)
	checkEqual(t, "after restart", s2.payloads(1), want[12:])
}

// A permanent error drops exactly records[delivered]; the rest of the batch
// goes at once, without a backoff.
func TestBatchPermanentErrorDropsOnlyThatRecord(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RetryInterval, cfg.RetryMaxInterval = configs.Duration(time.Hour), configs.Duration(time.Hour)
	s := newBatchRecorder()
	svc := mustOpen(t, cfg, s)
	want := payloads(20)
	fillDown(t, svc, s, want)
	s.setFailBatch(func(node uint64, recs []Record, _ int) (int, error) {
		for i, r := range recs {
			if p := string(r.Payload); p == "p5" || p == "p6" || p == "p13" {
				s.arrive(node, recs[:i]...)
				return i, fmt.Errorf("sending %s: %w", p, Permanent(errors.New("refused")))
			}
		}
		return len(recs), nil
	})
	// The first (failed) attempt set an hour's backoff: Kick ends it.
	svc.Kick(1)
	mustDrain(t, svc, 1)
	var wantGot []string
	for _, p := range want {
		if p != "p5" && p != "p6" && p != "p13" {
			wantGot = append(wantGot, p)
		}
	}
	checkEqual(t, "delivered", s.payloads(1), wantGot)
	if st := statsOf(svc, 1); st.Undeliverable != 3 || st.Delivered != 17 {
		t.Errorf("stats: %+v", st)
	}
	calls := s.callLog()
	checkEqual(t, "calls after the failed one", firsts(calls[1:]), []string{"p0", "p6", "p7", "p14"})
}

func firsts(calls [][]string) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c[0])
	}
	return out
}

// Records of a purged shard and records older than max-age, in the middle
// of a batch, are passed (counted), never sent; the records around them go
// in one call.
func TestBatchSkipsPurgedAndExpiredInside(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxAge = configs.Duration(time.Hour)
	cfg.RetryInterval, cfg.RetryMaxInterval = configs.Duration(time.Hour), configs.Duration(time.Hour)
	var mu sync.Mutex
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newBatchRecorder()
	s.setFailBatch(downBatch)
	svc := mustOpen(t, cfg, s)
	later := t0.Add(2 * time.Hour)
	for _, r := range []struct {
		at    time.Time
		shard uint64
		p     string
	}{
		{later, 1, "a"}, {t0, 1, "old"}, {later, 2, "purged"}, {later, 1, "b"},
		{t0, 2, "old-purged"}, {later, 1, "c"},
	} {
		setNow(r.at) // a clock that steps back puts an old record in the middle
		mustEnqueue(t, svc, 1, r.shard, r.p)
	}
	waitFor(t, "first attempt", func() bool { return len(s.callLog()) >= 1 })
	setNow(later)
	svc.Purge(nil, func(shard uint64) bool { return shard != 2 })
	s.setFailBatch(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"a", "b", "c"})
	calls := s.callLog()
	checkEqual(t, "the batch after the purge", calls[len(calls)-1], []string{"a", "b", "c"})
	if st := statsOf(svc, 1); st.Delivered != 3 || st.Dropped != 1 || st.Purged != 2 || st.Records != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// A corrupt record inside a batch window is counted and skipped, never
// sent; the records on either side of it share one call.
func TestBatchSkipsCorruptRecordInside(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		segSize int64
		seg     int
		off     int64
		want    []int // indexes of payloads(6) delivered
	}{
		{"payload bit flip", 1 << 20, 0, segmentHeaderSize + 2*frameSize(2) + recordOverhead, []int{0, 1, 3, 4, 5}},
		{"impossible length in an older segment", segmentHeaderSize + 2*frameSize(2), 1, segmentHeaderSize + 1, []int{0, 1, 4, 5}},
		{"bad segment header", frameSize(2), 2, 0, []int{0, 1, 3, 4, 5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.SegmentSize = tt.segSize
			all := payloads(6)
			fill(t, cfg, all)
			path := segments(t, filepath.Join(cfg.Dir, "1"))[tt.seg]
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[tt.off] ^= 0x80
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s := newBatchRecorder()
			svc := mustOpen(t, cfg, s)
			mustDrain(t, svc, 1)
			var want []string
			for _, i := range tt.want {
				want = append(want, all[i])
			}
			checkEqual(t, "delivered", s.payloads(1), want)
			if calls := s.callLog(); len(calls) != 1 {
				t.Errorf("calls: %q, want one", calls)
			}
			if st := statsOf(svc, 1); st.Corrupt != 1 || st.Records != 0 || st.Bytes != 0 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// Under a rate limit, a batch is at most one second of it, and batches are
// spaced like records.
func TestBatchRetryRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RetryRateLimit = configs.Size(20_000) // bytes/s
	fill(t, cfg, slices.Repeat([]string{strings.Repeat("x", 5000)}, 6))
	start := time.Now()
	s := newBatchRecorder()
	svc := mustOpen(t, cfg, s)
	mustDrain(t, svc, 1)
	// 4 records (20,000 bytes) at once, the other 2 a second later.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("6 x 5000 bytes at 20,000 B/s took %v, want about 1 s", d)
	}
	for _, c := range s.callLog() {
		if len(c) > 4 {
			t.Errorf("a batch of %d records of 5000 bytes at 20,000 B/s", len(c))
		}
	}
}

// A sender that returns fewer records than it was given and no error has
// failed: the rest is retried, not dropped.
func TestBatchShortCountWithoutErrorIsRetried(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	fill(t, cfg, payloads(5))
	s := newBatchRecorder()
	s.setFailBatch(func(_ uint64, recs []Record, call int) (int, error) {
		if call == 1 {
			return 2, nil
		}
		return len(recs), nil
	})
	svc := mustOpen(t, cfg, s)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), payloads(5))
	if calls := s.callLog(); len(calls) != 2 || len(calls[1]) != 3 {
		t.Errorf("calls: %q", calls)
	}
}

// Many writers, failures every few calls: per writer, each record arrives
// in order, at least once, and nothing but the failed calls' tails twice.
func TestBatchConcurrentEnqueueAndReplay(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 4 << 10
	cfg.ReplayBatchBytes = 64
	cfg.RetryInterval = configs.Duration(time.Millisecond)
	s := newBatchRecorder()
	s.setFailBatch(func(node uint64, recs []Record, call int) (int, error) {
		if call%5 == 0 {
			s.arrive(node, recs[:len(recs)/2]...)
			return len(recs) / 2, errDown
		}
		return len(recs), nil
	})
	svc := mustOpen(t, cfg, s)
	const writers, perWriter = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := svc.Enqueue(1, uint64(w), fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	mustDrain(t, svc, 1)
	last := map[int]int{}
	for w := range writers {
		last[w] = -1
	}
	for _, r := range s.payloads(1) {
		var w, i int
		if _, err := fmt.Sscanf(r, "w%d-%d", &w, &i); err != nil {
			t.Fatal(err)
		}
		if i != last[w]+1 {
			t.Fatalf("writer %d: record %d after %d", w, i, last[w])
		}
		last[w] = i
	}
	for w := range writers {
		if last[w] != perWriter-1 {
			t.Errorf("writer %d: last record %d", w, last[w])
		}
	}
}

// Close during a batch in flight: after a restart, the batch is sent again
// from its first record, and nothing before it.
func TestBatchInFlightAtCloseIsResent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 64
	cfg.ReplayBatchBytes = 9 // batches: p0-p4, p5-p9, p10-p12, ...
	want := payloads(30)
	fill(t, cfg, want)
	s := &blockingBatch{batchRecorder: newBatchRecorder(), at: "p10", inFlight: make(chan struct{})}
	svc := mustOpen(t, cfg, s)
	<-s.inFlight
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "before restart", s.payloads(1), want[:10])
	s2 := newBatchRecorder()
	svc = mustOpen(t, cfg, s2)
	mustDrain(t, svc, 1)
	checkEqual(t, "after restart", s2.payloads(1), want[10:])
}

// blockingBatch holds the batch that starts with the payload at in flight
// until its context ends.
type blockingBatch struct {
	*batchRecorder
	at       string
	inFlight chan struct{}
}

func (s *blockingBatch) SendBatch(ctx context.Context, node uint64, recs []Record) (int, error) {
	if string(recs[0].Payload) == s.at {
		close(s.inFlight)
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return s.batchRecorder.SendBatch(ctx, node, recs)
}
