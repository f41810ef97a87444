package hh

import (
	"context"
	"fmt"
	"testing"
	"time"
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
				cfg.MaxSize = 1 << 40
				s := newRecorder()
				s.setFail(down)
				cfg.RetryInterval = time.Hour
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
		b.Run("payload="+p.name, func(b *testing.B) {
			payload := make([]byte, p.size)
			cfg := testConfig(b)
			cfg.MaxSize = 1 << 40
			fill := newRecorder()
			fill.setFail(down)
			svc := mustOpen(b, cfg, fill)
			for range b.N {
				if err := svc.Enqueue(1, 1, payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := svc.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(p.size))
			b.ResetTimer()
			svc = mustOpen(b, cfg, nopSender{})
			mustDrain(b, svc, 1)
			b.StopTimer()
			if st := statsOf(svc, 1); st.Delivered != uint64(b.N) {
				b.Fatalf("delivered %d of %d", st.Delivered, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
