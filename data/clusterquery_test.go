package data_test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The query corpus: every statement runs on a standalone node and on each
// node of a 3-node cluster with replication factor 2 that holds the same
// data, and the answers (the whole HTTP body) must be identical. The data
// spans 12 one-hour shard groups, written round-robin through the three
// nodes, so that every node lacks some shards and most answers combine
// local and remote shards.

// corpusBase is the data set's first timestamp.
var corpusBase = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const corpusDB = "corpus"

// corpusBatches returns the data set as batches of line protocol: cpu with
// tags host (5) and region (2) and float, integer, boolean and string
// fields every 5 minutes for 12 hours; mem with tag host and a float field
// every 10 minutes; disk, only in the first 3 hours; swap, one point, so
// that one node holds nothing of it.
func corpusBatches() []string {
	var out []string
	for step := 0; step < 144; step += 12 {
		var b strings.Builder
		for i := step; i < step+12; i++ {
			ts := corpusBase.Add(time.Duration(i) * 5 * time.Minute).UnixNano()
			for h := range 5 {
				for r := range 2 {
					usage := 10 + float64((i*7+h*13+r*5)%90) + float64(h)/4
					idle := (i*3 + h*11 + r) % 40
					fmt.Fprintf(&b, "cpu,host=h%d,region=r%d usage=%g,idle=%di,busy=%t,note=\"n%d\" %d\n",
						h, r, usage, idle, (i+h+r)%3 == 0, (i+h)%4, ts)
				}
				if i%2 == 0 {
					fmt.Fprintf(&b, "mem,host=h%d free=%g %d\n", h, 1000-float64((i*17+h*5)%300)*1.5, ts)
				}
				if i == 90 && h == 0 { // one point: one shard group, which one node lacks
					fmt.Fprintf(&b, "swap,host=h9,dev=sda in=1i %d\n", ts)
				}
				if i < 36 {
					fmt.Fprintf(&b, "disk,host=h%d,path=/p%d used=%di %d\n", h, i%3, 100+i*h, ts)
				}
			}
		}
		out = append(out, b.String())
	}
	return out
}

