//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// cqRun is one run of a continuous query, from a data node's log (its
// structured line keeps the component field).
type cqRun struct {
	node       int
	start, end time.Time
}

var cqRanLine = regexp.MustCompile(`msg="continuous query ran" component=data service=continuous_querier .*cq=(\S+) start=(\S+) end=(\S+)`)

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
	nodes, _ := replicatedClusterWith(t, 3, []string{"INFLUXDB_META_LEASE_DURATION=2s"},
		[]string{"INFLUXDB_CONTINUOUS_QUERIES_RUN_INTERVAL=100ms"})
	if code, body := httpQuery(t, nodes[0].httpAddr, "",
		"CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT count(v) AS n INTO db.autogen.down FROM db.autogen.cpu GROUP BY time(1s) END"); code != 200 || strings.Contains(body, "error") {
		t.Fatalf("CREATE CONTINUOUS QUERY: %d %s", code, body)
	}
	// A point every 50 ms, through whichever node answers.
	defer every(50*time.Millisecond, func(i int) {
		for k := range nodes {
			if writeLines(nodes[(i+k)%len(nodes)], "any", fmt.Sprintf("cpu v=%d %d", i, time.Now().UnixNano())) == http.StatusNoContent {
				return
			}
		}
	})()

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
	nodes, _ := replicatedClusterWith(t, 2, []string{"INFLUXDB_RETENTION_CHECK_INTERVAL=200ms"}, nil)
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

// scrape reads the Prometheus text at http://addr/metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %d", addr, resp.StatusCode)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s/metrics is not Prometheus text: %v", addr, err)
	}
	return fams
}

