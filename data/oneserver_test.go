package data_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// TestShardGroupsMatchInfluxd (issue 19, point 4): the same writes on a new
// standalone node and on Debian's influxd 1.6.7 make the same shard groups
// (SHOW SHARD GROUPS answers the same bytes): groups start where influxd
// starts them, t.Truncate(duration), so a 7-day group starts on a Monday,
// from a node's first write on.
func TestShardGroupsMatchInfluxd(t *testing.T) {
	ix := startInfluxd(t, influxdBinary(t), false)
	d := testcluster.StartStandalone(t, testcluster.DataOptions{})
	targets := map[string]string{"influxd 1.6.7": ix.baseURL(), "palisade": d.URL}

	stamps := []time.Time{
		time.Date(1999, 12, 30, 12, 0, 0, 0, time.UTC), // a Thursday: the Unix epoch's weekday
		time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 22, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
	}
	for name, url := range targets {
		mustQuery(t, url, "CREATE DATABASE sg", noCred)
		for _, rp := range []string{"h3 ON sg DURATION INF REPLICATION 1 SHARD DURATION 3h",
			"d1 ON sg DURATION INF REPLICATION 1 SHARD DURATION 1d", "w2 ON sg DURATION INF REPLICATION 1 SHARD DURATION 2w",
			"d30 ON sg DURATION INF REPLICATION 1 SHARD DURATION 30d"} {
			mustQuery(t, url, "CREATE RETENTION POLICY "+rp, noCred)
		}
		for _, rp := range []string{"autogen", "h3", "d1", "w2", "d30"} {
			var lines []string
			for i, ts := range stamps {
				lines = append(lines, fmt.Sprintf("m,rp=%s v=%d %d", rp, i, ts.UnixNano()))
			}
			r := do(t, http.MethodPost, url+"/write?db=sg&rp="+rp, noCred, strings.NewReader(strings.Join(lines, "\n")), nil)
			if r.status != http.StatusNoContent {
				t.Fatalf("%s: write to %s: %d %s", name, rp, r.status, r.body)
			}
		}
	}
	want := mustQuery(t, ix.baseURL(), "SHOW SHARD GROUPS", noCred).body
	if got := mustQuery(t, d.URL, "SHOW SHARD GROUPS", noCred).body; got != want {
		t.Errorf("SHOW SHARD GROUPS:\n palisade: %s\n influxd:  %s", got, want)
	}
	if !strings.Contains(want, `"1999-12-27T00:00:00Z"`) {
		t.Errorf("influxd's 7-day group of 1999-12-30 does not start on Monday 1999-12-27: %s", want)
	}
}