// corpusQueries are the statements compared. Time bounds are absolute so
// that every node answers the same.
func corpusQueries() []string {
	from := corpusBase.Format(time.RFC3339)
	to := corpusBase.Add(12 * time.Hour).Format(time.RFC3339)
	tr := fmt.Sprintf("time >= '%s' AND time < '%s'", from, to)
	mid := fmt.Sprintf("time >= '%s' AND time < '%s'", corpusBase.Add(150*time.Minute).Format(time.RFC3339),
		corpusBase.Add(400*time.Minute).Format(time.RFC3339))
	return []string{
		// Raw reads.
		"SELECT * FROM cpu WHERE host = 'h1' AND region = 'r0'",
		"SELECT usage, idle, busy, note FROM cpu WHERE " + mid,
		"SELECT * FROM mem",
		"SELECT usage FROM cpu WHERE " + mid + " ORDER BY time DESC LIMIT 7",
		"SELECT usage FROM cpu GROUP BY host LIMIT 3 OFFSET 2",
		"SELECT usage FROM cpu GROUP BY * SLIMIT 3 SOFFSET 2",
		"SELECT * FROM /c.*/ WHERE host = 'h2' LIMIT 5",
		"SELECT * FROM /.*/ WHERE host = 'h3' AND " + mid,
		"SELECT usage FROM cpu WHERE host =~ /h[12]/ AND region != 'r0' AND usage > 50",
		"SELECT usage * 2 + idle, usage / 3 - 1 FROM cpu WHERE host = 'h4' AND " + mid,
		"SELECT note, busy FROM cpu WHERE busy = true AND note = 'n1'",
		"SELECT used FROM disk WHERE path =~ /p[01]/",
		// Aggregates and selectors.
		"SELECT count(usage), sum(usage), mean(usage), min(usage), max(usage) FROM cpu",
		"SELECT count(*) FROM cpu",
		"SELECT count(idle), sum(idle), mean(idle), spread(idle), stddev(idle) FROM cpu GROUP BY host",
		"SELECT first(usage), last(usage), min(idle), max(idle) FROM cpu GROUP BY host, region",
		"SELECT max(usage), host FROM cpu",
		"SELECT percentile(usage, 90), median(usage), mode(idle) FROM cpu GROUP BY region",
		"SELECT distinct(idle) FROM cpu WHERE host = 'h0'",
		"SELECT count(distinct(idle)) FROM cpu",
		"SELECT top(usage, 3) FROM cpu",
		"SELECT bottom(usage, 2), region FROM cpu WHERE " + mid,
		"SELECT top(usage, host, 3) FROM cpu",
		"SELECT count(note), first(note), last(busy), count(busy) FROM cpu",
		"SELECT integral(usage, 1h) FROM cpu WHERE host = 'h1' AND region = 'r1'",
		"SELECT sample(usage, 1000) FROM cpu WHERE host = 'h1' AND region = 'r1' AND " + mid,
		// GROUP BY time, fill, offsets.
		"SELECT mean(usage) FROM cpu WHERE " + tr + " GROUP BY time(1h)",
		"SELECT mean(usage) FROM cpu WHERE " + tr + " GROUP BY time(1h, 15m)",
		"SELECT count(usage) FROM cpu WHERE " + tr + " GROUP BY time(30m), host",
		"SELECT max(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(null)",
		"SELECT max(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(none)",
		"SELECT max(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(0)",
		"SELECT max(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(-1.5)",
		"SELECT max(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(previous)",
		"SELECT mean(used) FROM disk WHERE " + tr + " GROUP BY time(1h) fill(linear)",
		"SELECT sum(free) FROM mem WHERE " + tr + " GROUP BY time(2h), * ORDER BY time DESC",
		"SELECT mean(usage) FROM cpu WHERE " + tr + " GROUP BY time(1h), host SLIMIT 2",
		// Transformations and subqueries.
		"SELECT derivative(mean(usage), 1h) FROM cpu WHERE " + tr + " GROUP BY time(1h)",
		"SELECT non_negative_derivative(max(idle), 30m) FROM cpu WHERE " + tr + " GROUP BY time(30m), host",
		"SELECT difference(sum(usage)), cumulative_sum(sum(usage)) FROM cpu WHERE " + tr + " GROUP BY time(2h)",
		"SELECT moving_average(usage, 3) FROM cpu WHERE host = 'h0' AND region = 'r1' AND " + mid,
		"SELECT elapsed(usage, 1m) FROM cpu WHERE host = 'h2' AND region = 'r0' LIMIT 5",
		"SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu WHERE " + tr + " GROUP BY time(1h), host)",
		"SELECT mean(s) FROM (SELECT sum(usage) AS s FROM cpu GROUP BY host) ",
		"SELECT top(u, 2), host FROM (SELECT max(usage) AS u FROM cpu GROUP BY host)",
		"SELECT u FROM (SELECT usage + idle AS u FROM cpu WHERE host = 'h1') WHERE u > 60 LIMIT 5",
		// Metadata rewritten into reads.
		"SHOW FIELD KEYS",
		"SHOW FIELD KEYS FROM cpu",
		"SHOW SERIES",
		"SHOW SERIES FROM cpu WHERE host = 'h1'",
		"SHOW SERIES WHERE " + mid,
		"SHOW SERIES EXACT CARDINALITY",
		"SHOW SERIES EXACT CARDINALITY FROM cpu",
		"SHOW SERIES CARDINALITY FROM mem",
		"SHOW MEASUREMENT EXACT CARDINALITY",
		"SHOW FIELD KEY CARDINALITY",
		"SHOW FIELD KEY EXACT CARDINALITY",
		"SHOW TAG KEY EXACT CARDINALITY",
		"SHOW TAG VALUES EXACT CARDINALITY WITH KEY = host",
		// Metadata the engine answers from its store (here: every owner's).
		"SHOW MEASUREMENTS",
		"SHOW MEASUREMENTS WITH MEASUREMENT =~ /^[cd]/",
		"SHOW MEASUREMENTS WHERE host = 'h1' AND path = '/p2'",
		"SHOW MEASUREMENTS LIMIT 1 OFFSET 1",
		"SHOW TAG KEYS",
		"SHOW TAG KEYS FROM cpu",
		"SHOW TAG KEYS WHERE " + mid,
		"SHOW TAG VALUES WITH KEY = host",
		"SHOW TAG VALUES FROM cpu WITH KEY IN (host, region) WHERE region = 'r1'",
		"SHOW TAG VALUES WITH KEY =~ /^p/ LIMIT 2",
		"SHOW TAG VALUES WITH KEY = host WHERE " + mid,
		"SHOW SERIES CARDINALITY",
		"SHOW MEASUREMENT CARDINALITY",
		"SHOW TAG VALUES CARDINALITY WITH KEY = host",
		"SHOW TAG KEY CARDINALITY",
	}
}

