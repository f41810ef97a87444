package hh

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/configs"

	"github.com/palisade-db/palisade/internal/dirlock"
	"github.com/palisade-db/palisade/internal/testutil"
)

// fullLimit returns the limit err met, failing t unless err is a
// *FullError that errors.Is ErrQueueFull.
func fullLimit(t *testing.T, err error) string {
	t.Helper()
	var fe *FullError
	if !errors.As(err, &fe) || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue: %v, want a *FullError", err)
	}
	return fe.Limit
}

// reopenedPayloads closes svc, opens its directory again with a sender
// that delivers, and returns what reaches node: what the queue kept.
func reopenedPayloads(t *testing.T, svc *Service, cfg Config, node uint64) []string {
	t.Helper()
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	s := newRecorder()
	svc2 := mustOpen(t, cfg, s)
	mustDrain(t, svc2, node)
	return s.payloads(node)
}

// TestMaxTotalSizeBoundsEveryQueue (issue 17, point 9): max-total-size
// bounds the queues of all destinations together; a refused record is not
// kept, and delivering frees room.
func TestMaxTotalSizeBoundsEveryQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxTotalSize = configs.Size(3 * frameSize(2))
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 1, 1, "a0")
	mustEnqueue(t, svc, 2, 1, "b0")
	mustEnqueue(t, svc, 1, 1, "a1")
	for _, node := range []uint64{1, 2, 3} { // 3: a node that has no queue yet
		if l := fullLimit(t, svc.Enqueue(node, 1, []byte(fmt.Sprintf("x%d", node)))); l != LimitMaxTotalSize {
			t.Errorf("node %d: limit %q, want %q", node, l, LimitMaxTotalSize)
		}
	}
	if got, want := svc.TotalBytes(), 3*frameSize(2); got != want {
		t.Errorf("TotalBytes = %d, want %d", got, want)
	}
	err := svc.Enqueue(2, 1, []byte("b1"))
	if fullLimit(t, err); !strings.Contains(err.Error(), "max-total-size") {
		t.Errorf("message %q does not name max-total-size", err)
	}
	s.setFail(func(node uint64, _ Record, _ int) error { // node 2 answers again
		if node == 1 {
			return errDown
		}
		return nil
	})
	svc.Kick(2)
	mustDrain(t, svc, 2)
	mustEnqueue(t, svc, 1, 1, "a2") // node 2's record left: room again
	if got, want := svc.TotalBytes(), 3*frameSize(2); got != want {
		t.Errorf("TotalBytes after delivery and one more = %d, want %d", got, want)
	}
	checkEqual(t, "kept for node 1", reopenedPayloads(t, svc, cfg, 1), []string{"a0", "a1", "a2"})
}

// TestMaxTotalSizeCountsRecoveredQueues: after a restart, the records
// already queued count towards max-total-size.
func TestMaxTotalSizeCountsRecoveredQueues(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	mustEnqueue(t, svc, 1, 1, "a0")
	mustEnqueue(t, svc, 2, 1, "b0")
	svc.Close()
	cfg.MaxTotalSize = configs.Size(2 * frameSize(2))
	svc = mustOpen(t, cfg, s)
	if got := svc.TotalBytes(); got != 2*frameSize(2) {
		t.Errorf("TotalBytes after reopening = %d, want %d", got, 2*frameSize(2))
	}
	if l := fullLimit(t, svc.Enqueue(3, 1, []byte("c0"))); l != LimitMaxTotalSize {
		t.Errorf("limit %q, want %q", l, LimitMaxTotalSize)
	}
}

