package meta_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// BenchmarkExecute3Nodes measures committed commands per second on a
// 3-node cluster (fsync'd Raft log on every node), with 1 to 64 concurrent
// proposers: Raft batches concurrent proposals into one append.
func BenchmarkExecute3Nodes(b *testing.B) {
	c := testcluster.New(b, testcluster.Options{Meta: 3})
	mustExecute(b, c, 0, createHashedUser("bench", testHash))
	// Another admin, so that toggling bench's flag never meets the last-admin rule.
	mustExecute(b, c, 0, createHashedUser("keeper", testHash))
	mustExecute(b, c, 0, setAdmin("keeper", true))
	ctx := context.Background()
	for _, tc := range []struct {
		via         string
		parallelism int // goroutines per GOMAXPROCS
	}{
		{"leader", 0}, {"leader", 4}, {"leader", 32}, {"follower", 32},
	} {
		name := fmt.Sprintf("via=%s/serial", tc.via)
		if tc.parallelism > 0 {
			name = fmt.Sprintf("via=%s/goroutines=%dxGOMAXPROCS", tc.via, tc.parallelism)
		}
		b.Run(name, func(b *testing.B) {
			node := c.WaitForLeader()
			if tc.via == "follower" {
				node = c.Nodes[c.Follower()]
			}
			var n atomic.Int64
			exec := func() {
				if _, err := node.Store.Execute(ctx, setAdmin("bench", n.Add(1)%2 == 0)); err != nil {
					b.Error(err)
				}
			}
			if tc.parallelism == 0 {
				for b.Loop() {
					exec()
				}
			} else {
				b.SetParallelism(tc.parallelism)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						exec()
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}

// BenchmarkWatchLatency measures the time from a change being applied on
// the leader to a Client.Watch subscriber (on the leader, or on a follower)
// receiving it. Changes are made one at a time, so none is coalesced.
func BenchmarkWatchLatency(b *testing.B) {
	c := testcluster.New(b, testcluster.Options{Meta: 3})
	leader := c.WaitForLeader()
	mustExecute(b, c, 0, createHashedUser("bench", testHash))
	// An admin that stays one: "bench" is made admin and not in turns, and
	// the last admin cannot stop being one.
	mustExecute(b, c, 0, createHashedUser("keeper", testHash))
	mustExecute(b, c, 0, setAdmin("keeper", true))
	for _, via := range []string{"leader", "follower"} {
		b.Run("via="+via, func(b *testing.B) {
			node := leader
			if via == "follower" {
				node = c.Nodes[c.Follower()]
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			// When the leader publishes each index.
			var mu sync.Mutex
			committed := map[uint64]time.Time{}
			go func() {
				st := leader.Store.State()
				for {
					select {
					case <-st.Changed():
					case <-ctx.Done():
						return
					}
					now := time.Now()
					st = leader.Store.State()
					mu.Lock()
					committed[st.Data.Index] = now
					mu.Unlock()
				}
			}()
			// When the subscriber receives it.
			type delivery struct {
				index uint64
				at    time.Time
			}
			received := make(chan delivery, 1024)
			cl, err := meta.NewClient([]string{node.RPCAddr}, cluster.DialOptions{})
			if err != nil {
				b.Fatal(err)
			}
			start := leader.Store.Data().Index
			watching := make(chan struct{})
			go func() {
				defer close(watching)
				cl.Watch(ctx, start, func(d *metapb.Data) error {
					select {
					case received <- delivery{d.Index, time.Now()}:
					case <-ctx.Done():
					}
					return nil
				}, nil)
			}()
			defer func() {
				cancel()
				<-watching
				cl.Close()
			}()

			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				resp, err := leader.Store.Execute(ctx, setAdmin("bench", i%2 == 0))
				if err != nil {
					b.Fatal(err)
				}
				for {
					d := <-received
					if d.index < resp.Index {
						continue
					}
					mu.Lock()
					t0, ok := committed[resp.Index]
					mu.Unlock()
					if d.index == resp.Index && ok {
						lat = append(lat, d.at.Sub(t0))
					}
					break
				}
			}
			if len(lat) == 0 {
				b.Fatal("no latency measured")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
