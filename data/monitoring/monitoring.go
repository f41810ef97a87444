package monitoring

import (
	"cmp"
	"encoding/json"
	"expvar"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/monitor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palisade-db/palisade/internal/metrics"
	"github.com/palisade-db/palisade/internal/version"
)

// Monitoring is a data node's numbers, one set for every view of them:
// SHOW STATS and SHOW DIAGNOSTICS (the engine's monitor), /debug/vars in
// InfluxDB's expvar shape (Telegraf's influxdb input), and /metrics
// (Prometheus), which adds histograms.
//
// /metrics has two registries: reg holds everything; public holds what
// names no database, retention policy, measurement or shard path (the Go
// runtime, the process, requests, the cluster writer, hinted handoff, the
// meta state, continuous queries, the query executor). With auth on, only
// an admin gets reg (httpd.Config.PublicMetrics).
type Monitoring struct {
	monitor *monitor.Monitor
	reg     *prometheus.Registry
	public  *prometheus.Registry
	started time.Time

	mu      sync.Mutex
	sources []Source
}

// Source gives statistics, with tags added to each.
type Source func(tags map[string]string) []models.Statistic

// Tagged is the Source of statistics that carry only their own tags: the
// monitor's are added to a copy of each one's.
func Tagged(f func() []models.Statistic) Source {
	return func(tags map[string]string) []models.Statistic {
		out := f()
		for i := range out {
			t := make(map[string]string, len(tags)+len(out[i].Tags))
			maps.Copy(t, tags)
			maps.Copy(t, out[i].Tags)
			out[i].Tags = t
		}
		return out
	}
}

// publicTags are the tag keys a statistic may carry and still be served
// to anyone: the HTTP API's bind address and a data node's ID. Any other
// tag (database, retentionPolicy, path, walPath, id, measurement, db, rp,
// login, …) makes it an admin's.
var publicTags = map[string]bool{"bind": true, "node": true}

// publicStatistic reports whether s names nothing but publicTags.
func publicStatistic(s models.Statistic) bool {
	for k := range s.Tags {
		if !publicTags[k] {
			return false
		}
	}
	return true
}

// Open makes the node's monitor and registries; the node started at
// started. Give the monitor to the engine (SHOW STATS, SHOW DIAGNOSTICS).
func Open(started time.Time) (*Monitoring, error) {
	m := &Monitoring{reg: prometheus.NewRegistry(), public: prometheus.NewRegistry(), started: started}
	m.monitor = monitor.New(m, monitor.Config{})
	m.monitor.Version = version.Version
	m.monitor.Branch = "palisade"
	if err := m.monitor.Open(); err != nil {
		return nil, err
	}
	goc, proc := collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	m.reg.MustRegister(goc, proc,
		metrics.StatisticsCollector("palisade", func() []metrics.Stat { return toStats(m.Statistics(nil), nil) }))
	m.public.MustRegister(goc, proc,
		metrics.StatisticsCollector("palisade", func() []metrics.Stat { return toStats(m.Statistics(nil), publicStatistic) }))
	return m, nil
}

// Monitor is the engine's monitor, which reports m's statistics.
func (m *Monitoring) Monitor() *monitor.Monitor { return m.monitor }

// Close stops the monitor.
func (m *Monitoring) Close() error { return m.monitor.Close() }

// Add adds sources of statistics, listed after those added before.
func (m *Monitoring) Add(sources ...Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = append(m.sources, sources...)
}

// Statistics implements monitor.Reporter: every source's, in the order
// they were added (the engine's numbers, the HTTP API's, then Palisade's
// own: the cluster writer, hinted handoff, the data service, the meta
// state, continuous queries).
func (m *Monitoring) Statistics(tags map[string]string) []models.Statistic {
	m.mu.Lock()
	sources := m.sources
	m.mu.Unlock()
	var out []models.Statistic
	for _, s := range sources {
		out = append(out, s(tags)...)
	}
	return out
}

// StoreStatistics is the Source of the engine's store, its databases by
// name, so that SHOW STATS and /debug/vars keep one order (the store
// lists them from a map).
func StoreStatistics(store interface {
	Statistics(map[string]string) []models.Statistic
}) Source {
	return func(tags map[string]string) []models.Statistic {
		out := store.Statistics(tags)
		dbs := 0
		for dbs < len(out) && out[dbs].Name == "database" {
			dbs++
		}
		slices.SortStableFunc(out[:dbs], func(a, b models.Statistic) int { return cmp.Compare(a.Tags["database"], b.Tags["database"]) })
		return out
	}
}

// Register adds c, which names nothing but publicTags, to both registries.
func (m *Monitoring) Register(c prometheus.Collector) error {
	if err := m.reg.Register(c); err != nil {
		return err
	}
	return m.public.Register(c)
}

// MetricsHandler serves /metrics: everything.
func (m *Monitoring) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// PublicMetricsHandler serves /metrics without the statistics that name
// databases, retention policies or shard paths.
func (m *Monitoring) PublicMetricsHandler() http.Handler {
	return promhttp.HandlerFor(m.public, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// DebugVars serves /debug/vars as InfluxDB does: a JSON object with
// "system", "cmdline" and "memstats", then one member per statistic,
// {"name": …, "tags": {…}, "values": {…}}, keyed by the name and the tags
// that tell it apart.
func (m *Monitoring) DebugVars(w http.ResponseWriter, _ *http.Request) {
	stats, err := m.monitor.Statistics(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := map[string]json.RawMessage{}
	put := func(key string, v any) {
		if b, err := json.Marshal(v); err == nil {
			for base, i := key, 1; ; i++ {
				if _, dup := out[key]; !dup {
					break
				}
				key = base + ":" + strconv.Itoa(i)
			}
			out[key] = b
		}
	}
	put("system", map[string]any{"PID": os.Getpid(), "currentTime": time.Now().UTC(), "started": m.started.UTC(),
		"uptime": int64(time.Since(m.started).Seconds())})
	if v := expvar.Get("cmdline"); v != nil {
		out["cmdline"] = json.RawMessage(v.String())
	}
	if v := expvar.Get("memstats"); v != nil {
		out["memstats"] = json.RawMessage(v.String())
	}
	for _, s := range stats {
		put(varsKey(s.Name, s.Tags), s.Statistic)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}

// varsKey is a statistic's key in /debug/vars: its name and its tags'
// values, in the order of their keys.
func varsKey(name string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{name}
	for _, k := range keys {
		parts = append(parts, tags[k])
	}
	return strings.Join(parts, ":")
}

// toStats converts the statistics that keep accepts (nil: all).
func toStats(in []models.Statistic, keep func(models.Statistic) bool) []metrics.Stat {
	out := make([]metrics.Stat, 0, len(in))
	for _, s := range in {
		if keep == nil || keep(s) {
			out = append(out, metrics.Stat{Name: s.Name, Tags: s.Tags, Values: s.Values})
		}
	}
	return out
}
