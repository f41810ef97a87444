//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// cqRun is one run of a continuous query, from a data node's log.
type cqRun struct {
	node       int
	start, end time.Time
}

var cqRanLine = regexp.MustCompile(`msg="continuous query ran".* cq=(\S+) start=(\S+) end=(\S+)`)

// cqRuns returns the runs of continuous query name that the nodes logged.
func cqRuns(t *testing.T, nodes []*dataNode, name string) []cqRun {
	t.Helper()
	var runs []cqRun
	for i, d := range nodes {
		for _, m := range cqRanLine.FindAllStringSubmatch(d.p.output(), -1) {
			if m[1] != name {
				continue
			}
			start, err1 := time.Parse(time.RFC3339Nano, m[2])
			end, err2 := time.Parse(time.RFC3339Nano, m[3])
			if err1 != nil || err2 != nil {
				t.Fatalf("unreadable run in node %d's log: %q", i, m[0])
			}
			runs = append(runs, cqRun{node: i, start: start, end: end})
		}
	}
	sort.Slice(runs, func(a, b int) bool { return runs[a].start.Before(runs[b].start) })
	return runs
}

// TestContinuousQueryMovesWhenItsNodeDies (issue 11, points 3 and 5): the
// data node that runs the continuous queries is killed with SIGKILL; another
// takes them over within the lease, and the runs of all nodes together
// cover time without a gap or an overlap: no bucket skipped, none computed
// twice.
func TestContinuousQueryMovesWhenItsNodeDies(t *testing.T) {
	nodes := replicatedClusterWith(t, 3, []string{"INFLUXDB_META_LEASE_DURATION=2s"},
		[]string{"INFLUXDB_CONTINUOUS_QUERIES_RUN_INTERVAL=100ms"})
	if code, body := httpQuery(t, nodes[0].httpAddr, "",
		"CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT count(v) AS n INTO db.autogen.down FROM db.autogen.cpu GROUP BY time(1s) END"); code != 200 || strings.Contains(body, "error") {
		t.Fatalf("CREATE CONTINUOUS QUERY: %d %s", code, body)
	}
	// A point every 50 ms, through whichever node answers.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for k := range nodes {
				if writeLines(nodes[(i+k)%len(nodes)], "any", fmt.Sprintf("cpu v=%d %d", i, time.Now().UnixNano())) == http.StatusNoContent {
					break
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	var holder int
	waitFor(t, waitTimeout, "three runs of the continuous query", func() (bool, string) {
		runs := cqRuns(t, nodes, "cq1")
		if len(runs) < 3 {
			return false, fmt.Sprint(runs)
		}
		holder = runs[len(runs)-1].node
		return true, ""
	})
	// Kill it mid-second: its run for the last bucket (just after the
	// second began) is done and recorded by then.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1500 * time.Millisecond)))
	killedAt := time.Now()
	nodes[holder].p.kill()
	waitFor(t, waitTimeout, "another node to run the continuous query", func() (bool, string) {
		runs := cqRuns(t, nodes, "cq1")
		n := 0
		for _, r := range runs {
			if r.node != holder {
				n++
			}
		}
		return n >= 3, fmt.Sprint(runs)
	})
	runs := cqRuns(t, nodes, "cq1")
	var after []cqRun
	for _, r := range runs {
		if r.node != holder {
			after = append(after, r)
		}
	}
	t.Logf("node %d ran the query until it was killed at %s; node %d took over, its first run %s to %s",
		holder, killedAt.Format(time.RFC3339Nano), after[0].node, after[0].start.Format(time.RFC3339Nano), after[0].end.Format(time.RFC3339Nano))
	for i := 1; i < len(runs); i++ {
		if !runs[i].start.Equal(runs[i-1].end) {
			t.Errorf("run %d (node %d) covers [%s, %s) after [%s, %s) (node %d): a gap or an overlap",
				i, runs[i].node, runs[i].start.Format(time.RFC3339Nano), runs[i].end.Format(time.RFC3339Nano),
				runs[i-1].start.Format(time.RFC3339Nano), runs[i-1].end.Format(time.RFC3339Nano), runs[i-1].node)
		}
	}
	// Every bucket the runs covered has its point in the target.
	code, body := httpQuery(t, after[0].nodeAddr(nodes), "", fmt.Sprintf("SELECT n FROM db.autogen.down WHERE time >= %d AND time < %d",
		runs[0].start.UnixNano(), runs[len(runs)-1].end.UnixNano()))
	want := int(runs[len(runs)-1].end.Sub(runs[0].start) / time.Second)
	if got := strings.Count(body, `Z",`); code != 200 || got != want {
		t.Errorf("%d buckets in the target for %d seconds of runs: %d %s", got, want, code, body)
	}
}

func (r cqRun) nodeAddr(nodes []*dataNode) string { return nodes[r.node].httpAddr }

// TestRetentionWithRealBinaries (issue 11, points 1 and 5): the meta node
// deletes the shard groups a shorter duration expires, at its
// [retention] check-interval, and both owners drop their copies; younger
// data stays.
func TestRetentionWithRealBinaries(t *testing.T) {
	nodes := replicatedClusterWith(t, 2, []string{"INFLUXDB_RETENTION_CHECK_INTERVAL=200ms"}, nil)
	if code, body := httpQuery(t, nodes[0].httpAddr, "", "CREATE RETENTION POLICY short ON db DURATION 24h REPLICATION 2 SHARD DURATION 1h DEFAULT"); code != 200 || strings.Contains(body, "error") {
		t.Fatalf("CREATE RETENTION POLICY: %d %s", code, body)
	}
	now := time.Now()
	var lines []string
	for i, at := range []time.Time{now.Add(-5 * time.Hour), now.Add(-3*time.Hour - time.Minute), now.Add(-time.Minute)} {
		lines = append(lines, fmt.Sprintf("cpu v=%d %d", i, at.UnixNano()))
	}
	if code := writeLines(nodes[0], "all", strings.Join(lines, "\n")); code != http.StatusNoContent {
		t.Fatalf("write: %d", code)
	}
	for _, d := range nodes {
		if got := localValues(t, d, "cpu"); len(got) != 3 {
			t.Fatalf("node %d holds %v before, want 3 points", d.id, got)
		}
	}
	if code, body := httpQuery(t, nodes[0].httpAddr, "", "ALTER RETENTION POLICY short ON db DURATION 2h"); code != 200 || strings.Contains(body, "error") {
		t.Fatalf("ALTER RETENTION POLICY: %d %s", code, body)
	}
	for _, d := range nodes {
		waitFor(t, waitTimeout, fmt.Sprintf("node %d to drop the expired points", d.id), func() (bool, string) {
			got := localValues(t, d, "cpu")
			return len(got) == 1 && got[2], fmt.Sprint(got)
		})
	}
}
