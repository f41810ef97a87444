package data_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// startEndlessQuery sends q as the user of c and reads only the response's
// header: the query fills empty buckets without end, so once the
// connection's buffers are full it stays in SHOW QUERIES until it is
// killed or the test ends.
func startEndlessQuery(t *testing.T, base, db, q string, c cred) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query?chunked=true&chunk_size=1000&db="+url.QueryEscape(db),
		strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c(r)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("endless query: status %d", resp.StatusCode)
	}
}

// endlessQueries turns auth on and lifts [coordinator] max-select-buckets,
// which would refuse the endless query (billions of buckets) at once.
func endlessQueries(c *data.Config) {
	authOn(localSecret)(c)
	c.Coordinator.MaxSelectBucketsN = 0
}

// runningQueries is what SHOW QUERIES gives c: query text by id.
func runningQueries(t *testing.T, base string, c cred) map[int64]string {
	t.Helper()
	r := queryDB(t, base, "db0", "SHOW QUERIES", c)
	if r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("SHOW QUERIES: %d %s", r.status, r.body)
	}
	running := map[int64]string{}
	for _, row := range seriesValues(t, r) {
		id, _ := row[0].(float64)
		text, _ := row[1].(string)
		running[int64(id)] = text
	}
	return running
}

// TestShowQueriesHidesOtherUsersQueries (issue 6, point 13): SHOW QUERIES
// showed every user the text of everyone's queries. A non-admin now sees,
// and may kill, only their own; an admin sees and kills all.
func TestShowQueriesHidesOtherUsersQueries(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: endlessQueries})
	setupUsers(t, d.URL)
	admin := basic("admin", adminPW)
	for _, q := range []string{
		"CREATE USER alice WITH PASSWORD 'alice-pw'", "GRANT READ ON db0 TO alice",
		"CREATE USER bob WITH PASSWORD 'bob-pw'", "GRANT READ ON db0 TO bob",
	} {
		mustQuery(t, d.URL, q, admin)
	}
	if r := write(t, d.URL, "db0", "cpu,host=secret-host value=1 1000000000", admin); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	alice, bob := basic("alice", "alice-pw"), basic("bob", "bob-pw")

	const secret = "host = 'secret-host'"
	startEndlessQuery(t, d.URL, "db0", "SELECT count(value) FROM cpu WHERE "+secret+
		" AND time >= 0 AND time < '2200-01-01T00:00:00Z' GROUP BY time(1ms) fill(0)", alice)
	var qid int64
	testcluster.WaitFor(t, 20*time.Second, "alice's query in her SHOW QUERIES", func() bool {
		for id, text := range runningQueries(t, d.URL, alice) {
			if strings.Contains(text, secret) {
				qid = id
				return true
			}
		}
		return false
	})

	for id, text := range runningQueries(t, d.URL, bob) {
		if text != "SHOW QUERIES" {
			t.Errorf("bob sees query %d: %q", id, text)
		}
	}
	if _, ok := runningQueries(t, d.URL, admin)[qid]; !ok {
		t.Errorf("the admin does not see alice's query %d", qid)
	}

	kill := fmt.Sprintf("KILL QUERY %d", qid)
	r := queryDB(t, d.URL, "db0", kill, bob)
	want := "error authorizing query: bob not authorized to execute statement '" + kill + "', requires admin privilege"
	if r.status != http.StatusOK || r.statementError() != want {
		t.Fatalf("bob kills alice's query: %d %s, want the statement error %q", r.status, r.body, want)
	}
	if r := queryDB(t, d.URL, "db0", "KILL QUERY 999999", bob); r.statementError() != strings.Replace(want, kill, "KILL QUERY 999999", 1) {
		t.Errorf("bob kills a query that does not run: %s", r.body)
	}
	if _, ok := runningQueries(t, d.URL, alice)[qid]; !ok {
		t.Fatalf("alice's query %d is gone after bob's KILL QUERY", qid)
	}

	mustQuery(t, d.URL, kill, alice)
	testcluster.WaitFor(t, 20*time.Second, "alice's query to end", func() bool {
		_, ok := runningQueries(t, d.URL, admin)[qid]
		return !ok
	})
}

// TestAdminKillsAnyQuery: an admin's KILL QUERY works on every user's query.
func TestAdminKillsAnyQuery(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: endlessQueries})
	setupUsers(t, d.URL)
	admin, reader := basic("admin", adminPW), basic("reader", readerPW)
	if r := write(t, d.URL, "db0", "cpu value=1 1000000000", admin); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	startEndlessQuery(t, d.URL, "db0", "SELECT count(value) FROM cpu WHERE time >= 0 AND time < '2200-01-01T00:00:00Z' GROUP BY time(1ms) fill(0)", reader)
	var qid int64
	testcluster.WaitFor(t, 20*time.Second, "reader's query in the admin's SHOW QUERIES", func() bool {
		for id, text := range runningQueries(t, d.URL, admin) {
			if strings.Contains(text, "fill(0)") {
				qid = id
				return true
			}
		}
		return false
	})
	mustQuery(t, d.URL, fmt.Sprintf("KILL QUERY %d", qid), admin)
	testcluster.WaitFor(t, 20*time.Second, "reader's query to end", func() bool {
		_, ok := runningQueries(t, d.URL, reader)[qid]
		return !ok
	})
}

