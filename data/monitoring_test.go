package data_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/configs"
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
			node := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *configs.Data) {
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
