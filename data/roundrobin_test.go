package data_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
)

// A step of a scripted session: a query (q, with db when set) or a write
// (lines, to db and rp).
type sessionStep struct {
	q, db, rp, lines string
}

func (s sessionStep) String() string {
	if s.lines != "" {
		return fmt.Sprintf("write to %s.%s: %q", s.db, s.rp, s.lines)
	}
	return s.q
}

// sessionSteps is what a user does in a session, each step depending on
// the ones before: DDL, users and privileges, writes that create shard
// groups, continuous queries, SELECT INTO, drops and re-creates. Times are
// fixed, so that every answer is the same bytes each run.
func sessionSteps(db string) []sessionStep {
	const day = int64(24 * time.Hour)
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).UnixNano()
	w := func(rp, lines string) sessionStep { return sessionStep{db: db, rp: rp, lines: lines} }
	q := func(s string) sessionStep { return sessionStep{q: s} }
	qdb := func(s string) sessionStep { return sessionStep{q: s, db: db} }
	return []sessionStep{
		q("CREATE DATABASE " + db),
		w("", fmt.Sprintf("cpu,host=a v=1 %d\ncpu,host=b v=2 %d", t0, t0+1)),
		qdb("SELECT * FROM cpu"),
		q("SHOW DATABASES"),
		q("CREATE RETENTION POLICY rp1 ON " + db + " DURATION INF REPLICATION 2 SHARD DURATION 1d"),
		q("SHOW RETENTION POLICIES ON " + db),
		q(`CREATE CONTINUOUS QUERY cq1 ON ` + db + ` BEGIN SELECT mean(v) INTO "rp1".:MEASUREMENT FROM cpu GROUP BY time(1h) END`),
		q("SHOW CONTINUOUS QUERIES"),
		q("CREATE USER bob_" + db + " WITH PASSWORD 'secret-1'"),
		q("GRANT READ ON " + db + " TO bob_" + db),
		q("SHOW GRANTS FOR bob_" + db),
		w("", fmt.Sprintf("cpu,host=a v=3 %d", t0+30*day)), // a new shard group
		w("rp1", fmt.Sprintf("mem,host=a free=10i %d", t0+2*day)),
		qdb("SELECT count(v) FROM cpu"),
		qdb(`SELECT * FROM "rp1".mem`),
		qdb(`SELECT v INTO "rp1".copied FROM cpu GROUP BY *`),
		qdb(`SELECT * FROM "rp1".copied`),
		qdb("SHOW MEASUREMENTS"),
		qdb("SHOW TAG VALUES WITH KEY = host"),
		w("", fmt.Sprintf("cpu,host=a v=\"text\" %d", t0+2)), // a field type conflict
		q("CREATE RETENTION POLICY short ON " + db + " DURATION 1h REPLICATION 1"),
		w("short", fmt.Sprintf("cpu,host=a v=5 %d", t0)), // beyond the policy's retention
		q("DROP RETENTION POLICY short ON " + db),
		qdb("SELECT count(v) FROM cpu"),
		q("DROP CONTINUOUS QUERY cq1 ON " + db),
		q("SHOW CONTINUOUS QUERIES"),
		q("DROP RETENTION POLICY rp1 ON " + db),
		q("SHOW RETENTION POLICIES ON " + db),
		q("DROP DATABASE " + db),
		q("CREATE RETENTION POLICY rp0 ON " + db + " DURATION 1d REPLICATION 1 DEFAULT"),
		q("SHOW DATABASES"),
		q("CREATE DATABASE " + db),
		qdb("SHOW MEASUREMENTS"),
		qdb("SELECT * FROM cpu"),
		w("", fmt.Sprintf("cpu,host=c v=4 %d", t0)),
		qdb("SELECT * FROM cpu"),
		q("REVOKE READ ON " + db + " FROM bob_" + db),
		q("SHOW GRANTS FOR bob_" + db),
		q("DROP USER bob_" + db),
		q("SHOW USERS"),
		q("DROP DATABASE " + db),
		q("SHOW DATABASES"),
	}
}