// corpusMutations change the data set: deletes of every kind and a SELECT
// INTO.
func corpusMutations() []string {
	h5 := corpusBase.Add(5 * time.Hour).Format(time.RFC3339)
	return []string{
		"DELETE FROM cpu WHERE host = 'h1' AND time < '" + h5 + "'",
		"DROP SERIES FROM mem WHERE host = 'h2'",
		"DELETE FROM /^sw/",
		"DROP MEASUREMENT disk",
		"SELECT usage, idle INTO cpu_copy FROM cpu WHERE region = 'r0' GROUP BY *",
	}
}

// corpusQueriesAfter are the statements compared after corpusMutations.
// SHOW SERIES CARDINALITY legitimately differs then: a standalone node
// counts its set of series IDs exactly, a cluster merges every owner's
// HyperLogLog sketches (series IDs are per node), and the engine's sketches
// count a series deleted from some shards (DELETE … WHERE time < …) as
// tombstoned although other shards still have it. The EXACT forms are
// compared.
func corpusQueriesAfter() []string {
	after := slices.DeleteFunc(corpusQueries(), func(q string) bool { return q == "SHOW SERIES CARDINALITY" })
	return append(after, "SELECT * FROM cpu_copy", "SELECT count(*) FROM cpu_copy GROUP BY host")
}

// loadCorpus writes the data set through nodes in turn (round-robin).
func loadCorpus(t *testing.T, nodes []*testcluster.DataNode) {
	t.Helper()
	urls := make([]string, len(nodes))
	for i, d := range nodes {
		urls[i] = d.URL
	}
	loadCorpusInto(t, urls)
}

// loadCorpusInto writes the data set through the servers at urls in turn.
func loadCorpusInto(t *testing.T, urls []string) {
	t.Helper()
	mustQuery(t, urls[0], "CREATE DATABASE "+corpusDB+" WITH DURATION INF REPLICATION 2 SHARD DURATION 1h NAME rp", noCred)
	for i, lines := range corpusBatches() {
		u := urls[i%len(urls)]
		if r := writeCL(t, u, corpusDB, "all", lines); r.status != http.StatusNoContent {
			t.Fatalf("corpus batch %d through %s: %d %s", i, u, r.status, r.body)
		}
	}
}

