package data_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// BenchmarkRemoteReads (issue 9, point 6) compares the latency of the same
// statement over the same data on a node where every shard is local and on
// a cluster node that owns none of the shards (every shard read from an
// owner over the data service), and SHOW TAG VALUES on a standalone node
// and on a cluster node that asks all three nodes. The requests alternate
// between the two, each timed; the medians and their ratio are reported.
// Everything runs in one process on the machine's cores: the owner's work
// and the coordinator's share them.
//
//	go test -c -o /tmp/data.test ./data/ && cd data
//	/tmp/data.test -test.run '^$' -test.bench BenchmarkRemoteReads -test.benchtime 20x
func BenchmarkRemoteReads(b *testing.B) {
	single := testcluster.StartStandalone(b, testcluster.DataOptions{})
	c := newBenchCluster(b)

	// remote: 1,000,000 points (100 series, 10,000 points each, 100 ms
	// apart: one shard group), one shard with two owners.
	const series, perSeries = 100, 10_000
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	create := "CREATE DATABASE remote WITH DURATION INF REPLICATION 2"
	for _, u := range []string{single.URL, c[0].URL} {
		mustQuery(b, u, create, noCred)
	}
	for from := 0; from < perSeries; from += 500 {
		var sb strings.Builder
		for i := from; i < from+500; i++ {
			ts := base.Add(time.Duration(i) * 100 * time.Millisecond).UnixNano()
			for s := range series {
				fmt.Fprintf(&sb, "m,host=h%d v=%d %d\n", s, (i*7+s)%1000, ts)
			}
		}
		for _, u := range []string{single.URL, c[0].URL} {
			if r := benchWrite(b, u, "remote", sb.String()); r != http.StatusNoContent {
				b.Fatalf("write: %d", r)
			}
		}
	}
	var outsider, owner *testcluster.DataNode
	shards := benchShards(b, c[0], "remote")
	if len(shards) != 1 {
		b.Fatalf("%d shards, want 1", len(shards))
	}
	for _, d := range c {
		switch owners := pmeta.ReadOwners(shards[0]); {
		case !slices.Contains(owners, d.NodeID()):
			outsider = d
		case d.NodeID() == owners[0]:
			owner = d // the one the outsider reads from (no other load)
		}
	}

	// fan: 6 hourly shard groups, 2,000 hosts: every node owns some.
	for _, u := range []string{single.URL, c[0].URL} {
		mustQuery(b, u, "CREATE DATABASE fan WITH DURATION INF REPLICATION 2 SHARD DURATION 1h", noCred)
	}
	for h := range 6 {
		var sb strings.Builder
		for s := range 2000 {
			fmt.Fprintf(&sb, "cpu,host=host%04d,region=r%d v=1 %d\n", s, s%7, base.Add(time.Duration(h)*time.Hour).UnixNano())
		}
		for _, u := range []string{single.URL, c[h%3].URL} {
			if r := benchWrite(b, u, "fan", sb.String()); r != http.StatusNoContent {
				b.Fatalf("write: %d", r)
			}
		}
	}

	// The engines compact what was just written: measure once they are done.
	waitIdle(b)
	end := base.Add(perSeries * 100 * time.Millisecond).Format(time.RFC3339Nano)
	groupBy := "SELECT mean(v), max(v) FROM m WHERE time >= '" + base.Format(time.RFC3339) + "' AND time < '" + end + "' GROUP BY time(10s)"
	for _, tc := range []struct {
		name, db, q   string
		local, remote *testcluster.DataNode
	}{
		// The same data on a node that owns the shard (all local) and on
		// the one that owns nothing (all remote), same cluster, same writes.
		{"group-by-time", "remote", groupBy, owner, outsider},
		{"raw", "remote", "SELECT v FROM m", owner, outsider},
		// The same against a standalone node (its engine state differs:
		// the data came through another write path at another time).
		{"group-by-time-vs-standalone", "remote", groupBy, single, outsider},
		{"raw-vs-standalone", "remote", "SELECT v FROM m", single, outsider},
		// One node holding everything against a cluster node asking all
		// three.
		{"show-tag-values", "fan", "SHOW TAG VALUES WITH KEY = host", single, c[0]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			want := benchQuery(b, tc.local.URL, tc.db, tc.q)
			if got := benchQuery(b, tc.remote.URL, tc.db, tc.q); got != want {
				b.Fatalf("the cluster answers %d bytes, the local node %d", got, want)
			}
			var local, remote []time.Duration
			n := 0
			for b.Loop() {
				order := []*testcluster.DataNode{tc.local, tc.remote}
				if n%2 == 1 {
					slices.Reverse(order)
				}
				for _, d := range order {
					t0 := time.Now()
					benchQuery(b, d.URL, tc.db, tc.q)
					if d == tc.local {
						local = append(local, time.Since(t0))
					} else {
						remote = append(remote, time.Since(t0))
					}
				}
				n++
			}
			l, r := medianDuration(local), medianDuration(remote)
			b.ReportMetric(float64(l.Microseconds())/1000, "local-ms")
			b.ReportMetric(float64(r.Microseconds())/1000, "remote-ms")
			b.ReportMetric(float64(r)/float64(l), "remote/local")
		})
	}
}

// newBenchCluster is newReplCluster for a benchmark: one meta node, three
// data nodes.
func newBenchCluster(b *testing.B) []*testcluster.DataNode {
	m := testcluster.New(b, testcluster.Options{Meta: 1, Secret: replSecret})
	var out []*testcluster.DataNode
	for range 3 {
		out = append(out, m.AddData(testcluster.DataOptions{}))
	}
	testcluster.WaitFor(b, 20*time.Second, "all data nodes registered", func() bool {
		for _, d := range out {
			if d.NodeID() == 0 {
				return false
			}
		}
		ok := true
		for _, d := range out {
			ok = ok && len(d.MetaData().GetDataNodes()) == 3
		}
		return ok
	})
	return out
}

func benchShards(b *testing.B, d *testcluster.DataNode, db string) []*metapb.Shard {
	b.Helper()
	var out []*metapb.Shard
	for _, rp := range pmeta.FindDatabase(d.MetaData(), db).RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			out = append(out, sg.Shards...)
		}
	}
	return out
}

func benchWrite(b *testing.B, base, db, lines string) int {
	b.Helper()
	resp, err := http.Post(base+"/write?db="+db+"&consistency=all", "text/plain", strings.NewReader(lines))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// benchQuery runs q and returns the size of the answer.
func benchQuery(b *testing.B, base, db, q string) int64 {
	resp, err := plainClient.Get(base + "/query?db=" + db + "&q=" + url.QueryEscape(q))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %v", q, resp.StatusCode, err)
	}
	return n
}

// waitIdle waits (at most a minute) until this process uses less than 10%
// of a core over half a second: the engines' background work after the
// writes is done.
func waitIdle(b *testing.B) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		before := cpu()
		time.Sleep(500 * time.Millisecond)
		if cpu()-before < 50*time.Millisecond {
			return
		}
	}
	b.Log("the process did not become idle within a minute")
}

// plainClient asks for no gzip: compressing a 40 MB answer would dominate
// what is measured (the read path), alike on both sides.
var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func medianDuration(d []time.Duration) time.Duration {
	slices.Sort(d)
	return (d[len(d)/2] + d[(len(d)-1)/2]) / 2
}