// runSessionStep sends s to base and returns the status and body.
func runSessionStep(t *testing.T, base string, s sessionStep) response {
	t.Helper()
	if s.lines != "" {
		u := base + "/write?consistency=all&db=" + url.QueryEscape(s.db)
		if s.rp != "" {
			u += "&rp=" + url.QueryEscape(s.rp)
		}
		return do(t, http.MethodPost, u, noCred, strings.NewReader(s.lines), nil)
	}
	if s.db != "" {
		return queryDB(t, base, s.db, s.q, noCred)
	}
	return query(t, base, s.q, noCred)
}

// TestRoundRobinSessionAnswersAsOneNode (issue 19, point 5): a session sent
// through a client that sends each request to the next of 3 data nodes (3
// meta nodes, RF 2, writes with consistency=all) gets the same answers,
// byte for byte, as the same session against one standalone node, run
// after run (PALISADE_SESSION_RUNS, 3 by default). Without [meta]
// change-visibility-timeout (0) it fails within a run: a node lists a
// database just dropped through another.
func TestRoundRobinSessionAnswersAsOneNode(t *testing.T) {
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	mc := testcluster.New(t, testcluster.Options{Meta: 3, Secret: replSecret})
	var nodes []*testcluster.DataNode
	var warnings testutil.SyncBuffer // the nodes' warnings and errors, shown on a failure
	for range 3 {
		nodes = append(nodes, mc.AddData(testcluster.DataOptions{Node: data.Options{
			Logger: slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelInfo}))}}))
	}
	testcluster.WaitFor(t, 20*time.Second, "all data nodes registered", func() bool {
		for _, n := range nodes {
			if len(n.Node.MetaState().GetDataNodes()) != 3 {
				return false
			}
		}
		return true
	})
	// 50 runs is the proof (PALISADE_SESSION_RUNS=50, about 2
	// minutes); make test runs 3. Under the race detector on a loaded
	// machine the 50 runs found the engine's idle-shard release losing the
	// first write into a new shard (engine/idle.go).
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("PALISADE_SESSION_RUNS")); err == nil && n > 0 {
		runs = n
	}
	next := 0
	for run := range runs {
		db := fmt.Sprintf("db%d", run)
		for i, s := range sessionSteps(db) {
			want := runSessionStep(t, single.URL, s)
			node := nodes[next%len(nodes)]
			next++
			got := runSessionStep(t, node.URL, s)
			if got.status != want.status || got.body != want.body {
				// What every node answers now, and where the shards are, to
				// tell a late node from a lost write.
				var now []string
				for _, n := range nodes {
					r := runSessionStep(t, n.URL, s)
					now = append(now, fmt.Sprintf("data node %d: %d %s", n.NodeID(), r.status, strings.TrimSpace(r.body)))
					if s.lines == "" && s.db != "" { // what the node holds itself
						r = do(t, http.MethodPost, fmt.Sprintf("%s/query?db=%s&node_id=%d", n.URL, url.QueryEscape(s.db), n.NodeID()), noCred,
							strings.NewReader(url.Values{"q": {s.q}}.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
						now = append(now, fmt.Sprintf("  its own shards: %s", strings.TrimSpace(r.body)))
					}
				}
				for _, n := range nodes {
					for _, m := range []string{"write", "hh_processor"} {
						now = append(now, fmt.Sprintf("data node %d %s: %s", n.NodeID(), m,
							strings.TrimSpace(query(t, n.URL, "SHOW STATS FOR '"+m+"'", noCred).body)))
					}
				}
				shards := query(t, nodes[0].URL, "SHOW SHARDS", noCred).body
				t.Fatalf("run %d, step %d (%s), through data node %d:\n got  %d %s\n want %d %s\nnow:\n%s\nshards: %s\nwarnings:\n%s",
					run, i, s, node.NodeID(), got.status, strings.TrimSpace(got.body), want.status, strings.TrimSpace(want.body),
					strings.Join(now, "\n"), shards, relevantLines(warnings.String(), db))
			}
		}
	}
}

// relevantLines keeps the log lines about shards, hinted handoff and db, and
// the warnings and errors, the last 60 of them.
func relevantLines(log, db string) string {
	var out []string
	for l := range strings.SplitSeq(log, "\n") {
		if strings.Contains(l, "shard") || strings.Contains(l, "hint") || strings.Contains(l, db) ||
			strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-60):], "\n")
}
