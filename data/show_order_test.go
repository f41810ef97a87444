package data_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// showState is one order in which the same state is made.
type showState struct {
	dbs, users []string
	rps        map[string][]string // by database, in creation order
	grants     [][3]string         // user, database, privilege
	cqs        [][2]string         // database, name
}

// newShowState draws a creation order of the same databases, users,
// policies, grants and continuous queries.
func newShowState(r *rand.Rand) showState {
	shuffled := func(s ...string) []string {
		s = slices.Clone(s)
		r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		return s
	}
	st := showState{dbs: shuffled("db0", "db1", "db2"), users: shuffled("alice", "bob", "carol"), rps: map[string][]string{}}
	for _, db := range st.dbs {
		st.rps[db] = shuffled("week", "month", "year")
	}
	st.grants = [][3]string{{"bob", "db0", "READ"}, {"bob", "db1", "WRITE"}, {"bob", "db2", "ALL"}, {"alice", "db2", "READ"}, {"alice", "db0", "WRITE"}}
	r.Shuffle(len(st.grants), func(i, j int) { st.grants[i], st.grants[j] = st.grants[j], st.grants[i] })
	for _, db := range []string{"db0", "db1", "db2"} {
		for _, name := range []string{"cq_a", "cq_b", "cq_c"} {
			st.cqs = append(st.cqs, [2]string{db, name})
		}
	}
	r.Shuffle(len(st.cqs), func(i, j int) { st.cqs[i], st.cqs[j] = st.cqs[j], st.cqs[i] })
	return st
}

