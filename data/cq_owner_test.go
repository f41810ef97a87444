package data_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// cqAuthCluster is one meta node and two data nodes with auth on, an
// admin, continuous queries run every 200 ms and a short lease (a new meta
// leader grants none for a lease's length). It returns the first data
// node's URL and the admin's credentials.
func cqAuthCluster(t *testing.T) (*replCluster, string, cred) {
	t.Helper()
	c := newReplClusterWithMeta(t, 2, func(cfg *pmeta.Config) { cfg.LeaseTTL = time.Second }, func(cfg *data.Config) {
		cfg.HTTP.AuthEnabled = true
		cfg.ContinuousQueries.RunInterval = configs.Duration(200 * time.Millisecond)
	})
	url := c.data[0].URL
	mustQuery(t, url, "CREATE USER admin WITH PASSWORD 'admin-password-1' WITH ALL PRIVILEGES", noCred)
	return c, url, basic("admin", "admin-password-1")
}

// TestContinuousQueryKeepsItsOwnersRights (issue 17, point 2): a user with
// READ on mydb only created a continuous query whose SELECT read another
// database, and read that database's values from the target 25 s later:
// creation checked only the ON database (influxd 1.6.7 does the same), the
// query ran with no authorizer, and its remote reads carried no user,
// which owners skipped. Now creation checks the SELECT … INTO as if the
// user sent it, and each run checks the owner's privileges as they are
// then: a revoked READ stops the query.
func TestContinuousQueryKeepsItsOwnersRights(t *testing.T) {
	c, url, admin := cqAuthCluster(t)
	bob := basic("bob", "bob-password-1")
	for _, q := range []string{
		"CREATE DATABASE mydb WITH REPLICATION 1", "CREATE DATABASE secretdb WITH REPLICATION 1",
		"CREATE USER bob WITH PASSWORD 'bob-password-1'", "GRANT READ ON mydb TO bob",
	} {
		mustQuery(t, url, q, admin)
	}
	// The secret is written on every node's shard: some reads are remote.
	now := time.Now()
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("pw,host=h%d text=\"secret-%d\" %d", i, i, now.Add(-time.Duration(i)*time.Second).UnixNano()))
	}
	if r := write(t, url, "secretdb", strings.Join(lines, "\n"), admin); r.status != http.StatusNoContent {
		t.Fatalf("writing the secret: %d %s", r.status, r.body)
	}
	steal := func(name string) string {
		return "CREATE CONTINUOUS QUERY " + name + " ON mydb RESAMPLE EVERY 1s FOR 1h BEGIN SELECT last(text) AS text INTO stolen FROM secretdb.autogen.pw GROUP BY time(1s), * END"
	}
	// Through either node, READ on mydb is not enough, nor is ALL on it:
	// the SELECT reads secretdb.
	for i, d := range c.data {
		r := query(t, d.URL, steal("steal"), bob)
		if r.status != http.StatusForbidden || !strings.Contains(r.errorMessage(), "requires READ on secretdb") {
			t.Fatalf("node %d: the steal query with READ on mydb: %d %s", i, r.status, r.body)
		}
	}
	mustQuery(t, url, "GRANT ALL ON mydb TO bob", admin)
	if r := query(t, url, steal("steal"), bob); r.status != http.StatusForbidden || !strings.Contains(r.errorMessage(), "requires READ on secretdb") {
		t.Fatalf("the steal query with ALL on mydb: %d %s", r.status, r.body)
	}
	// Into another database, WRITE there is needed too (as SELECT … INTO).
	mustQuery(t, url, "GRANT READ ON secretdb TO bob", admin)
	into := "CREATE CONTINUOUS QUERY copyq ON mydb BEGIN SELECT count(text) INTO secretdb.autogen.copy FROM pw GROUP BY time(1s) END"
	if r := query(t, url, into, bob); r.status != http.StatusForbidden || !strings.Contains(r.errorMessage(), "requires WRITE on secretdb") {
		t.Fatalf("a query into secretdb with READ on it: %d %s", r.status, r.body)
	}

	// With READ on secretdb the query is bob's to make, and runs as bob.
	if r := query(t, url, steal("steal"), bob); r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("the query with READ on secretdb: %d %s", r.status, r.body)
	}
	stolen := func() int {
		r := queryDB(t, url, "mydb", "SELECT count(text) FROM stolen", admin)
		v := seriesValues(t, r)
		if len(v) == 0 {
			return 0
		}
		n, _ := v[0][1].(float64)
		return int(n)
	}
	testcluster.WaitFor(t, 20*time.Second, "the query to copy what bob may read", func() bool { return stolen() > 0 })

	// Revoked: the query stops, as bob could not run it himself.
	mustQuery(t, url, "REVOKE READ ON secretdb FROM bob", admin)
	failures := func() int64 { return cqFailuresAll(t, c, admin) }
	before := failures()
	testcluster.WaitFor(t, 20*time.Second, "runs refused for the revoked READ", func() bool { return failures() >= before+2 })
	if r := queryDB(t, url, "mydb", "DROP SERIES FROM stolen", admin); r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("DROP SERIES: %d %s", r.status, r.body)
	}
	before = failures()
	testcluster.WaitFor(t, 20*time.Second, "more runs refused", func() bool { return failures() >= before+3 })
	if n := stolen(); n != 0 {
		t.Fatalf("the query copied %d values of secretdb after its owner lost READ on it", n)
	}
}

