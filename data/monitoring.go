package data

import (
	"cmp"
	"encoding/json"
	"expvar"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/monitor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/internal/metrics"
	"github.com/palisade-db/palisade/internal/version"
)

// monitoring is a data node's numbers, one set for every view of them:
// SHOW STATS and SHOW DIAGNOSTICS (the engine's monitor), /debug/vars in
// InfluxDB's expvar shape (Telegraf's influxdb input), and /metrics
// (Prometheus), which adds histograms.
//
// /metrics has two registries: reg holds everything; public holds what
// names no database, retention policy, measurement or shard path (the Go
// runtime, the process, requests, the cluster writer, hinted handoff, the
// meta state, continuous queries, the query executor). With auth on, only
// an admin gets reg (httpd.Config.PublicMetrics).
type monitoring struct {
	n       *Node
	monitor *monitor.Monitor
	reg     *prometheus.Registry
	public  *prometheus.Registry
	handler *httpd.Handler // set once the HTTP API is made
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

// openMonitoring makes the node's monitor and registry, and gives the
// engine the monitor (SHOW STATS, SHOW DIAGNOSTICS).
func (n *Node) openMonitoring() error {
	m := &monitoring{n: n, reg: prometheus.NewRegistry(), public: prometheus.NewRegistry()}
	m.monitor = monitor.New(m, monitor.Config{})
	m.monitor.Version = version.Version
	m.monitor.Branch = "palisade"
	if err := m.monitor.Open(); err != nil {
		return err
	}
	n.engine.statements.Monitor = m.monitor
	goc, proc := collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	m.reg.MustRegister(goc, proc,
		metrics.StatisticsCollector("palisade", func() []metrics.Stat { return toStats(m.Statistics(nil), nil) }))
	m.public.MustRegister(goc, proc,
		metrics.StatisticsCollector("palisade", func() []metrics.Stat { return toStats(m.Statistics(nil), publicStatistic) }))
	if n.peers != nil {
		if err := m.register(n.peers.readLatency); err != nil {
			m.monitor.Close()
			return err
		}
	}
	n.mon = m
	return nil
}

func (n *Node) closeMonitoring() error {
	if n.mon == nil {
		return nil
	}
	return n.mon.monitor.Close()
}

// Statistics implements monitor.Reporter: the engine's numbers (shards,
// TSM engines, caches, WALs, the query executor), the HTTP API's, and
// Palisade's own (the cluster writer, hinted handoff, the meta state,
// continuous queries).
func (m *monitoring) Statistics(tags map[string]string) []models.Statistic {
	n := m.n
	var out []models.Statistic
	out = append(out, n.engine.Store.Statistics(tags)...)
	// The store lists its databases from a map: by name here, so that SHOW
	// STATS and /debug/vars keep one order.
	dbs := 0
	for dbs < len(out) && out[dbs].Name == "database" {
		dbs++
	}
	slices.SortStableFunc(out[:dbs], func(a, b models.Statistic) int { return cmp.Compare(a.Tags["database"], b.Tags["database"]) })
	out = append(out, n.engine.QueryExecutor.Statistics(tags)...)
	if m.handler != nil {
		out = append(out, m.handler.Statistics(tags)...)
	}
	with := func(extra map[string]string) map[string]string {
		t := make(map[string]string, len(tags)+len(extra))
		for k, v := range tags {
			t[k] = v
		}
		for k, v := range extra {
			t[k] = v
		}
		return t
	}
	if n.writer != nil {
		out = append(out, models.Statistic{Name: "write", Tags: with(nil), Values: n.writer.stats.values()})
	}
	if n.hints != nil {
		for _, q := range n.hints.svc.Stats() {
			out = append(out, models.Statistic{Name: "hh_processor", Tags: with(map[string]string{"node": strconv.FormatUint(q.Node, 10)}),
				Values: map[string]any{
					"queueRecords": q.Records, "queueBytes": q.Bytes, "oldestAgeSeconds": q.OldestAge.Seconds(),
					"delivered": int64(q.Delivered), "dropped": int64(q.Dropped), "corrupt": int64(q.Corrupt),
					"undeliverable": int64(q.Undeliverable), "purged": int64(q.Purged),
				}})
		}
	}
	if n.dataStats != nil {
		out = append(out, models.Statistic{Name: "rpc", Tags: with(nil), Values: map[string]any{
			"unauthenticated": n.dataStats.Refused.Load(), "panics": n.dataStats.Panics.Load(),
			"connectionsRefused": n.dataConnsRefused.Load(),
		}})
	}
	meta := map[string]any{"index": int64(n.view.Index())}
	if n.fol != nil {
		age := n.fol.age(time.Now())
		if age < 0 { // never confirmed: as old as the process
			age = time.Since(n.started)
		}
		meta["stateAgeSeconds"] = age.Seconds()
		if li := n.fol.leaderIndex.Load(); li > 0 {
			meta["watchLag"] = int64(li) - int64(n.view.Index())
		}
	}
	out = append(out, models.Statistic{Name: "meta", Tags: with(nil), Values: meta})
	if n.cqs != nil {
		s := &n.cqs.stats
		out = append(out, models.Statistic{Name: "cq", Tags: with(nil), Values: map[string]any{
			"queryOk": s.QueryOK.Load(), "queryFail": s.QueryFail.Load(), "pointsWritten": s.PointsWritten.Load(),
			"leaseHeld": s.Holding.Load(),
		}})
	}
	return out
}

// register adds c, which names nothing but publicTags, to both registries.
func (m *monitoring) register(c prometheus.Collector) error {
	if err := m.reg.Register(c); err != nil {
		return err
	}
	return m.public.Register(c)
}

// metricsHandler serves /metrics: everything.
func (m *monitoring) metricsHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// publicMetricsHandler serves /metrics without the statistics that name
// databases, retention policies or shard paths.
func (m *monitoring) publicMetricsHandler() http.Handler {
	return promhttp.HandlerFor(m.public, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// debugVars serves /debug/vars as InfluxDB does: a JSON object with
// "system", "cmdline" and "memstats", then one member per statistic,
// {"name": …, "tags": {…}, "values": {…}}, keyed by the name and the tags
// that tell it apart.
func (m *monitoring) debugVars(w http.ResponseWriter, _ *http.Request) {
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
	put("system", map[string]any{"PID": os.Getpid(), "currentTime": time.Now().UTC(), "started": m.n.started.UTC(),
		"uptime": int64(time.Since(m.n.started).Seconds())})
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
