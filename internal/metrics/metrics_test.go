package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"pointsWrittenOK": "points_written_ok", "req": "req", "queryReqDurationNs": "query_req_duration_ns",
		"HeapAlloc": "heap_alloc", "hh_processor": "hh_processor", "diskBytes": "disk_bytes", "WALCompactionTimeMs": "wal_compaction_time_ms",
		"retention-policy": "retention_policy",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatisticsCollector: every numeric value becomes a gauge with the
// statistic's tags, the tag keys of one name unified.
func TestStatisticsCollector(t *testing.T) {
	c := StatisticsCollector("palisade", func() []Stat {
		return []Stat{
			{Name: "shard", Tags: map[string]string{"id": "1", "database": "db"}, Values: map[string]any{"diskBytes": int64(10), "path": "x"}},
			{Name: "shard", Tags: map[string]string{"id": "2"}, Values: map[string]any{"diskBytes": int64(20)}},
			{Name: "httpd", Values: map[string]any{"pointsWrittenOK": int64(7), "up": true}},
		}
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP palisade_httpd_points_written_ok InfluxDB statistic httpd pointsWrittenOK (SHOW STATS).
# TYPE palisade_httpd_points_written_ok gauge
palisade_httpd_points_written_ok 7
# HELP palisade_shard_disk_bytes InfluxDB statistic shard diskBytes (SHOW STATS).
# TYPE palisade_shard_disk_bytes gauge
palisade_shard_disk_bytes{database="",id="2"} 20
palisade_shard_disk_bytes{database="db",id="1"} 10
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "palisade_httpd_points_written_ok", "palisade_shard_disk_bytes"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 4 {
		t.Fatalf("%d metrics (%v), want 4 (the string value skipped)", n, err)
	}
}
