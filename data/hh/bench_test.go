package hh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
)

type nopSender struct{}

func (nopSender) Send(context.Context, uint64, Record) error { return nil }

// benchPayloads: a 5,000-point write (about 50 bytes of line protocol a
// point) and a small one.
var benchPayloads = []struct {
	name string
	size int
}{{"250KB", 250_000}, {"200B", 200}}

// BenchmarkEnqueue measures durable appends: every Enqueue returns after an
// fsync; in parallel, appends share fsyncs.
func BenchmarkEnqueue(b *testing.B) {
	for _, p := range benchPayloads {
		payload := make([]byte, p.size)
		for _, mode := range []string{"serial", "parallel"} {
			b.Run(fmt.Sprintf("payload=%s/%s", p.name, mode), func(b *testing.B) {
				cfg := testConfig(b)
				cfg.MaxSize = configs.Size(1 << 40)
				s := newRecorder()
				s.setFail(down)
				cfg.RetryInterval = configs.Duration(time.Hour)
				svc := mustOpen(b, cfg, s)
				b.SetBytes(int64(p.size))
				b.ResetTimer()
				if mode == "serial" {
					for b.Loop() {
						if err := svc.Enqueue(1, 1, payload); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(16) // 16 x GOMAXPROCS writers
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := svc.Enqueue(1, 1, payload); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkReplay measures replay through a Sender that does nothing:
// reading, checking and deleting segments, and saving the read position.
func BenchmarkReplay(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run("payload="+p.name, func(b *testing.B) { benchReplay(b, p.size, nopSender{}) })
	}
}

type nopBatchSender struct{ nopSender }

func (nopBatchSender) SendBatch(_ context.Context, _ uint64, recs []Record) (int, error) {
	return len(recs), nil
}

// BenchmarkReplayBatch compares replay one record per Send with replay in
// SendBatch calls (default ReplayBatchBytes), through senders that do
// nothing: what batching costs or saves in the queue itself.
func BenchmarkReplayBatch(b *testing.B) {
	for _, p := range benchPayloads {
		for _, sd := range []struct {
			name string
			s    Sender
		}{{"single", nopSender{}}, {"batch", nopBatchSender{}}} {
			b.Run(fmt.Sprintf("payload=%s/sender=%s", p.name, sd.name), func(b *testing.B) { benchReplay(b, p.size, sd.s) })
		}
	}
}

// benchReplay queues b.N records of size bytes, then times their replay
// through s.
func benchReplay(b *testing.B, size int, s Sender) {
	cfg := testConfig(b)
	cfg.MaxSize = configs.Size(1 << 40)
	writeSegments(b, filepath.Join(cfg.Dir, "1"), b.N, make([]byte, size))
	b.SetBytes(int64(size))
	b.ResetTimer()
	svc := mustOpen(b, cfg, s)
	mustDrain(b, svc, 1)
	b.StopTimer()
	if st := statsOf(svc, 1); st.Delivered != uint64(b.N) {
		b.Fatalf("delivered %d of %d", st.Delivered, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// writeSegments writes n records of node 1's queue as Enqueue would lay
// them out in DefaultSegmentSize segments, without an fsync per record
// (Enqueue's cost is BenchmarkEnqueue's; here it would only make the
// untimed setup last minutes).
func writeSegments(b *testing.B, dir string, n int, payload []byte) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	var seg []byte
	id := uint64(1)
	flush := func() {
		if err := os.WriteFile(filepath.Join(dir, segmentName(id)), seg, 0o600); err != nil {
			b.Fatal(err)
		}
		id++
		seg = nil
	}
	for range n {
		if seg == nil {
			seg = segmentHeader()
		}
		seg = appendFrame(seg, 1, at, payload)
		if int64(len(seg)) >= DefaultSegmentSize {
			flush()
		}
	}
	if seg != nil {
		flush()
	}
}
