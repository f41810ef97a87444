package httpd

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/prometheus/client_golang/prometheus"
)

// stats are the handler's counters. Statistics reports them under
// InfluxDB's httpd names, so that SHOW STATS, /debug/vars (Telegraf's
// influxdb input) and dashboards made for InfluxDB read them.
type stats struct {
	req, queryReq, writeReq, pingReq, statusReq      atomic.Int64
	writeReqBytes                                    atomic.Int64
	pointsWrittenOK, pointsWrittenFail               atomic.Int64
	authFail, authThrottled                          atomic.Int64
	reqDurationNs, queryReqDurationNs, writeReqDurNs atomic.Int64
	reqActive, writeReqActive                        atomic.Int64
	clientError, serverError, recoveredPanics        atomic.Int64

	// duration is palisade_http_request_duration_seconds by endpoint and
	// status; observers caches its children (a label lookup hashes).
	duration  *prometheus.HistogramVec
	observers sync.Map // observerKey → prometheus.Observer
}

type observerKey struct {
	endpoint string
	status   int
}

func newStats() *stats {
	return &stats{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "palisade_http_request_duration_seconds",
		Help:    "Time to answer HTTP API requests, by endpoint and status code (its _count is the number of requests).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint", "status"})}
}

// endpointOf names the endpoint of path for the metrics: a fixed set, so
// that a client asking for random paths cannot grow the label values.
func endpointOf(path string) string {
	switch path {
	case "/ping", "/health", "/status", "/query", "/write", "/api/v2/write", "/metrics", "/debug/vars":
		return path
	}
	if len(path) >= len("/debug/pprof") && path[:len("/debug/pprof")] == "/debug/pprof" {
		return "/debug/pprof"
	}
	return "other"
}

// done counts a finished request.
func (s *stats) done(path string, status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	s.req.Add(1)
	s.reqDurationNs.Add(int64(d))
	switch path {
	case "/query":
		s.queryReq.Add(1)
		s.queryReqDurationNs.Add(int64(d))
	case "/write", "/api/v2/write":
		s.writeReq.Add(1)
		s.writeReqDurNs.Add(int64(d))
	case "/ping":
		s.pingReq.Add(1)
	case "/status", "/health":
		s.statusReq.Add(1)
	}
	switch status / 100 {
	case 4:
		s.clientError.Add(1)
	case 5:
		s.serverError.Add(1)
	}
	key := observerKey{endpointOf(path), status}
	o, ok := s.observers.Load(key)
	if !ok {
		o, _ = s.observers.LoadOrStore(key, s.duration.WithLabelValues(key.endpoint, strconv.Itoa(status)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// Statistics reports the handler's counters as InfluxDB's "httpd"
// statistic.
func (h *Handler) Statistics(tags map[string]string) []models.Statistic {
	s := h.stats
	t := map[string]string{"bind": h.cfg.BindAddress}
	for k, v := range tags {
		t[k] = v
	}
	return []models.Statistic{{Name: "httpd", Tags: t, Values: map[string]any{
		"req":                s.req.Load(),
		"queryReq":           s.queryReq.Load(),
		"writeReq":           s.writeReq.Load(),
		"pingReq":            s.pingReq.Load(),
		"statusReq":          s.statusReq.Load(),
		"writeReqBytes":      s.writeReqBytes.Load(),
		"pointsWrittenOK":    s.pointsWrittenOK.Load(),
		"pointsWrittenFail":  s.pointsWrittenFail.Load(),
		"authFail":           s.authFail.Load(),
		"authThrottled":      s.authThrottled.Load(),
		"reqDurationNs":      s.reqDurationNs.Load(),
		"queryReqDurationNs": s.queryReqDurationNs.Load(),
		"writeReqDurationNs": s.writeReqDurNs.Load(),
		"reqActive":          s.reqActive.Load(),
		"writeReqActive":     s.writeReqActive.Load(),
		"clientError":        s.clientError.Load(),
		"serverError":        s.serverError.Load(),
		"recoveredPanics":    s.recoveredPanics.Load(),
	}}}
}

// Collectors are the handler's Prometheus metrics that are not in
// Statistics (the request duration histogram).
func (h *Handler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.stats.duration}
}
