package data_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// TestMonitoringEndpointsAccess (issue 11, point 4): with auth on,
// /debug/pprof needs an admin; /metrics follows ping-auth-enabled and
// /debug/vars pprof-auth-enabled, as in InfluxDB; pprof-enabled=false
// removes /debug/pprof. Failed logins are counted.
func TestMonitoringEndpointsAccess(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		pingAuth, pprofAuth, pprof  bool
		metrics, vars, pprofNoCreds int // status without credentials
		varsBob, pprofBob           int // status for a user who is not an admin
	}{
		{"defaults", false, false, true, 200, 200, 401, 200, 403},
		{"ping-auth and pprof-auth", true, true, true, 401, 401, 401, 403, 403},
		{"pprof off", false, false, false, 200, 200, 404, 200, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *data.Config) {
				c.HTTP.AuthEnabled = true
				c.HTTP.PingAuthEnabled = tc.pingAuth
				c.HTTP.PprofAuthEnabled = tc.pprofAuth
				c.HTTP.PprofEnabled = tc.pprof
			}})
			// Before any admin exists nobody can be one: no profiles.
			if got := do(t, http.MethodGet, node.URL+"/debug/pprof/", noCred, nil, nil).status; got != tc.pprofNoCreds {
				t.Errorf("/debug/pprof/ before an admin exists: %d, want %d", got, tc.pprofNoCreds)
			}
			mustQuery(t, node.URL, "CREATE USER admin WITH PASSWORD 'admin-pass' WITH ALL PRIVILEGES", noCred)
			mustQuery(t, node.URL, "CREATE USER bob WITH PASSWORD 'bob-pass'", basic("admin", "admin-pass"))
			get := func(path string, c cred) int {
				t.Helper()
				return do(t, http.MethodGet, node.URL+path, c, nil, nil).status
			}
			for _, c := range []struct {
				path       string
				none, bob  int
				adminWants int
			}{
				{"/metrics", tc.metrics, 200, 200},
				{"/debug/vars", tc.vars, tc.varsBob, 200},
				{"/debug/pprof/", tc.pprofNoCreds, tc.pprofBob, map[bool]int{true: 200, false: 404}[tc.pprof]},
			} {
				if got := get(c.path, noCred); got != c.none {
					t.Errorf("%s without credentials: %d, want %d", c.path, got, c.none)
				}
				if got := get(c.path, basic("bob", "bob-pass")); got != c.bob {
					t.Errorf("%s as bob: %d, want %d", c.path, got, c.bob)
				}
				if got := get(c.path, basic("admin", "admin-pass")); got != c.adminWants {
					t.Errorf("%s as admin: %d, want %d", c.path, got, c.adminWants)
				}
			}
			if r := query(t, node.URL, "SHOW DATABASES", basic("bob", "wrong")); r.status != http.StatusUnauthorized {
				t.Fatalf("a wrong password: %d", r.status)
			}
			r := do(t, http.MethodGet, node.URL+"/metrics", basic("admin", "admin-pass"), nil, nil)
			if !regexp.MustCompile(`\npalisade_httpd_auth_fail(\{[^}]*\})? [1-9]`).MatchString(r.body) {
				t.Errorf("/metrics does not count the failed logins:\n%s", grepLines(r.body, "auth_fail"))
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsHideNamesFromAnonymousScrapers (issue 17, point 8): with auth
// on, /metrics listed every database and retention policy name, the series
// counts and the shard paths to anyone. Now they are an admin's: a scraper
// without credentials, or with a user that is not an admin, gets the
// process, request, writer and meta metrics, nothing that names a
// database. With auth off nothing changes.
func TestMetricsHideNamesFromAnonymousScrapers(t *testing.T) {
	const db, rp = "secretdb_name", "secretrp_name"
	setup := func(authOn bool) (*testcluster.DataNode, cred) {
		node := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *data.Config) {
			c.HTTP.AuthEnabled = authOn
		}})
		admin := noCred
		if authOn {
			mustQuery(t, node.URL, "CREATE USER admin WITH PASSWORD 'admin-pass' WITH ALL PRIVILEGES", noCred)
			admin = basic("admin", "admin-pass")
			mustQuery(t, node.URL, "CREATE USER bob WITH PASSWORD 'bob-pass'", admin)
		}
		mustQuery(t, node.URL, "CREATE DATABASE "+db+" WITH NAME "+rp, admin)
		if r := write(t, node.URL, db, "cpu,host=h1 v=1", admin); r.status != http.StatusNoContent {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		return node, admin
	}
	metrics := func(node *testcluster.DataNode, c cred) string {
		t.Helper()
		r := do(t, http.MethodGet, node.URL+"/metrics", c, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("/metrics: %d %s", r.status, r.body)
		}
		return r.body
	}
	names := regexp.MustCompile(db + "|" + rp + `|\npalisade_(shard|database|tsm1)_|path="`)
	public := []string{"\ngo_goroutines ", "\nprocess_", "\npalisade_http_request_duration_seconds_count{",
		"\npalisade_httpd_points_written_ok{", "\npalisade_meta_index ", "\npalisade_query_executor_"}

	node, admin := setup(true)
	for who, c := range map[string]cred{"no credentials": noCred, "bob (not an admin)": basic("bob", "bob-pass")} {
		body := metrics(node, c)
		if m := names.FindString(body); m != "" {
			t.Errorf("/metrics for %s names a database, policy or shard (%q):\n%s", who, m, grepLines(body, strings.TrimSpace(m)))
		}
		for _, want := range public {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics for %s lacks %q", who, want)
			}
		}
	}
	body := metrics(node, admin)
	for _, want := range append(public, `palisade_database_num_series{database="`+db+`"} 1`,
		`retention_policy="`+rp+`"`, "\npalisade_shard_write_points_ok{", `path="`) {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics for an admin lacks %q", want)
		}
	}
	if r := do(t, http.MethodGet, node.URL+"/metrics", basic("admin", "wrong"), nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong password: %d", r.status)
	}

	open, _ := setup(false)
	if body := metrics(open, noCred); !strings.Contains(body, `palisade_database_num_series{database="`+db+`"} 1`) ||
		!strings.Contains(body, `retention_policy="`+rp+`"`) {
		t.Errorf("auth off: /metrics lacks the database's metrics:\n%s", grepLines(body, "database"))
	}
}