// cqFailuresAll sums the failed continuous query runs of every data node.
func cqFailuresAll(t *testing.T, c *replCluster, admin cred) (n int64) {
	t.Helper()
	for _, d := range c.data {
		n += cqFailures(t, d.URL, admin)
	}
	return n
}

// cqFailures reads a node's failed continuous query runs (SHOW STATS).
func cqFailures(t *testing.T, base string, c cred) int64 {
	t.Helper()
	r := mustQuery(t, base, "SHOW STATS FOR 'cq'", c)
	v := seriesValues(t, r)
	if len(v) == 0 {
		return 0
	}
	cols := seriesColumns(t, r)
	for i, col := range cols {
		if col == "queryFail" {
			n, _ := v[0][i].(float64)
			return int64(n)
		}
	}
	t.Fatalf("no queryFail in SHOW STATS FOR 'cq': %s", r.body)
	return 0
}

// seriesColumns returns the columns of the first series of the first result.
func seriesColumns(t testing.TB, r response) []string {
	t.Helper()
	var v struct {
		Results []struct {
			Series []struct {
				Columns []string `json:"columns"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	if len(v.Results) == 0 || len(v.Results[0].Series) == 0 {
		return nil
	}
	return v.Results[0].Series[0].Columns
}

// TestOwnerlessContinuousQueryStaysInItsDatabase (issue 17, point 2): a
// query in the meta state without an owner (made with authentication off,
// or before owners were recorded, perhaps by the attack above) runs, with
// authentication on, only within its own database: one that reads another
// database fails every run and copies nothing.
func TestOwnerlessContinuousQueryStaysInItsDatabase(t *testing.T) {
	c, url, admin := cqAuthCluster(t)
	mustQuery(t, url, "CREATE DATABASE mydb", admin)
	mustQuery(t, url, "CREATE DATABASE secretdb", admin)
	now := time.Now()
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("pw,host=h%d text=\"secret-%d\",v=%d %d", i, i, i, now.Add(-time.Duration(i)*time.Second).UnixNano()))
	}
	for _, db := range []string{"mydb", "secretdb"} {
		if r := write(t, url, db, strings.Join(lines, "\n"), admin); r.status != http.StatusNoContent {
			t.Fatalf("writing to %s: %d %s", db, r.status, r.body)
		}
	}
	// As an older node, or one with authentication off, stored them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, q := range map[string]string{
		"steal": "CREATE CONTINUOUS QUERY steal ON mydb RESAMPLE EVERY 1s FOR 1h BEGIN SELECT last(text) AS text INTO stolen FROM secretdb.autogen.pw GROUP BY time(1s), * END",
		"down":  "CREATE CONTINUOUS QUERY down ON mydb RESAMPLE EVERY 1s FOR 1h BEGIN SELECT max(v) AS v INTO down FROM pw GROUP BY time(1s), * END",
	} {
		if _, err := c.meta.Client(replSecret).Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateContinuousQuery{
			CreateContinuousQuery: &metapb.CreateContinuousQuery{Database: "mydb", Name: name, Query: q}}}); err != nil {
			t.Fatalf("storing %s: %v", name, err)
		}
	}
	count := func(m string) int {
		v := seriesValues(t, queryDB(t, url, "mydb", "SELECT count(*) FROM "+m, admin))
		if len(v) == 0 {
			return 0
		}
		n, _ := v[0][1].(float64)
		return int(n)
	}
	testcluster.WaitFor(t, 20*time.Second, "the query within its database to run", func() bool { return count("down") > 0 })
	failures := func() int64 { return cqFailuresAll(t, c, admin) }
	before := failures()
	testcluster.WaitFor(t, 20*time.Second, "runs of the other refused", func() bool { return failures() >= before+3 })
	if n := count("stolen"); n != 0 {
		t.Fatalf("a query without an owner copied %d values of another database", n)
	}
}
