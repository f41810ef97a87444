package data_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// cqTarget is a server the continuous query test talks to.
type cqTarget struct {
	name string
	url  string
}

// TestContinuousQueriesMatchInfluxDB (issue 11, point 3): the same data and
// continuous queries on a standalone Palisade node and on Debian's influxd
// 1.6.7, side by side: the statements answer the same, and the downsampled
// buckets both computed hold the same values. Each server computes the
// buckets that close after the query was created, so the first one may
// differ by a bucket; every bucket in between must be there, without a gap.
func TestContinuousQueriesMatchInfluxDB(t *testing.T) {
	ix := startInfluxd(t, influxdBinary(t), false)
	node := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *data.Config) {
		c.ContinuousQueries.RunInterval = configs.Duration(200 * time.Millisecond)
	}})
	targets := []cqTarget{{"influxd 1.6.7", ix.baseURL()}, {"palisade", node.URL}}
	same := func(q string) string {
		t.Helper()
		var bodies []string
		for _, tg := range targets {
			r := query(t, tg.url, q, noCred)
			if r.status != http.StatusOK {
				t.Fatalf("%s: %s: %d %s", tg.name, q, r.status, r.body)
			}
			bodies = append(bodies, strings.TrimSpace(r.body))
		}
		if bodies[0] != bodies[1] {
			t.Errorf("%s:\n influxd:  %s\n palisade: %s", q, bodies[0], bodies[1])
		}
		return bodies[1]
	}
	same("CREATE DATABASE cq")
	const (
		down      = `CREATE CONTINUOUS QUERY down ON cq BEGIN SELECT mean(v) AS mean, count(v) AS n, max(v) AS max INTO cq.autogen.down FROM cq.autogen.m GROUP BY time(2s), host END`
		resampled = `CREATE CONTINUOUS QUERY resampled ON cq RESAMPLE EVERY 2s FOR 6s BEGIN SELECT sum(v) AS total INTO cq.autogen.resampled FROM cq.autogen.m GROUP BY time(2s, 1s) END`
	)
	// Write first, so that no bucket closes before its points are in.
	now := time.Now()
	var lines []string
	for i := range 300 {
		at := now.Add(-4*time.Second + time.Duration(i)*50*time.Millisecond)
		lines = append(lines, fmt.Sprintf("m,host=h%d v=%d %d", i%2, i%17, at.UnixNano()))
	}
	for _, tg := range targets {
		if r := write(t, tg.url, "cq", strings.Join(lines, "\n"), noCred); r.status != http.StatusNoContent {
			t.Fatalf("%s: write: %d %s", tg.name, r.status, r.body)
		}
	}
	same(down)
	same(resampled)
	same(down) // the same query again: no error
	same(strings.Replace(down, "max(v)", "min(v)", 1))
	same("SHOW CONTINUOUS QUERIES")
	same("DROP CONTINUOUS QUERY nope ON cq")
	same("DROP CONTINUOUS QUERY down ON nodb")

	// The last point is at now+11s: its bucket closes by now+12s, and the
	// servers run their queries within a second after that.
	time.Sleep(time.Until(now.Add(14 * time.Second)))
	same("DROP CONTINUOUS QUERY down ON cq")
	same("DROP CONTINUOUS QUERY resampled ON cq")
	same("SHOW CONTINUOUS QUERIES")

	for _, q := range []string{"SELECT * FROM cq.autogen.down GROUP BY host", "SELECT * FROM cq.autogen.resampled"} {
		var rows []map[string]string
		for _, tg := range targets {
			rows = append(rows, bucketRows(t, query(t, tg.url, q, noCred)))
		}
		common := 0
		for ts, row := range rows[0] {
			if other, ok := rows[1][ts]; ok {
				common++
				if other != row {
					t.Errorf("%s, bucket %s:\n influxd:  %s\n palisade: %s", q, ts, row, other)
				}
			}
		}
		t.Logf("%s: %d buckets in common (influxd %d, palisade %d)", q, common, len(rows[0]), len(rows[1]))
		if common < 4 {
			t.Errorf("%s: %d buckets in common (influxd %d, palisade %d), want at least 4", q, common, len(rows[0]), len(rows[1]))
		}
		for i, tg := range targets {
			if gap := firstGap(rows[i], 2*time.Second); gap != "" {
				t.Errorf("%s on %s: a bucket is missing before %s", q, tg.name, gap)
			}
		}
	}
}

// bucketRows maps each row's series and time to the row, from a query's
// answer.
func bucketRows(t *testing.T, r response) map[string]string {
	t.Helper()
	out := map[string]string{}
	body := strings.TrimSpace(r.body)
	// Every series is {"name":…,"tags":…,"columns":[…],"values":[[time, …], …]}.
	var parsed struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &parsed); err != nil || len(parsed.Results) == 0 {
		t.Fatalf("answer %s: %v", body, err)
	}
	for _, s := range parsed.Results[0].Series {
		for _, v := range s.Values {
			out[fmt.Sprintf("%v %v", s.Tags, v[0])] = fmt.Sprint(v[1:])
		}
	}
	return out
}

// firstGap returns the first bucket time after which the next bucket of
// the same series is missing, or "".
func firstGap(rows map[string]string, every time.Duration) string {
	bySeries := map[string][]time.Time{}
	for k := range rows {
		i := strings.LastIndex(k, " ")
		ts, err := time.Parse(time.RFC3339, k[i+1:])
		if err != nil {
			return "unparsable " + k
		}
		bySeries[k[:i]] = append(bySeries[k[:i]], ts)
	}
	for _, times := range bySeries {
		sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
		for i := 1; i < len(times); i++ {
			if times[i].Sub(times[i-1]) != every {
				return times[i].Format(time.RFC3339)
			}
		}
	}
	return ""
}