// TestCardinalityOfAnotherDatabaseIsForbidden (issue 6, point 3), on a real
// node: the [EXACT] CARDINALITY forms needed no privilege on the database
// they counted, and leaked its measurement names.
func TestCardinalityOfAnotherDatabaseIsForbidden(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	admin, reader := basic("admin", adminPW), basic("reader", readerPW)
	if r := write(t, d.URL, "db1", "secret_measurement,host=h1 value=1", admin); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	for _, q := range []string{
		"SHOW MEASUREMENT EXACT CARDINALITY ON db1",
		"SHOW SERIES EXACT CARDINALITY ON db1",
		"SHOW TAG KEY CARDINALITY ON db1",
		"SHOW TAG KEY EXACT CARDINALITY ON db1",
		"SHOW TAG VALUES CARDINALITY ON db1 WITH KEY = host",
		"SHOW TAG VALUES EXACT CARDINALITY ON db1 WITH KEY = host WHERE host =~ /^h/",
		"SHOW FIELD KEY CARDINALITY ON db1",
		"SHOW FIELD KEY EXACT CARDINALITY ON db1",
		"SHOW SERIES ON db0 FROM db1..secret_measurement",
		"SHOW FIELD KEYS ON db0 FROM db1..secret_measurement",
	} {
		// The statement does count something in db1 ...
		if r := mustQuery(t, d.URL, q, admin); !strings.Contains(r.body, "values") {
			t.Errorf("%s as admin: %s", q, r.body)
		}
		// ... which a reader of db0 may not see.
		r := queryDB(t, d.URL, "db0", q, reader)
		want := "error authorizing query: reader not authorized to execute statement '" + q + "', requires READ on db1"
		if r.status != http.StatusForbidden || r.errorMessage() != want || strings.Contains(r.body, "values") {
			t.Errorf("%s as reader of db0: %d %s, want 403 %q", q, r.status, r.body, want)
		}
	}
}

// TestQueriesWithinTheNestingLimitDoNotCrashTheEngine (issue 6, point 4):
// what passes the handler's limits reaches the engine's recursive walks
// (normalizing, compiling, planning subqueries, evaluating each point). The
// deepest allowed forms must all be answered, and the node must live on.
func TestQueriesWithinTheNestingLimitDoNotCrashTheEngine(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{})
	mustQuery(t, d.URL, "CREATE DATABASE db0", noCred)
	if r := write(t, d.URL, "db0", "cpu,host=a value=1 1000000000\ncpu,host=a value=2 2000000000", noCred); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	const n = 999
	for name, q := range map[string]string{
		"nested subqueries": "SELECT * FROM " + strings.Repeat("(SELECT * FROM ", n) + "cpu" + strings.Repeat(")", n),
		"nested aggregates": "SELECT mean(value) FROM " + strings.Repeat("(SELECT mean(value) AS value FROM ", 300) +
			"cpu GROUP BY time(1s)" + strings.Repeat(")", 300) + " WHERE time > 0 AND time < 10s",
		"parentheses":    "SELECT value FROM cpu WHERE " + strings.Repeat("(", n) + "value > 0" + strings.Repeat(")", n),
		"unary minus":    "SELECT " + strings.Repeat("-(", n/2) + "value" + strings.Repeat(")", n/2) + " FROM cpu",
		"calls":          "SELECT " + strings.Repeat("abs(", n) + "value" + strings.Repeat(")", n) + " FROM cpu",
		"operator chain": "SELECT " + strings.TrimSuffix(strings.Repeat("value + ", n-1), " + ") + " FROM cpu",
		// Just under [http] max-query-size (1 MiB).
		"1 MiB of a+a":       "SELECT " + strings.TrimSuffix(strings.Repeat("a+", 1<<19-16), "+") + " FROM cpu",
		"1 MiB of -(":        "SELECT " + strings.Repeat("-(", 1<<19-16) + "value",
		"1 MiB of subquery(": "SELECT * FROM " + strings.Repeat("(SELECT * FROM ", 1<<16-2),
	} {
		r := queryDB(t, d.URL, "db0", q, noCred)
		switch {
		case r.status == http.StatusOK && r.statementError() == "":
		case r.status == http.StatusBadRequest && r.errorMessage() == "error parsing query: nesting too deep":
		default:
			t.Errorf("%s: %d %.300s", name, r.status, r.body)
		}
	}
	if r := do(t, http.MethodGet, d.URL+"/ping", noCred, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("ping after the deep queries: %d", r.status)
	}
}