func corpusAnswer(t *testing.T, base, q, extra string) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/query?db="+corpusDB+extra, noCred, strings.NewReader(url.Values{"q": {q}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// TestQueryCorpusAcrossNodes: every node of the cluster answers every
// statement of the corpus exactly as a standalone node with the same data.
func TestQueryCorpusAcrossNodes(t *testing.T) {
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	loadCorpus(t, []*testcluster.DataNode{single})
	c := newReplCluster(t, 3, nil)
	loadCorpus(t, c.data)

	// Every node lacks some shards: the comparison covers remote reads.
	for _, d := range c.data {
		n, err := d.LocalCount(corpusDB, "cpu", "usage")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || n >= 1440 {
			t.Fatalf("node %d holds %d of 1440 cpu points: want some but not all", d.NodeID(), n)
		}
	}
	compareCorpus(t, single, c.data, corpusQueries())

	// node_id reads only the shards that node owns, from it: its own copy.
	for _, d := range c.data {
		local, _ := d.LocalCount(corpusDB, "cpu", "usage")
		for _, via := range c.data {
			r := corpusAnswer(t, via.URL, "SELECT count(usage) FROM cpu", fmt.Sprintf("&node_id=%d", d.NodeID()))
			if v := seriesValues(t, r); len(v) != 1 || int64(v[0][1].(float64)) != local {
				t.Errorf("count with node_id=%d through node %d: %s, want %d", d.NodeID(), via.NodeID(), r.body, local)
			}
		}
	}
	if r := corpusAnswer(t, c.data[0].URL, "SELECT count(usage) FROM cpu", "&node_id=99"); !strings.Contains(r.statementError(), "node_id 99 is not a data node") {
		t.Errorf("node_id of no data node: %d %s", r.status, r.body)
	}

	// Deletes and SELECT INTO through different nodes: every owner applies
	// them, and every node still answers as the standalone node.
	mutate := func(q string, via *testcluster.DataNode) {
		t.Helper()
		for _, d := range []*testcluster.DataNode{single, via} {
			if r := corpusAnswer(t, d.URL, q, ""); r.status != http.StatusOK || r.statementError() != "" {
				t.Fatalf("%s through %s: %d %s", q, d.URL, r.status, r.body)
			}
		}
	}
	for i, q := range corpusMutations() {
		mutate(q, c.data[i%3])
	}
	after := corpusQueriesAfter()
	compareCorpus(t, single, c.data, after)

	// One owner of every shard killed: the survivors read each shard from
	// its other owner and still answer exactly the same.
	dead := c.data[2].NodeID()
	c.data[2].Kill()
	compareCorpus(t, single, c.data[:2], after)

	// Pinned to the dead node: its shards have no other owner to go to,
	// and the statement fails naming one of them and the node tried.
	r := corpusAnswer(t, c.data[0].URL, "SELECT count(usage) FROM cpu", fmt.Sprintf("&node_id=%d", dead))
	if msg := r.statementError(); !strings.Contains(msg, "cannot be read: no owner answered") || !strings.Contains(msg, fmt.Sprintf("data node %d", dead)) {
		t.Errorf("a read pinned to a dead node: %d %s", r.status, r.body)
	}

	// While it is down, points for it are queued, then deleted: the delete
	// is queued behind them, and once it is back it holds neither.
	var late strings.Builder
	for i := range 144 {
		fmt.Fprintf(&late, "cpu,host=h3,region=r1 usage=%d %d\n", 1000+i, corpusBase.Add(time.Duration(i)*5*time.Minute+time.Second).UnixNano())
	}
	for _, d := range []*testcluster.DataNode{single, c.data[0]} {
		if r := writeCL(t, d.URL, corpusDB, "one", late.String()); r.status != http.StatusNoContent {
			t.Fatalf("write with a node down: %d %s", r.status, r.body)
		}
	}
	// consistency=one answers before the sends to the dead node fail.
	testcluster.WaitFor(t, 10*time.Second, "points queued for the dead node", func() bool { return c.data[0].HintsPending(dead) })
	mutate("DELETE FROM cpu WHERE host = 'h3' AND region = 'r1'", c.data[1])
	compareCorpus(t, single, c.data[:2], after)
	c.data[2].Restart()
	testcluster.WaitFor(t, 30*time.Second, "the queues for the restarted node drained", func() bool {
		return !c.data[0].HintsPending(dead) && !c.data[1].HintsPending(dead)
	})
	own := corpusAnswer(t, c.data[2].URL, "SELECT count(usage) FROM cpu WHERE host = 'h3' AND region = 'r1'", fmt.Sprintf("&node_id=%d", dead))
	if own.status != http.StatusOK || own.statementError() != "" || len(seriesValues(t, own)) != 0 {
		t.Errorf("the restarted node's own copy still has deleted points: %s", own.body)
	}
	compareCorpus(t, single, c.data, after)
}

