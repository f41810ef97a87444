// Package metrics turns statistics in InfluxDB's shape (a name, tags and
// numeric values, as SHOW STATS and /debug/vars give them) into Prometheus
// metrics, so that /metrics reports the same numbers.
package metrics

import (
	"sort"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
)

// Stat is one statistic: InfluxDB's models.Statistic, without the engine.
type Stat struct {
	Name   string
	Tags   map[string]string
	Values map[string]any
}

// StatisticsCollector reports every numeric value of the statistics that
// gather returns as the gauge <namespace>_<name>_<value>, in snake case
// (httpd pointsWrittenOK: palisade_httpd_points_written_ok), labelled with
// the tags. Statistics of one name that carry different tag keys are
// reported with the union of the keys, the missing ones empty, as
// Prometheus needs one set of labels per metric.
func StatisticsCollector(namespace string, gather func() []Stat) prometheus.Collector {
	return &statsCollector{ns: namespace, gather: gather}
}

type statsCollector struct {
	ns     string
	gather func() []Stat
}

// Describe sends nothing: the metrics depend on the statistics of the
// moment (an unchecked collector).
func (c *statsCollector) Describe(chan<- *prometheus.Desc) {}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.gather()
	labels := map[string][]string{} // statistic name → the union of its tag keys
	for _, s := range stats {
		seen := map[string]bool{}
		for _, k := range labels[s.Name] {
			seen[k] = true
		}
		for k := range s.Tags {
			if !seen[k] {
				labels[s.Name] = append(labels[s.Name], k)
			}
		}
	}
	descs := map[string]*prometheus.Desc{}
	for _, s := range stats {
		keys := labels[s.Name]
		sort.Strings(keys)
		names := make([]string, len(keys))
		values := make([]string, len(keys))
		for i, k := range keys {
			names[i], values[i] = snake(k), s.Tags[k]
		}
		for field, v := range s.Values {
			f, ok := number(v)
			if !ok {
				continue
			}
			name := c.ns + "_" + snake(s.Name) + "_" + snake(field)
			d := descs[name]
			if d == nil {
				d = prometheus.NewDesc(name, "InfluxDB statistic "+s.Name+" "+field+" (SHOW STATS).", names, nil)
				descs[name] = d
			}
			if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, f, values...); err == nil {
				ch <- m
			}
		}
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// snake turns pointsWrittenOK into points_written_ok, and anything that is
// not a letter or digit into _.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case unicode.IsUpper(r):
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1]) && i > 0 && unicode.IsUpper(rs[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