// metricValue is the value of the sample of family name whose labels
// include labels (gauge, counter, untyped, or a histogram's count); ok is
// false when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMonitoringWithRealBinaries (issue 11, points 4 and 5): /metrics on
// data and meta nodes, /debug/vars in InfluxDB's shape, SHOW STATS and
// SHOW DIAGNOSTICS, all counting what the test did.
func TestMonitoringWithRealBinaries(t *testing.T) {
	nodes, meta := replicatedClusterWith(t, 3, nil, nil)
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf("cpu v=%d %d", i, time.Now().Add(time.Duration(i)*time.Millisecond).UnixNano()))
	}
	if code := writeLines(nodes[0], "all", strings.Join(lines, "\n")); code != http.StatusNoContent {
		t.Fatalf("write: %d", code)
	}
	for _, d := range nodes {
		if code, body := httpQuery(t, d.httpAddr, "", "SELECT count(v) FROM db.autogen.cpu"); code != 200 || !strings.Contains(body, ",10]") {
			t.Fatalf("count through %s: %d %s", d.httpAddr, code, body)
		}
	}
	fams := scrape(t, nodes[0].httpAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"palisade_httpd_points_written_ok", nil, 10},
		{"palisade_httpd_write_req", nil, 1},
		{"palisade_http_request_duration_seconds", map[string]string{"endpoint": "/write", "status": "204"}, 1},
		{"palisade_http_request_duration_seconds", map[string]string{"endpoint": "/query", "status": "200"}, 2},
		{"palisade_write_point_req", nil, 10},
		{"palisade_meta_index", nil, 1},
		{"palisade_cq_lease_held", nil, 0},
		{"go_goroutines", nil, 1},
	} {
		v, ok := metricValue(fams, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("data node /metrics: %s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if _, ok := metricValue(fams, "palisade_meta_state_age_seconds", nil); !ok {
		t.Error("data node /metrics: no palisade_meta_state_age_seconds")
	}
	// The Watch lag comes with the first heartbeat answer (every 5 s); a
	// node that follows the Watch is not behind.
	waitFor(t, waitTimeout, "palisade_meta_watch_lag on a data node", func() (bool, string) {
		v, ok := metricValue(scrape(t, nodes[1].httpAddr), "palisade_meta_watch_lag", nil)
		return ok && v == 0, fmt.Sprint(v, ok)
	})
	// Two nodes hold a copy each (the engine's shard statistics), and the
	// third, which owns none, read remotely.
	reads, written := 0.0, 0.0
	for _, d := range nodes {
		f := scrape(t, d.httpAddr)
		v, _ := metricValue(f, "palisade_remote_read_open_seconds", map[string]string{"outcome": "ok"})
		reads += v
		for _, m := range f["palisade_shard_write_points_ok"].GetMetric() {
			written += m.GetGauge().GetValue()
		}
	}
	if reads < 1 {
		t.Error("no node counted a remote read, though one owns no copy of the shard")
	}
	if written != 20 {
		t.Errorf("the shards' statistics count %v points written, want 2 copies of 10", written)
	}

	mf := scrape(t, meta.metricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
	}{
		{"palisade_meta_raft_leader", nil, func(v float64) bool { return v == 1 }},
		{"palisade_meta_raft_state", map[string]string{"state": "Leader"}, func(v float64) bool { return v == 1 }},
		{"palisade_meta_raft_term", nil, func(v float64) bool { return v >= 1 }},
		{"palisade_meta_raft_commit_index", nil, func(v float64) bool { return v > 1 }},
		{"palisade_meta_raft_applied_index", nil, func(v float64) bool { return v > 1 }},
		{"palisade_meta_data_nodes", nil, func(v float64) bool { return v == 3 }},
		{"palisade_meta_databases", nil, func(v float64) bool { return v == 1 }},
	} {
		if v, ok := metricValue(mf, c.name, c.labels); !ok || !c.want(v) {
			t.Errorf("meta node /metrics: %s%v = %v (present %v)", c.name, c.labels, v, ok)
		}
	}

	// /debug/vars, as Telegraf's influxdb input reads it: memstats, and
	// members with a name, tags and values.
	resp, err := http.Get("http://" + nodes[0].httpAddr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	var vars map[string]json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&vars)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/debug/vars: %v", err)
	}
	if _, ok := vars["memstats"]; !ok {
		t.Error("/debug/vars has no memstats")
	}
	found := false
	for k, raw := range vars {
		var s struct {
			Name   string             `json:"name"`
			Tags   map[string]string  `json:"tags"`
			Values map[string]float64 `json:"values"`
		}
		if k == "memstats" || k == "cmdline" || k == "system" {
			continue
		}
		if err := json.Unmarshal(raw, &s); err != nil || s.Name == "" || s.Values == nil {
			t.Errorf("/debug/vars member %s is not {name, tags, values}: %s", k, raw)
			continue
		}
		if s.Name == "httpd" && s.Values["pointsWrittenOK"] >= 10 {
			found = true
		}
	}
	if !found {
		t.Error("/debug/vars: no httpd member with pointsWrittenOK >= 10")
	}
	for q, want := range map[string]string{"SHOW STATS": `"name":"httpd"`, "SHOW DIAGNOSTICS": `"name":"build"`} {
		if code, body := httpQuery(t, nodes[0].httpAddr, "", q); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, no %s in %.300s", q, code, want, body)
		}
	}

	// A node goes down: the others queue for it, and say so.
	down := nodes[2]
	down.p.kill()
	if code := writeLines(nodes[0], "any", fmt.Sprintf("cpu v=99 %d", time.Now().UnixNano())); code != http.StatusNoContent {
		t.Fatalf("write with a node down: %d", code)
	}
	waitFor(t, waitTimeout, "a hinted-handoff queue for the node that is down", func() (bool, string) {
		f := scrape(t, nodes[0].httpAddr)
		recs, _ := metricValue(f, "palisade_hh_processor_queue_records", map[string]string{"node": fmt.Sprint(down.id)})
		bytes, _ := metricValue(f, "palisade_hh_processor_queue_bytes", map[string]string{"node": fmt.Sprint(down.id)})
		_, age := metricValue(f, "palisade_hh_processor_oldest_age_seconds", map[string]string{"node": fmt.Sprint(down.id)})
		return recs >= 1 && bytes > 0 && age, fmt.Sprint(recs, bytes, age)
	})
}

// TestShardPrecreationWithRealBinaries (issue 11, points 2 and 5): the meta
// node creates a policy's next shard group before any point needs it.
func TestShardPrecreationWithRealBinaries(t *testing.T) {
	nodes, meta := replicatedClusterWith(t, 2, []string{
		"INFLUXDB_SHARD_PRECREATION_CHECK_INTERVAL=200ms", "INFLUXDB_SHARD_PRECREATION_ADVANCE_PERIOD=1h"}, nil)
	if code, body := httpQuery(t, nodes[0].httpAddr, "", "CREATE RETENTION POLICY hourly ON db DURATION 24h REPLICATION 2 SHARD DURATION 1h DEFAULT"); code != 200 || strings.Contains(body, "error") {
		t.Fatalf("CREATE RETENTION POLICY: %d %s", code, body)
	}
	if code := writeLines(nodes[0], "all", fmt.Sprintf("cpu v=1 %d", time.Now().UnixNano())); code != http.StatusNoContent {
		t.Fatalf("write: %d", code)
	}
	// The group of now ends within the hour; the next one starts there.
	waitFor(t, waitTimeout, "two shard groups of the policy", func() (bool, string) {
		out := mustCtl(t, []string{meta.rpcAddr}, "", "show-shards").stdout
		groups := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[1] == "db" && f[2] == "hourly" {
				groups[f[3]+" "+f[4]] = true
			}
		}
		return len(groups) == 2, out
	})
}