// compareCorpus runs every query on want and on each of nodes, plain and
// chunked, and reports the differences.
func compareCorpus(t *testing.T, want *testcluster.DataNode, nodes []*testcluster.DataNode, queries []string) {
	t.Helper()
	for _, q := range queries {
		for _, extra := range []string{"", "&chunked=true&chunk_size=7"} {
			exp := corpusAnswer(t, want.URL, q, extra)
			if exp.status != http.StatusOK || exp.statementError() != "" {
				t.Errorf("standalone: %s: %d %s", q, exp.status, truncate(exp.body))
				continue
			}
			for _, d := range nodes {
				got := corpusAnswer(t, d.URL, q, extra)
				if got.status != exp.status || got.body != exp.body {
					t.Errorf("node %d%s: %s:\n got %d %s\nwant %d %s", d.NodeID(), extra, q, got.status, truncate(got.body), exp.status, truncate(exp.body))
				}
			}
		}
	}
}

func truncate(s string) string {
	const n = 600
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}

// TestRemoteReadsRefuse: the read side of the data service authenticates
// its peer, serves only shards the node owns for reads, and applies the
// query's user's privileges, with typed codes (those that another owner
// may answer differently make the reader fail over).
func TestRemoteReadsRefuse(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	c.createDB(10)
	mustQuery(t, c.data[0].URL, "CREATE USER reader WITH PASSWORD 'reader-password-1'", noCred)
	mustQuery(t, c.data[0].URL, "CREATE USER other WITH PASSWORD 'other-password-1'", noCred)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE elsewhere", noCred)
	mustQuery(t, c.data[0].URL, "GRANT READ ON elsewhere TO other", noCred)
	mustQuery(t, c.data[0].URL, "GRANT READ ON db TO reader", noCred)
	sh := c.shardsOf("db")[0]
	own, outsider := c.split(sh)
	owner := own[0]
	index := c.state().Index
	testcluster.WaitFor(t, 10*time.Second, "every node at the grants' meta index", func() bool {
		for _, d := range c.data {
			if d.MetaIndex() < index {
				return false
			}
		}
		return true
	})
	opts, _, err := data.EncodeCountOptions()
	if err != nil {
		t.Fatal(err)
	}
	// A request without a user is the sending node's own (system), as a
	// node with authentication off sends it.
	req := func(shard uint64, user string, src *datapb.Source) *datapb.ReadShardsRequest {
		return &datapb.ReadShardsRequest{ShardIds: []uint64{shard}, IteratorOptions: opts, Source: src, User: user, MetaIndex: index,
			System: user == ""}
	}
	cpu := &datapb.Source{Database: "db", RetentionPolicy: "autogen", Name: "cpu"}
	open := func(to *testcluster.DataNode, secret string, r *datapb.ReadShardsRequest) error {
		conn, err := cluster.Dial(to.ClusterAddr(), cluster.DialOptions{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := datapb.NewDataServiceClient(conn).ReadShards(ctx, r)
		if err != nil {
			return err
		}
		f, err := s.Recv()
		if err == nil && f.GetBegin() == nil {
			t.Errorf("first frame %v, want a begin frame", f)
		}
		return err
	}
	for _, tc := range []struct {
		name   string
		to     *testcluster.DataNode
		secret string
		req    *datapb.ReadShardsRequest
		want   codes.Code
	}{
		{"no secret", owner, "", req(sh.Id, "", cpu), codes.Unauthenticated},
		{"wrong secret", owner, "not-the-secret", req(sh.Id, "", cpu), codes.Unauthenticated},
		{"not an owner", outsider, replSecret, req(sh.Id, "", cpu), codes.FailedPrecondition},
		{"no such shard", owner, replSecret, req(sh.Id+1000, "", cpu), codes.NotFound},
		{"another database's shard", owner, replSecret, req(sh.Id, "other",
			&datapb.Source{Database: "elsewhere", RetentionPolicy: "autogen", Name: "cpu"}), codes.NotFound},
		{"a user that does not exist", owner, replSecret, req(sh.Id, "nobody", cpu), codes.PermissionDenied},
		{"a user who may not read the database", owner, replSecret, req(sh.Id, "other", cpu), codes.PermissionDenied},
		{"a bad regex", owner, replSecret, req(sh.Id, "", &datapb.Source{Database: "db", RetentionPolicy: "autogen", Regex: "("}), codes.InvalidArgument},
		{"no source", owner, replSecret, req(sh.Id, "", nil), codes.InvalidArgument},
		{"a user who may read", owner, replSecret, req(sh.Id, "reader", cpu), codes.OK},
		{"authentication off where the query runs", owner, replSecret, req(sh.Id, "", cpu), codes.OK},
		// Issue 17, point 2: a continuous query ran without its user, and
		// its remote reads passed unchecked.
		{"no user, not marked as the node's own", owner, replSecret, &datapb.ReadShardsRequest{ShardIds: []uint64{sh.Id},
			IteratorOptions: opts, Source: cpu, MetaIndex: index}, codes.PermissionDenied},
	} {
		if err := open(tc.to, tc.secret, tc.req); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestCancelledQueriesStopRemoteReads: a query that reads remote shards
// stops the owners' work when it ends early: KILL QUERY, the client going
// away, or [coordinator] query-timeout.
func TestCancelledQueriesStopRemoteReads(t *testing.T) {
	c := newReplCluster(t, 3, func(cfg *data.Config) {
		cfg.Coordinator.QueryTimeout = configs.Duration(3 * time.Second)
		cfg.Coordinator.WriteTimeout = configs.Duration(time.Minute) // 4 MB writes under the race detector
	})
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db WITH REPLICATION 2", noCred)
	// 40 MB of string values: more than every buffer on the way (gRPC's
	// flow-control windows, the sockets, the HTTP writer) holds, so that a
	// client that stops reading holds the owner's stream open.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	pad := strings.Repeat("x", 4096)
	for i := range 10 {
		var b strings.Builder
		for j := i * 1000; j < (i+1)*1000; j++ {
			fmt.Fprintf(&b, "big,host=h%d s=\"%s\" %d\n", j%50, pad, base.Add(time.Duration(j)*time.Millisecond).UnixNano())
		}
		if r := writeCL(t, c.data[0].URL, "db", "all", b.String()); r.status != http.StatusNoContent {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
	}
	own, other := c.split(c.shardsOf("db")[0])
	serving := func() int64 {
		var n int64
		for _, d := range own {
			n += d.ActiveRemoteReads()
		}
		return n
	}
	// start begins a chunked raw read of every point on the node that owns
	// nothing and reads its first chunk only: the rest waits, and so does
	// the owner's stream.
	var began time.Time
	start := func() *http.Response {
		t.Helper()
		began = time.Now()
		resp, err := smallBuffers.Get(other.URL + "/query?db=db&chunked=true&chunk_size=100&q=" + url.QueryEscape("SELECT s FROM big"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := resp.Body.Read(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 10*time.Second, "an owner serving the read", func() bool { return serving() == 1 })
		// The stream stays open while the client does not read: what
		// follows measures cancellation, not a stream that ran to its end.
		time.Sleep(300 * time.Millisecond)
		if n := serving(); n != 1 {
			t.Fatalf("%d streams served while the client waits, want 1", n)
		}
		return resp
	}
	stopped := func(how string) {
		t.Helper()
		testcluster.WaitFor(t, 10*time.Second, how+" to stop the owner's stream", func() bool { return serving() == 0 })
		t.Logf("%s stopped the owner's stream %s after the query began", how, time.Since(began).Round(time.Millisecond))
	}

	resp := start()
	var qid int64 = -1
	for id, q := range runningQueries(t, other.URL, noCred) {
		if strings.Contains(q, "FROM big") {
			qid = id
		}
	}
	if qid < 0 {
		t.Fatal("the query is not in SHOW QUERIES")
	}
	mustQuery(t, other.URL, fmt.Sprintf("KILL QUERY %d", qid), noCred)
	stopped("KILL QUERY")
	resp.Body.Close()

	resp = start()
	resp.Body.Close()
	stopped("the client going away")

	resp = start()
	stopped("query-timeout")
	resp.Body.Close()
}

// smallBuffers is an HTTP client whose sockets buffer little (the kernel
// would otherwise grow a loopback receive buffer to megabytes) and that
// asks for no gzip (which shrinks repetitive answers a thousandfold), so
// that a client that stops reading soon holds the server's writes.
var smallBuffers = &http.Client{Transport: &http.Transport{DisableCompression: true, DialContext: (&net.Dialer{
	Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return cmp.Or(err, serr)
	},
}).DialContext}}
