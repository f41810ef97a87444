package httpd

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/auth"
)

func TestPingHealthStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, target string
		status         int
		body           string
		contentType    string
	}{
		{"GET", "/ping", 204, "", ""},
		{"HEAD", "/ping", 204, "", ""},
		{"GET", "/ping?verbose=true", 200, `{"version":"1.10.0"}`, "application/json"},
		{"GET", "/ping?verbose=1", 200, `{"version":"1.10.0"}`, "application/json"},
		{"GET", "/ping?verbose=false", 204, "", ""},
		{"GET", "/ping?verbose=0", 204, "", ""},
		{"GET", "/ping?unknown=param", 204, "", ""},
		{"GET", "/health", 200, `{"name":"influxdb","message":"ready for queries and writes","status":"pass","checks":[],"version":"1.10.0","meta_state_age_seconds":0}`,
			"application/json; charset=utf-8"},
		{"GET", "/status", 204, "", ""},
		{"HEAD", "/status", 204, "", ""},
	}
	for _, tt := range tests {
		s := newServer(t)
		res := s.do(req{method: tt.method, target: tt.target})
		wantStatus(t, res, tt.status, "")
		if res.body != tt.body {
			t.Errorf("%s %s: body %q, want %q", tt.method, tt.target, res.body, tt.body)
		}
		if ct := res.header.Get("Content-Type"); ct != tt.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.target, ct, tt.contentType)
		}
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	wantStatus(t, s.do(req{target: "/nope"}), 404, "not found")
	wantStatus(t, s.do(req{target: "/query/"}), 404, "not found")
	wantStatus(t, s.do(req{method: "POST", target: "/ping"}), 405, "method not allowed")
	wantStatus(t, s.do(req{method: "DELETE", target: "/health"}), 405, "method not allowed")
	wantStatus(t, s.do(req{method: "OPTIONS", target: "/health"}), 204, "")
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	res := s.do(req{method: "OPTIONS", target: "/query", headers: map[string]string{"Origin": "https://grafana.example"}})
	wantStatus(t, res, 204, "")
	if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://grafana.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := res.header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("Access-Control-Allow-Headers = %q", got)
	}
	res = s.do(req{target: "/ping"})
	if got := res.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS headers without Origin: %q", got)
	}
}

// TestSharedHeaderValues: the header values shared between responses must
// not be changed by a handler or middleware that adds to them.
func TestSharedHeaderValues(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	wrap := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.h.ServeHTTP(w, r)
		w.Header().Add("X-Influxdb-Version", "tampered")
	})
	serve(t, wrap, mustRequest(t, "GET", "/ping", ""))
	res := s.do(req{target: "/ping"})
	if got := res.header.Values("X-Influxdb-Version"); len(got) != 1 || got[0] != testVersion {
		t.Errorf("X-Influxdb-Version = %q", got)
	}
}

