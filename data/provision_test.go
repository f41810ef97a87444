package data_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/provision"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
)

// TestProvisionFromEnvReadsVariablesAndFiles (issue 10, point 2): the
// official image's first-start variables, each password also from a file
// (*_FILE), and refusals for what would leave a user or a database out.
func TestProvisionFromEnvReadsVariablesAndFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	p, err := provision.FromEnv(env(
		"INFLUXDB_ADMIN_USER", "root", "INFLUXDB_ADMIN_PASSWORD_FILE", secret,
		"INFLUXDB_DB", "telegraf",
		"INFLUXDB_USER", "tg", "INFLUXDB_USER_PASSWORD", "tg-pw",
		"INFLUXDB_READ_USER", "grafana", "INFLUXDB_READ_USER_PASSWORD_FILE", secret,
		"INFLUXDB_WRITE_USER", "writer", "INFLUXDB_WRITE_USER_PASSWORD", "w-pw",
	))
	want := provision.Plan{AdminUser: "root", AdminPassword: "from-a-file", Database: "telegraf", User: "tg", UserPassword: "tg-pw",
		ReadUser: "grafana", ReadUserPassword: "from-a-file", WriteUser: "writer", WriteUserPassword: "w-pw"}
	if err != nil || p != want {
		t.Fatalf("got %+v, %v\nwant %+v", p, err, want)
	}
	for _, tc := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"both a password and a file", env("INFLUXDB_ADMIN_USER", "root", "INFLUXDB_ADMIN_PASSWORD", "x", "INFLUXDB_ADMIN_PASSWORD_FILE", secret), "both set"},
		{"a file that cannot be read", env("INFLUXDB_ADMIN_USER", "root", "INFLUXDB_ADMIN_PASSWORD_FILE", filepath.Join(dir, "missing")), "INFLUXDB_ADMIN_PASSWORD_FILE"},
		{"a user without a password", env("INFLUXDB_DB", "db", "INFLUXDB_READ_USER", "r"), "INFLUXDB_READ_USER_PASSWORD is empty"},
		{"a password without a user", env("INFLUXDB_DB", "db", "INFLUXDB_WRITE_USER_PASSWORD", "w"), "INFLUXDB_WRITE_USER is empty"},
		{"a user without a database", env("INFLUXDB_USER", "u", "INFLUXDB_USER_PASSWORD", "p"), "INFLUXDB_DB, which is empty"},
	} {
		if _, err := provision.FromEnv(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestProvisionOncePerCluster (issue 17, point 4; issue 10, point 2): the
// database, the admin and the three users with their privileges are
// created at first start. Provisioning ran at every start and put back
// what an operator had removed (a dropped user came back with its old
// password); now each thing is done once per cluster and recorded in the
// meta state, a changed password is left alone, and a changed variable set
// does only what is new in it. No password reaches the log.
func TestProvisionOncePerCluster(t *testing.T) {
	var logs testutil.SyncBuffer
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	d.Kill()
	d.Opts.Provision = provision.Plan{AdminUser: "root", AdminPassword: "root-pw-1", Database: "telegraf",
		User: "tg", UserPassword: "tg-pw-1", ReadUser: "grafana", ReadUserPassword: "gr-pw-1", WriteUser: "writer", WriteUserPassword: "wr-pw-1"}
	d.Opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d.Restart()
	root := basic("root", "root-pw-1")
	grants := func(user string) []string {
		r := query(t, d.URL, "SHOW GRANTS FOR "+user, root)
		if r.status != 200 || r.statementError() != "" {
			return nil
		}
		out := []string{}
		for _, row := range seriesValues(t, r) {
			out = append(out, fmt.Sprint(row[0], " ", row[1]))
		}
		return out
	}
	defer func() {
		if t.Failed() {
			t.Logf("grants: %v %v %v\nlogs:\n%s", grants("tg"), grants("grafana"), grants("writer"), logs.String())
		}
	}()
	want := map[string][]string{"tg": {"telegraf ALL PRIVILEGES"}, "grafana": {"telegraf READ"}, "writer": {"telegraf WRITE"}}
	provisioned := func() bool {
		for u, g := range want {
			if !slices.Equal(grants(u), g) {
				return false
			}
		}
		return true
	}
	testcluster.WaitFor(t, 10*time.Second, "the database, the admin and the users with their privileges", provisioned)
	if r := write(t, d.URL, "telegraf", "cpu v=1", basic("writer", "wr-pw-1")); r.status != 204 {
		t.Fatalf("the write user cannot write: %d %s", r.status, r.body)
	}
	if r := queryDB(t, d.URL, "telegraf", "SELECT * FROM cpu", basic("grafana", "gr-pw-1")); r.status != 200 || r.statementError() != "" {
		t.Fatalf("the read user cannot read: %d %s", r.status, r.body)
	}

	// Incident response: a privilege revoked, a user dropped, a password
	// changed. A restart with the same variables undoes none of it.
	mustQuery(t, d.URL, "REVOKE READ ON telegraf FROM grafana", root)
	mustQuery(t, d.URL, "DROP USER writer", root)
	mustQuery(t, d.URL, "SET PASSWORD FOR tg = 'changed-by-operator'", root)
	restarted := func() {
		d.Kill()
		d.Restart()
		testcluster.WaitFor(t, 10*time.Second, "provisioning to finish (/health)", func() bool {
			return do(t, http.MethodGet, d.URL+"/health", noCred, nil, nil).status == http.StatusOK
		})
	}
	restarted()
	revoked := []string{"telegraf NO PRIVILEGES"} // what InfluxDB shows after a REVOKE
	if g := grants("grafana"); !slices.Equal(g, revoked) {
		t.Fatalf("a revoked privilege came back after a restart: %v", g)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("writer", "wr-pw-1")); r.status != http.StatusUnauthorized {
		t.Fatalf("a dropped user came back after a restart, with its old password: %d %s", r.status, r.body)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("tg", "changed-by-operator")); r.status != 200 {
		t.Fatalf("the operator's password was replaced: %d %s", r.status, r.body)
	}

	// A changed variable set: only what is new in it is done.
	d.Kill()
	d.Opts.Provision.WriteUser, d.Opts.Provision.WriteUserPassword = "writer2", "wr2-pw-1"
	restarted()
	if g := grants("writer2"); !slices.Equal(g, []string{"telegraf WRITE"}) {
		t.Fatalf("the new write user: grants %v, want [telegraf WRITE]", g)
	}
	if g := grants("grafana"); !slices.Equal(g, revoked) {
		t.Fatalf("a changed variable set gave back a revoked privilege: %v", g)
	}
	// The database dropped by the operator, then a new user for it: the
	// database is not created again, and the node does not wait for it.
	mustQuery(t, d.URL, "DROP DATABASE telegraf", root)
	d.Kill()
	d.Opts.Provision.ReadUser, d.Opts.Provision.ReadUserPassword = "grafana2", "gr2-pw-1"
	restarted()
	if r := query(t, d.URL, "SHOW DATABASES", root); strings.Contains(r.body, "telegraf") {
		t.Fatalf("a dropped INFLUXDB_DB was created again: %s", r.body)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("grafana2", "gr2-pw-1")); r.status != http.StatusOK {
		t.Fatalf("the new read user: %d %s", r.status, r.body)
	}
	for _, pw := range []string{"root-pw-1", "tg-pw-1", "gr-pw-1", "wr-pw-1", "wr2-pw-1", "gr2-pw-1", "changed-by-operator"} {
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("a password reached the log")
		}
	}
}

// TestFirstStartHasNoOpenWindow (issue 17, point 3): with auth on and
// INFLUXDB_ADMIN_USER set, the API used to open before provisioning had
// created the admin, and for that moment took an unauthenticated CREATE
// USER … WITH ALL PRIVILEGES (the admin bootstrap). Now every request that
// needs the meta state gets 503 until provisioning has finished, and
// /health fails (so that probes and load balancers wait). A bcrypt cost of
// 12 makes creating the admin take long enough to try.
func TestFirstStartHasNoOpenWindow(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{
		Configure: func(c *data.Config) { authOn(localSecret)(c); c.Meta.PasswordHashCost = 12 },
		Node:      data.Options{Provision: provision.Plan{AdminUser: "root", AdminPassword: "root-pw-1"}},
	})
	r := query(t, d.URL, "CREATE USER evil WITH PASSWORD 'evil-pw-1' WITH ALL PRIVILEGES", noCred)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorMessage(), "provisioning") {
		t.Fatalf("an unauthenticated admin bootstrap during provisioning: %d %s, want 503", r.status, r.body)
	}
	if h := do(t, http.MethodGet, d.URL+"/health", noCred, nil, nil); h.status != http.StatusServiceUnavailable {
		t.Fatalf("/health during provisioning: %d %s, want 503", h.status, h.body)
	}
	testcluster.WaitFor(t, 30*time.Second, "provisioning to finish (/health)", func() bool {
		return do(t, http.MethodGet, d.URL+"/health", noCred, nil, nil).status == http.StatusOK
	})
	if r := query(t, d.URL, "CREATE USER evil WITH PASSWORD 'evil-pw-1' WITH ALL PRIVILEGES", noCred); r.status != http.StatusUnauthorized {
		t.Fatalf("an unauthenticated admin bootstrap once the admin exists: %d %s, want 401", r.status, r.body)
	}
	if r := query(t, d.URL, "SHOW USERS", basic("root", "root-pw-1")); r.status != 200 || strings.Contains(r.body, "evil") {
		t.Fatalf("SHOW USERS: %d %s", r.status, r.body)
	}
}