// TestRemoteEngineErrorsReadAsOnOneNode (issue 19, point 3): an error the
// engine of a shard's owner gives for a query reaches the client as the
// same query's error on a single node, through either node of a cluster
// (one of them reads the shard from the other), without naming the owner.
func TestRemoteEngineErrorsReadAsOnOneNode(t *testing.T) {
	const q = `SELECT mean(s) FROM m`
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	c := newReplCluster(t, 2, nil)
	urls := []string{single.URL, c.data[0].URL, c.data[1].URL}
	for _, url := range urls[:2] {
		mustQuery(t, url, "CREATE DATABASE e WITH REPLICATION 1", noCred)
	}
	for _, url := range urls[:2] {
		if r := write(t, url, "e", `m s="text" 1700000000000000000`, noCred); r.status != http.StatusNoContent {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
	}
	want := queryDB(t, single.URL, "e", q, noCred)
	if want.statementError() == "" {
		t.Fatalf("%s on one node: no error (%s)", q, want.body)
	}
	for _, url := range urls[1:] {
		testcluster.WaitFor(t, 10*time.Second, "the database on every node", func() bool {
			return queryDB(t, url, "e", q, noCred).statementError() != `database not found: e`
		})
		if got := queryDB(t, url, "e", q, noCred); got.status != want.status || got.body != want.body {
			t.Errorf("%s through %s: %d %s, want as on one node: %d %s", q, url, got.status, got.body, want.status, want.body)
		}
	}
}

// TestRemoteFieldTypeConflictAnswersAsOneNode (issue 19, point 3): a write
// whose field type conflicts with the shard's, through a node that does not
// own the shard, answers as a single node does (400 "partial write: field
// type conflict: … dropped=N", the other points written), not 500.
func TestRemoteFieldTypeConflictAnswersAsOneNode(t *testing.T) {
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	c := newReplCluster(t, 2, nil)
	const (
		first    = "cpu,host=a v=1 1700000000000000000"
		conflict = "cpu,host=a v=\"text\" 1700000000000000001\ncpu,host=b v=2 1700000000000000002"
	)
	mustQuery(t, single.URL, "CREATE DATABASE e", noCred)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE e WITH REPLICATION 1", noCred)
	for _, url := range []string{single.URL, c.data[0].URL} {
		if r := write(t, url, "e", first, noCred); r.status != http.StatusNoContent {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
	}
	want := write(t, single.URL, "e", conflict, noCred)
	if want.status != http.StatusBadRequest || !strings.Contains(want.body, "field type conflict") {
		t.Fatalf("one node: %d %s, want 400 field type conflict", want.status, want.body)
	}
	for _, d := range c.data { // one of the two does not own the shard
		if got := write(t, d.URL, "e", conflict, noCred); got.status != want.status || got.body != want.body {
			t.Errorf("through data node %d: %d %s, want as on one node: %d %s", d.NodeID(), got.status, got.body, want.status, want.body)
		}
	}
	const q = "SELECT count(v) FROM cpu"
	wantCount := queryDB(t, single.URL, "e", q, noCred).body
	for _, d := range c.data {
		if got := queryDB(t, d.URL, "e", q, noCred).body; got != wantCount {
			t.Errorf("through data node %d: %s, want %s (the valid points written)", d.NodeID(), got, wantCount)
		}
	}
}

// TestPartlyParsableBatchAnswersAsInfluxd (issue 19, point 3): a batch with
// some lines that do not parse is answered as influxd 1.6.7 answers it
// (the lines that parse are written, 400 with the parse error), through a
// standalone node and through every node of a cluster.
func TestPartlyParsableBatchAnswersAsInfluxd(t *testing.T) {
	ix := startInfluxd(t, influxdBinary(t), false)
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	c := newReplCluster(t, 2, nil)
	targets := []struct{ name, url string }{{"standalone", single.URL}, {"data node 1", c.data[0].URL}, {"data node 2", c.data[1].URL}}
	bodies := []string{
		"cpu v=1 1700000000000000000\nthis is not a line\ncpu v=2 1700000000000000001",
		"cpu v=3 1700000000000000002\ncpu v= 1700000000000000003\n",
		"bad\nworse",
	}
	mustQuery(t, ix.baseURL(), "CREATE DATABASE p", noCred)
	mustQuery(t, single.URL, "CREATE DATABASE p", noCred)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE p", noCred)
	for i, body := range bodies {
		want := write(t, ix.baseURL(), "p", body, noCred)
		for _, tg := range targets {
			got := write(t, tg.url, "p", body, noCred)
			if got.status != want.status || strings.TrimSpace(got.body) != strings.TrimSpace(want.body) {
				t.Errorf("body %d through %s: %d %s, want influxd's %d %s", i, tg.name, got.status, got.body, want.status, want.body)
			}
		}
	}
	const q = "SELECT count(v) FROM cpu"
	want := queryDB(t, ix.baseURL(), "p", q, noCred).body
	for _, tg := range targets[:2] {
		if got := queryDB(t, tg.url, "p", q, noCred).body; got != want {
			t.Errorf("%s: %s, want influxd's %s", tg.name, got, want)
		}
	}
}

// TestMissedChangeMarksTheNodeStale (issue 19, point 1): a data node that
// does not confirm a meta change made through another (it is down) is
// marked stale in the meta state with that change's index (every node
// sees it; the shard mapper reads from it last), and loses the mark once
// its heartbeat reports a state that new.
func TestMissedChangeMarksTheNodeStale(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	down := c.data[2]
	id := down.NodeID()
	staleIndex := func() uint64 {
		for _, n := range c.state().DataNodes {
			if n.Id == id {
				return n.StaleIndex
			}
		}
		t.Fatalf("data node %d is gone", id)
		return 0
	}
	if got := staleIndex(); got != 0 {
		t.Fatalf("marked stale at %d before anything was missed", got)
	}
	down.Kill()
	mustQuery(t, c.data[0].URL, "CREATE DATABASE missed", noCred)
	at := staleIndex()
	if at == 0 {
		t.Fatal("the node that was down is not marked stale after missing a change")
	}
	testcluster.WaitFor(t, 10*time.Second, "the mark on the other node", func() bool { return c.data[1].Node.MetaState().GetDataNodes() != nil && viewStale(c.data[1], id) })
	down.Restart()
	testcluster.WaitFor(t, 20*time.Second, "the mark cleared", func() bool { return staleIndex() == 0 })
	if i := down.MetaIndex(); i < at {
		t.Fatalf("mark cleared while the node is at index %d, before %d", i, at)
	}
}

// viewStale reports whether d's meta state marks node stale.
func viewStale(d *testcluster.DataNode, node uint64) bool {
	for _, n := range d.Node.MetaState().GetDataNodes() {
		if n.Id == node {
			return n.StaleIndex != 0
		}
	}
	return false
}