// build makes the state through url.
func (st showState) build(t *testing.T, url string) {
	t.Helper()
	for _, db := range st.dbs {
		mustQuery(t, url, "CREATE DATABASE "+db, noCred)
	}
	for _, u := range st.users {
		mustQuery(t, url, fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s-password'", u, u), noCred)
	}
	for _, db := range st.dbs {
		for _, rp := range st.rps[db] {
			mustQuery(t, url, fmt.Sprintf("CREATE RETENTION POLICY %s ON %s DURATION 400d REPLICATION 1", rp, db), noCred)
		}
	}
	for _, g := range st.grants {
		mustQuery(t, url, fmt.Sprintf("GRANT %s ON %s TO %s", g[2], g[1], g[0]), noCred)
	}
	for _, cq := range st.cqs {
		mustQuery(t, url, fmt.Sprintf("CREATE CONTINUOUS QUERY %s ON %s BEGIN SELECT mean(v) INTO %s_down FROM m GROUP BY time(1h) END",
			cq[1], cq[0], cq[1]), noCred)
	}
	for _, db := range st.dbs {
		if r := write(t, url, db, "m,host=a v=1 1700000000000000000\nm,host=b v=2 1700000000000000000\nn,host=c w=3 1700000000000000000", noCred); r.status != http.StatusNoContent {
			t.Fatalf("write %s: %d %s", db, r.status, r.body)
		}
	}
}

// showStatements are every SHOW statement whose answer does not change
// while nothing else does (SHOW STATS, DIAGNOSTICS and QUERIES carry
// counters and times).
var showStatements = []string{
	"SHOW DATABASES", "SHOW USERS", "SHOW GRANTS FOR bob", "SHOW GRANTS FOR alice", "SHOW CONTINUOUS QUERIES",
	"SHOW RETENTION POLICIES ON db0", "SHOW RETENTION POLICIES ON db1", "SHOW RETENTION POLICIES ON db2",
	"SHOW SHARDS", "SHOW SHARD GROUPS", "SHOW MEASUREMENTS ON db1", "SHOW TAG KEYS ON db1", "SHOW FIELD KEYS ON db1",
	"SHOW SERIES ON db1", `SHOW TAG VALUES ON db1 WITH KEY = "host"`, "SHOW MEASUREMENTS ON *.*",
	"SHOW SERIES CARDINALITY ON db1", "SHOW MEASUREMENT CARDINALITY ON db1",
}

// firstColumn lists the first column of every row of every series of r,
// prefixed by the series' name.
func firstColumn(t *testing.T, body string) []string {
	t.Helper()
	var v struct {
		Results []struct {
			Series []struct {
				Name   string  `json:"name"`
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	var out []string
	for _, r := range v.Results {
		for _, s := range r.Series {
			for _, row := range s.Values {
				out = append(out, fmt.Sprint(s.Name, "/", row[0]))
			}
		}
	}
	return out
}

// checkShowOrder runs every SHOW statement 50 times through each url and
// requires one answer each time, in the documented order.
func checkShowOrder(t *testing.T, st showState, urls []string) {
	t.Helper()
	want := map[string][]string{"SHOW DATABASES": {}, "SHOW USERS": {}, "SHOW CONTINUOUS QUERIES": {}}
	for _, db := range st.dbs { // creation order, as influxd
		want["SHOW DATABASES"] = append(want["SHOW DATABASES"], "databases/"+db)
		rps := []string{"/autogen"}
		for _, rp := range st.rps[db] {
			rps = append(rps, "/"+rp)
		}
		want["SHOW RETENTION POLICIES ON "+db] = rps
		for _, cq := range st.cqs {
			if cq[0] == db {
				want["SHOW CONTINUOUS QUERIES"] = append(want["SHOW CONTINUOUS QUERIES"], db+"/"+cq[1])
			}
		}
	}
	for _, u := range st.users {
		want["SHOW USERS"] = append(want["SHOW USERS"], "/"+u)
	}
	want["SHOW GRANTS FOR bob"] = []string{"/db0", "/db1", "/db2"} // by database
	want["SHOW GRANTS FOR alice"] = []string{"/db0", "/db2"}
	for _, q := range showStatements {
		var first string
		for i, url := range urls {
			for n := range 50 {
				r := query(t, url, q, noCred)
				if r.status != http.StatusOK || r.statementError() != "" {
					t.Fatalf("node %d: %s: %d %s", i, q, r.status, r.body)
				}
				if first == "" {
					first = r.body
					if w, ok := want[q]; ok && !slices.Equal(firstColumn(t, r.body), w) {
						t.Errorf("%s: rows %v, want %v", q, firstColumn(t, r.body), w)
					}
				} else if r.body != first {
					t.Fatalf("%s, node %d, run %d:\n%s\nthe first answer was:\n%s", q, i, n, r.body, first)
				}
			}
		}
	}
}

// atCreationOrderLevel waits until d's cluster runs at the feature level
// that records creation indexes (6), which a new cluster's leader raises to
// within moments of its start.
func atCreationOrderLevel(t *testing.T, d *testcluster.DataNode) {
	t.Helper()
	testcluster.WaitFor(t, 10*time.Second, "feature level 6", func() bool { return d.Node.MetaState().GetFeatureLevel() >= 6 })
}

// TestShowAnswersInAStableOrder (issue 24): every SHOW statement answers
// the same bytes every time, through every node, in a documented order:
// databases, retention policies, users and continuous queries in creation
// order (influxd's), grants by database (influxd: a map's order, a new one
// each time). The same state is built in several random orders (the seed
// is logged to replay one), and once next to influxd 1.6.7.
func TestShowAnswersInAStableOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 17))
	for i := range 3 {
		st := newShowState(r)
		t.Run(fmt.Sprintf("standalone %d %s", i, strings.Join(st.dbs, ",")), func(t *testing.T) {
			d := testcluster.StartStandalone(t, testcluster.DataOptions{})
			atCreationOrderLevel(t, d)
			st.build(t, d.URL)
			checkShowOrder(t, st, []string{d.URL})
		})
	}
	// Side by side with influxd 1.6.7: the statements whose order follows
	// creation list the same rows in the same order.
	st := newShowState(r)
	t.Run("influxd 1.6.7 "+strings.Join(st.dbs, ","), func(t *testing.T) {
		ix := startInfluxd(t, influxdBinary(t), false)
		d := testcluster.StartStandalone(t, testcluster.DataOptions{})
		atCreationOrderLevel(t, d)
		st.build(t, ix.baseURL())
		st.build(t, d.URL)
		for _, q := range []string{"SHOW DATABASES", "SHOW USERS", "SHOW CONTINUOUS QUERIES",
			"SHOW RETENTION POLICIES ON db0", "SHOW RETENTION POLICIES ON db1", "SHOW RETENTION POLICIES ON db2"} {
			want := firstColumn(t, query(t, ix.baseURL(), q, noCred).body)
			if got := firstColumn(t, query(t, d.URL, q, noCred).body); !slices.Equal(got, want) {
				t.Errorf("%s: palisade %v, influxd %v", q, got, want)
			}
		}
	})
	st = newShowState(r)
	t.Run("cluster "+strings.Join(st.dbs, ","), func(t *testing.T) {
		c := newReplCluster(t, 2, nil)
		atCreationOrderLevel(t, c.data[0])
		st.build(t, c.data[0].URL)
		testcluster.WaitFor(t, 10*time.Second, "both nodes at the same meta index", func() bool {
			return c.data[0].MetaIndex() == c.data[1].MetaIndex()
		})
		checkShowOrder(t, st, []string{c.data[0].URL, c.data[1].URL})
	})
}
