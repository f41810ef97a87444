package data_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// shardGroupIDs returns the IDs of db's shard groups from SHOW SHARDS.
func shardGroupIDs(t *testing.T, base, db string) []float64 {
	t.Helper()
	r := mustQuery(t, base, "SHOW SHARDS", noCred)
	var v struct {
		Results []struct {
			Series []struct {
				Name    string   `json:"name"`
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || len(v.Results) != 1 {
		t.Fatalf("SHOW SHARDS: %v: %s", err, r.body)
	}
	var ids []float64
	for _, s := range v.Results[0].Series {
		col := slices.Index(s.Columns, "shard_group")
		if s.Name != db || col < 0 {
			continue
		}
		for _, row := range s.Values {
			if id, ok := row[col].(float64); ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// TestExtremeTimestampsDoNotGrowTheMetaState (issue 6, point 7): a write at
// 9223372036854775806 (the last valid nanosecond) answered 500 and added a
// shard group with an overflowed end to the replicated state at every
// attempt. Now it succeeds like InfluxDB's, with one group for any number
// of writes, and the point can be read back; times outside the range are
// refused with InfluxDB's 400 and create nothing. The answers are those of
// influxd 1.6.7.
func TestExtremeTimestampsDoNotGrowTheMetaState(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{})
	mustQuery(t, d.URL, "CREATE DATABASE db", noCred)

	writeAt := func(ts string, times int) []float64 {
		t.Helper()
		for range times {
			if r := write(t, d.URL, "db", "cpu value=1 "+ts, noCred); r.status != http.StatusNoContent {
				t.Fatalf("write at %s: %d %s", ts, r.status, r.body)
			}
		}
		return shardGroupIDs(t, d.URL, "db")
	}
	last := writeAt("9223372036854775806", 1)
	if len(last) != 1 {
		t.Fatalf("after a write at the last time: shard groups %v, want one", last)
	}
	if got := writeAt("9223372036854775806", 3); !slices.Equal(got, last) {
		t.Fatalf("writes at the last time again: shard groups %v, want %v", got, last)
	}

	for _, tc := range []struct{ ts, msg string }{
		{"9223372036854775807", "unable to parse 'cpu value=2 9223372036854775807': time outside range -9223372036854775806 - 9223372036854775806"},
		{"-9223372036854775807", "unable to parse 'cpu value=2 -9223372036854775807': time outside range -9223372036854775806 - 9223372036854775806"},
		{"-9223372036854775808", "unable to parse 'cpu value=2 -9223372036854775808': time outside range -9223372036854775806 - 9223372036854775806"},
		{"9223372036854775808", `unable to parse 'cpu value=2 9223372036854775808': strconv.ParseInt: parsing "9223372036854775808": value out of range`},
	} {
		r := write(t, d.URL, "db", "cpu value=2 "+tc.ts, noCred)
		if r.status != http.StatusBadRequest || r.errorMessage() != tc.msg || r.header.Get("X-Influxdb-Error") != tc.msg {
			t.Fatalf("write at %s: %d %s (X-Influxdb-Error %q), want 400 %q", tc.ts, r.status, r.body, r.header.Get("X-Influxdb-Error"), tc.msg)
		}
		// With a valid line in the same body (in the group that exists):
		// it is written, the other refused, as influxd 1.6.7 answers.
		r = write(t, d.URL, "db", "cpu value=1 9223372036854775806\ncpu value=2 "+tc.ts, noCred)
		if want := "partial write: " + tc.msg + " dropped=0"; r.status != http.StatusBadRequest || r.errorMessage() != want {
			t.Fatalf("body with a line at %s: %d %s, want 400 %q", tc.ts, r.status, r.body, want)
		}
	}
	if got := shardGroupIDs(t, d.URL, "db"); !slices.Equal(got, last) {
		t.Fatalf("after refused writes: shard groups %v, want %v", got, last)
	}

	both := writeAt("-9223372036854775806", 3)
	if len(both) != 2 {
		t.Fatalf("after writes at the first time: shard groups %v, want two", both)
	}
	r := mustQuery(t, d.URL, "SELECT value FROM db..cpu", noCred)
	got := seriesValues(t, r)
	want := [][]any{{"1677-09-21T00:12:43.145224194Z", 1.0}, {"2262-04-11T23:47:16.854775806Z", 1.0}}
	if len(got) != len(want) {
		t.Fatalf("SELECT: %s, want %v", r.body, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("SELECT row %d: %v, want %v (%s)", i, got[i], want[i], r.body)
		}
	}
}