// TestMinFreeSpaceRefusesBeforeTheDiskFills: with less free space on the
// queues' filesystem than min-free-space, nothing is written at all.
func TestMinFreeSpaceRefusesBeforeTheDiskFills(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MinFreeSpace = configs.Size(math.MaxInt64 / 2) // more than any disk has
	svc := mustOpen(t, cfg, newRecorder())
	err := svc.Enqueue(1, 1, []byte("p0"))
	if l := fullLimit(t, err); l != LimitMinFreeSpace {
		t.Fatalf("limit %q, want %q", l, LimitMinFreeSpace)
	}
	if strings.Contains(err.Error(), cfg.Dir) {
		t.Errorf("message %q names the directory (clients see it)", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused record created node 1's queue: %v", err)
	}
	cfg2 := testConfig(t)
	cfg2.MinFreeSpace = configs.Size(1)
	mustEnqueue(t, mustOpen(t, cfg2, newRecorder()), 1, 1, "p0")
}

// TestEnqueueOnAFullFilesystem (issue 17, point 9): on a real filesystem
// that fills up (a 1 MiB tmpfs in a mount namespace of the test's own),
// every Enqueue either returns nil and the record is kept, or returns a
// *FullError (the disk's ENOSPC); once replay delivered the records, there
// is room again without a restart, with many segments (a delivered segment
// is deleted although the full disk cannot take the read position) and
// with one (the drained active segment is given up at the next append).
// What the queue keeps is exactly what was acknowledged.
func TestEnqueueOnAFullFilesystem(t *testing.T) {
	dir, child := testutil.SmallTmpfs(t, "1m")
	if !child {
		return
	}
	for _, segSize := range []int64{64 << 10, DefaultSegmentSize} {
		cfg := testConfig(t)
		cfg.Dir = filepath.Join(dir, fmt.Sprintf("hh-%d", segSize))
		cfg.SegmentSize = segSize
		fillAndDrain(t, cfg)
		if err := os.RemoveAll(cfg.Dir); err != nil {
			t.Fatal(err)
		}
	}
}

func fillAndDrain(t *testing.T, cfg Config) {
	s := newRecorder()
	s.setFail(down)
	svc, err := Open(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	payload := func(i int) []byte {
		return []byte(fmt.Sprintf("%06d%s", i, strings.Repeat("x", 8<<10)))
	}
	var acked []string
	refused := 0
	for i := 0; refused < 20; i++ {
		if i > 1000 {
			t.Fatalf("1000 records of 8 KiB fit on a 1 MiB filesystem")
		}
		err := svc.Enqueue(1, 1, payload(i))
		if err == nil {
			acked = append(acked, string(payload(i)))
			continue
		}
		if l := fullLimit(t, err); l != LimitDisk || !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("record %d: %v (limit %q), want the disk's ENOSPC", i, err, l)
		}
		refused++
	}
	if len(acked) < 50 {
		t.Fatalf("only %d records of 8 KiB fit on a 1 MiB filesystem", len(acked))
	}
	t.Logf("segments of %d bytes: %d records kept, then %d refused", cfg.SegmentSize, len(acked), refused)

	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), acked)
	var last error
	waitFor(t, "room on the disk again", func() bool {
		last = svc.Enqueue(1, 1, payload(-1))
		return last == nil
	})
	mustDrain(t, svc, 1)
	if got := s.payloads(1); got[len(got)-1] != string(payload(-1)) {
		t.Errorf("the record enqueued after the drain was not delivered last")
	}
}

// TestSecondServiceOnOneDirIsRefused (issue 17, point 10): two services
// (two nodes) on one hinted-handoff directory replay each other's records;
// the second is refused, naming the directory and the holder.
func TestSecondServiceOnOneDirIsRefused(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	first := newRecorder()
	first.setFail(down)
	svc := mustOpen(t, cfg, first)
	mustEnqueue(t, svc, 3, 1, "p0")
	_, err := Open(cfg, newRecorder())
	if !errors.Is(err, dirlock.ErrInUse) {
		t.Fatalf("second Open: %v, want dirlock.ErrInUse", err)
	}
	for _, want := range []string{"[hinted-handoff] dir", cfg.Dir, fmt.Sprintf("pid %d", os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not contain %q", err, want)
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock file left behind is not a queue.
	s := newRecorder()
	svc2 := mustOpen(t, cfg, s)
	mustDrain(t, svc2, 3)
	checkEqual(t, "delivered after the first closed", s.payloads(3), []string{"p0"})
	if st := svc2.Stats(); len(st) != 1 || st[0].Node != 3 {
		t.Errorf("stats %+v, want node 3's queue only", st)
	}
}

// TestDrainedQueueGivesItsSegmentBack (issue 17, point 9): a queue whose
// records were all delivered deletes its last segment at once; it used to
// keep it until a later append filled it or started another, which a full
// disk never allowed.
func TestDrainedQueueGivesItsSegmentBack(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := newRecorder()
	svc := mustOpen(t, cfg, s)
	for _, p := range payloads(3) {
		mustEnqueue(t, svc, 1, 1, p)
	}
	mustDrain(t, svc, 1)
	dir := filepath.Join(cfg.Dir, "1")
	waitFor(t, "the drained segment deleted", func() bool { return len(segments(t, dir)) == 0 })
	mustEnqueue(t, svc, 1, 1, "p3")
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), payloads(4))
	svc.Close()
	if st := statsOf(mustOpen(t, cfg, newRecorder()), 1); st.Records != 0 || st.Bytes != 0 {
		t.Errorf("after a restart the queue holds %+v, want nothing", st)
	}
}