func TestErrorHeaderTruncated(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	body := strings.Repeat("é", 2000) // a long bad line of 2-byte characters
	res := s.do(req{method: "POST", target: "/write?db=db0", body: body})
	wantStatus(t, res, 400, "unable to parse '"+body+"': missing fields")
	if h := res.header.Get("X-Influxdb-Error"); len(h) > maxErrorHeader || !strings.HasPrefix(res.body[len(`{"error":"`):], h) {
		t.Errorf("X-Influxdb-Error has %d bytes", len(h))
	}
	for in, want := range map[string]string{
		"plain":                       "plain",
		"line 1\nline 2\r\x00":        "line 1 line 2  ",
		"bad \xf0 byte":               "bad \uFFFD byte",
		"tab\tkept":                   "tab\tkept",
		strings.Repeat("a\xff", 3000): strings.Repeat("a\uFFFD", maxErrorHeader/4),
	} {
		if got := errorHeader(in); got != want {
			t.Errorf("errorHeader(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"日本", 4, "日"},
	} {
		if got := truncateUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// A node without a usable meta state (none yet, another cluster's, too old)
// answers 503 with the reason to everything that needs it, in every auth
// mode, and /health fails; /ping still says the process is alive.
func TestNoUsableMetaState(t *testing.T) {
	t.Parallel()
	const why = "waiting for the meta state"
	for _, authOn := range []bool{false, true} {
		s := newServer(t, func(c *Config) {
			c.AuthEnabled = authOn
			c.MetaStatus = func() MetaStatus { return MetaStatus{Refuse: why, Unhealthy: why, Age: -1} }
		})
		for _, rq := range []req{
			{method: "POST", target: q("CREATE USER x WITH PASSWORD 'y' WITH ALL PRIVILEGES")},
			{target: q("SHOW DATABASES"), user: "admin"},
			{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "writer"},
			{method: "POST", target: "/api/v2/write?bucket=db0", body: "cpu v=1", user: "writer"},
		} {
			res := s.do(rq)
			wantStatus(t, res, 503, why)
			if res.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", rq.method, rq.target)
			}
		}
		if calls, writes, boots := s.eng.queryCalls(), s.eng.writeCalls(), s.eng.bootstrapCalls(); len(calls)+len(writes)+len(boots) != 0 {
			t.Fatalf("auth %v: the engine was reached: %v %v %v", authOn, calls, writes, boots)
		}
		// /health keeps its own body shape when it fails, as in InfluxDB 1.8.
		res := s.do(req{target: "/health"})
		if res.status != 503 {
			t.Errorf("/health status %d, want 503", res.status)
		}
		if want := `{"name":"influxdb","message":"waiting for the meta state","status":"fail","checks":[],"version":"1.10.0","meta_state_age_seconds":-1}`; res.body != want {
			t.Errorf("/health = %s, want %s", res.body, want)
		}
		wantStatus(t, s.do(req{target: "/ping"}), 204, "")
	}

	// Unhealthy alone (e.g. the meta cluster is behind) fails /health only.
	s := newServer(t, func(c *Config) {
		c.MetaStatus = func() MetaStatus { return MetaStatus{Unhealthy: "behind", Age: 90 * time.Second} }
	})
	wantStatus(t, s.do(req{target: q("SHOW DATABASES"), user: "admin"}), 200, "")
	res := s.do(req{target: "/health"})
	if res.status != 503 {
		t.Errorf("/health status %d, want 503", res.status)
	}
	if !strings.Contains(res.body, `"meta_state_age_seconds":90`) {
		t.Errorf("/health = %s, want the age", res.body)
	}
}

// TestMetricsNamesNeedAnAdmin (issue 17, point 8): with auth on, /metrics
// gives everything (database and retention policy names, shard paths)
// only to an admin; a request without credentials, or from another user,
// gets the public metrics; failed credentials get 401. ping-auth-enabled
// asks everyone for credentials. With auth off everything is open.
func TestMetricsNamesNeedAnAdmin(t *testing.T) {
	t.Parallel()
	serve := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
	}
	withMetrics := func(pingAuth bool) func(*Config) {
		return func(c *Config) {
			c.Metrics, c.PublicMetrics, c.PingAuthEnabled = serve("all"), serve("public"), pingAuth
		}
	}
	wrong := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:nope"))}
	for _, tc := range []struct {
		name     string
		pingAuth bool
		rq       req
		status   int
		body     string
	}{
		{"anonymous", false, req{target: "/metrics"}, 200, "public"},
		{"not an admin", false, req{target: "/metrics", user: "reader"}, 200, "public"},
		{"admin", false, req{target: "/metrics", user: "admin"}, 200, "all"},
		{"admin with u and p", false, req{target: "/metrics?u=admin&p=adminpw"}, 200, "all"},
		{"wrong password", false, req{target: "/metrics", headers: wrong}, 401, ""},
		{"unparsable credentials", false, req{target: "/metrics", headers: map[string]string{"Authorization": "Basic !"}}, 401, ""},
		{"ping-auth, anonymous", true, req{target: "/metrics"}, 401, ""},
		{"ping-auth, not an admin", true, req{target: "/metrics", user: "reader"}, 200, "public"},
		{"ping-auth, admin", true, req{target: "/metrics", user: "admin"}, 200, "all"},
		{"POST", false, req{method: "POST", target: "/metrics", user: "admin"}, 405, ""},
	} {
		res := newServer(t, withMetrics(tc.pingAuth)).do(tc.rq)
		if res.status != tc.status || (tc.body != "" && res.body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, res.status, res.body, tc.status, tc.body)
		}
	}

	// Auth off: everything, to anyone.
	off := newServer(t, withMetrics(false), func(c *Config) { c.AuthEnabled = false })
	if res := off.do(req{target: "/metrics"}); res.status != 200 || res.body != "all" {
		t.Errorf("auth off: %d %q", res.status, res.body)
	}
	// No admin yet: nobody is one.
	boot := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS", Metrics: serve("all"), PublicMetrics: serve("public")},
		newCache(t, stateOf(t, false, "reader"), auth.Options{}))
	if res := boot.do(req{target: "/metrics"}); res.status != 200 || res.body != "public" {
		t.Errorf("before an admin exists: %d %q", res.status, res.body)
	}
	// Without a public part, only an admin is served.
	only := newServer(t, func(c *Config) { c.Metrics = serve("all") })
	for user, want := range map[string]int{"": 401, "reader": 403, "admin": 200} {
		if res := only.do(req{target: "/metrics", user: user}); res.status != want {
			t.Errorf("no public metrics, user %q: %d, want %d", user, res.status, want)
		}
	}
}
