package hh

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fill enqueues payloads to node 1 while the node is down, then closes.
func fill(t *testing.T, cfg Config, want []string) {
	t.Helper()
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	for _, p := range want {
		mustEnqueue(t, svc, 1, 1, p)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}

// replayAll reopens cfg.Dir with a working node and returns what node 1
// receives.
func replayAll(t *testing.T, cfg Config) ([]string, NodeStats) {
	t.Helper()
	s := newRecorder()
	svc := mustOpen(t, cfg, s)
	mustDrain(t, svc, 1)
	st := statsOf(svc, 1)
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	return s.payloads(1), st
}

// Only the record in flight when the service stopped is sent twice.
func TestRestartReplaysWhatWasNotDelivered(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SegmentSize = 64
	want := payloads(30)
	inFlight := make(chan struct{})
	s := newRecorder()
	// Hold p10 in flight until Close cancels it.
	blocking := senderFunc(func(ctx context.Context, node uint64, r Record) error {
		if string(r.Payload) == "p10" {
			close(inFlight)
			<-ctx.Done()
			return ctx.Err()
		}
		return s.Send(ctx, node, r)
	})
	svc := mustOpen(t, cfg, blocking)
	for _, p := range want {
		mustEnqueue(t, svc, 1, 1, p)
	}
	<-inFlight
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "before restart", s.payloads(1), want[:10])

	got, st := replayAll(t, cfg)
	checkEqual(t, "after restart", got, want[10:])
	if st.Corrupt != 0 || st.Delivered != 20 {
		t.Errorf("stats after restart: %+v", st)
	}
	// Nothing is sent a third time.
	got, _ = replayAll(t, cfg)
	checkEqual(t, "after a second restart", got, nil)
}

type senderFunc func(ctx context.Context, node uint64, r Record) error

func (f senderFunc) Send(ctx context.Context, node uint64, r Record) error { return f(ctx, node, r) }

// A crash during an append leaves a partial frame, or a file extended with
// zeros, at the end of the last segment: only that record, never
// acknowledged, is lost, and it is not counted as corrupt.
func TestTornTailLosesOnlyTheTornRecord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		tear func(t *testing.T, path string)
	}{
		{"partial frame", func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)-3); err != nil {
				t.Fatal(err)
			}
		}},
		{"partial frame header", func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)-frameSize(3)+5); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeros after the last frame", func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)+4096); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			want := payloads(20) // "p10".."p19" are 3 bytes
			fill(t, cfg, want)
			segs := segments(t, filepath.Join(cfg.Dir, "1"))
			tt.tear(t, segs[len(segs)-1])
			got, st := replayAll(t, cfg)
			if tt.name == "zeros after the last frame" {
				checkEqual(t, "delivered", got, want)
			} else {
				checkEqual(t, "delivered", got, want[:19])
			}
			if st.Corrupt != 0 {
				t.Errorf("Corrupt = %d, want 0 (a torn tail is not corruption)", st.Corrupt)
			}
		})
	}
}

// A corrupt record is counted and skipped, never sent; the records around
// it are delivered.
func TestCorruptRecordIsSkippedNeverSent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		segSize int64
		at      func(t *testing.T, segs []string) (path string, off int64)
		want    []int // indexes of payloads(6) delivered
	}{
		{"payload bit flip in the last segment", 1 << 20,
			func(t *testing.T, segs []string) (string, int64) {
				return segs[0], segmentHeaderSize + 2*frameSize(2) + recordOverhead
			}, []int{0, 1, 3, 4, 5}},
		{"impossible length in an older segment", segmentHeaderSize + 2*frameSize(2),
			func(t *testing.T, segs []string) (string, int64) {
				return segs[1], segmentHeaderSize + 1 // high byte of the length
			}, []int{0, 1, 4, 5}},
		{"bad segment header", frameSize(2),
			func(t *testing.T, segs []string) (string, int64) { return segs[2], 0 },
			[]int{0, 1, 3, 4, 5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.SegmentSize = tt.segSize
			all := payloads(6)
			fill(t, cfg, all)
			path, off := tt.at(t, segments(t, filepath.Join(cfg.Dir, "1")))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x80
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			got, st := replayAll(t, cfg)
			var want []string
			for _, i := range tt.want {
				want = append(want, all[i])
			}
			checkEqual(t, "delivered", got, want)
			if st.Corrupt != 1 {
				t.Errorf("Corrupt = %d, want 1", st.Corrupt)
			}
		})
	}
}

// A position file that does not check replays the whole queue: duplicates,
// never a loss.
func TestCorruptPositionReplaysEverything(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	want := payloads(5)
	fill(t, cfg, want)
	got, _ := replayAll(t, cfg)
	checkEqual(t, "first replay", got, want)
	pos := filepath.Join(cfg.Dir, "1", positionFile)
	if err := os.WriteFile(pos, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ = replayAll(t, cfg)
	if !slices.Equal(got, want) && len(got) != 0 {
		t.Errorf("after a corrupt position: %q", got)
	}
}

// Records enqueued after a restart go to a new segment and come after the
// recovered ones.
func TestRestartThenAppendKeepsOrder(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	fill(t, cfg, []string{"a", "b"})
	s := newRecorder()
	s.setFail(down)
	svc := mustOpen(t, cfg, s)
	if !svc.Pending(1) || !svc.PendingShard(1, 1) {
		t.Error("recovered records not pending")
	}
	mustEnqueue(t, svc, 1, 1, "c")
	s.setFail(nil)
	svc.Kick(1)
	mustDrain(t, svc, 1)
	checkEqual(t, "delivered", s.payloads(1), []string{"a", "b", "c"})
}
