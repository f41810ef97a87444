//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dataNode is one palisade-data process and what it needs to restart.
type dataNode struct {
	httpAddr string
	// id is the node's data node ID (cluster mode; replicatedCluster sets it).
	id  uint64
	env []string
	p   *proc
}

// newDataNode prepares a data node on free ports; servers empty = standalone.
func newDataNode(t testing.TB, servers []string, extra ...string) *dataNode {
	t.Helper()
	dir := t.TempDir()
	d := &dataNode{httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	d.env = append([]string{
		"INFLUXDB_HOSTNAME=127.0.0.1",
		"INFLUXDB_HTTP_BIND_ADDRESS=" + d.httpAddr,
		fmt.Sprintf("INFLUXDB_CLUSTER_BIND_ADDRESS=127.0.0.1:%d", freePort(t)),
		"INFLUXDB_META_DIR=" + filepath.Join(dir, "meta"),
		"INFLUXDB_DATA_DIR=" + filepath.Join(dir, "data"),
		"INFLUXDB_DATA_WAL_DIR=" + filepath.Join(dir, "wal"),
		"INFLUXDB_HINTED_HANDOFF_DIR=" + filepath.Join(dir, "hh"),
		"INFLUXDB_META_PASSWORD_HASH_COST=4",
		"INFLUXDB_META_SERVERS=" + strings.Join(servers, ","),
		"INFLUXDB_META_META_INTERNAL_SHARED_SECRET=" + internalSecret,
	}, extra...)
	return d
}

func (d *dataNode) start(t testing.TB) {
	t.Helper()
	d.p = start(t, "palisade-data", d.env)
	d.waitPing(t)
}

// waitPing waits until d's process answers /ping.
func (d *dataNode) waitPing(t testing.TB) {
	t.Helper()
	waitFor(t, waitTimeout, "palisade-data to answer /ping", func() (bool, string) {
		if !d.p.running() {
			t.Fatalf("palisade-data exited:\n%s", d.p.output())
		}
		resp, err := http.Get("http://" + d.httpAddr + "/ping")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent, resp.Status
	})
}

// httpQuery runs q with an Authorization header and returns status and body.
func httpQuery(t testing.TB, addr, authz, q string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tool returns the path of a Debian client the tests drive; make test installs
// them (scripts/setup-test-deps.sh).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: apt-get install %s (make test installs it: scripts/setup-test-deps.sh)", name, pkg)
	}
	return p
}

func runTool(t *testing.T, stdin string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = baseEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out", name)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return code, string(out)
}

const pythonClient = `
import sys
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = InfluxDBClient(host=host, port=port, username=user, password=pw, database="py")
c.create_database("py")
ok = c.write_points([
    {"measurement": "cpu", "tags": {"host": "a"}, "time": "2020-01-01T00:00:00Z", "fields": {"value": 1.5}},
    {"measurement": "cpu", "tags": {"host": "b"}, "time": "2020-01-01T00:00:01Z", "fields": {"value": 2.5}},
])
assert ok, "write_points returned False"
points = list(c.query("SELECT value FROM cpu").get_points())
assert [p["value"] for p in points] == [1.5, 2.5], points
assert {"name": "py"} in c.get_list_database(), c.get_list_database()
c.create_user("pyreader", "pyreader-pw")
c.grant_privilege("read", "py", "pyreader")
r = InfluxDBClient(host=host, port=port, username="pyreader", password="pyreader-pw", database="py")
assert len(list(r.query("SELECT value FROM cpu").get_points())) == 2
try:
    r.write_points([{"measurement": "cpu", "fields": {"value": 3.0}}])
    raise SystemExit("a reader could write")
except InfluxDBClientError as e:
    assert e.code == 403, e
bad = InfluxDBClient(host=host, port=port, username=user, password="wrong", database="py")
try:
    bad.query("SHOW DATABASES")
    raise SystemExit("a wrong password was accepted")
except InfluxDBClientError as e:
    assert e.code == 401, e
print("python client ok")
`

// Debian's python3-influxdb and influx CLI against a standalone node with
// auth on, the admin created from INFLUXDB_ADMIN_USER; then a SIGTERM and a
// restart with the variables still set.
func TestStandaloneWithDebianClients(t *testing.T) {
	python := tool(t, "/usr/bin/python3", "python3-influxdb")
	influx := tool(t, "influx", "influxdb-client")
	d := newDataNode(t, nil,
		"INFLUXDB_HTTP_AUTH_ENABLED=true",
		"INFLUXDB_ADMIN_USER=admin",
		"INFLUXDB_ADMIN_PASSWORD=e2e-admin-pw",
	)
	d.start(t)
	waitFor(t, waitTimeout, "the admin from INFLUXDB_ADMIN_USER", func() (bool, string) {
		code, body := httpQuery(t, d.httpAddr, "Token admin:e2e-admin-pw", "SHOW USERS")
		return code == 200, body
	})

	host, port, _ := strings.Cut(d.httpAddr, ":")
	if code, out := runTool(t, "", python, "-c", pythonClient, host, port, "admin", "e2e-admin-pw"); code != 0 || !strings.Contains(out, "python client ok") {
		t.Fatalf("python client: exit %d\n%s", code, out)
	}

	cli := func(user, pw string, args ...string) (int, string) {
		return runTool(t, "", influx, append([]string{"-host", host, "-port", port, "-username", user, "-password", pw}, args...)...)
	}
	if code, out := cli("admin", "e2e-admin-pw", "-execute", "CREATE DATABASE cli"); code != 0 {
		t.Fatalf("influx CREATE DATABASE: %d %s", code, out)
	}
	if code, out := cli("admin", "e2e-admin-pw", "-database", "cli", "-execute", "INSERT mem,host=x used=42i"); code != 0 {
		t.Fatalf("influx INSERT: %d %s", code, out)
	}
	code, out := cli("admin", "e2e-admin-pw", "-database", "cli", "-format", "csv", "-execute", "SELECT used FROM mem")
	if code != 0 || !strings.Contains(out, ",42") {
		t.Fatalf("influx SELECT: %d %s", code, out)
	}
	code, out = cli("admin", "e2e-admin-pw", "-execute", "SHOW DATABASES")
	if code != 0 || !strings.Contains(out, "cli") || !strings.Contains(out, "py") {
		t.Fatalf("influx SHOW DATABASES: %d %s", code, out)
	}
	if code, out := cli("admin", "wrong", "-execute", "SHOW DATABASES"); code == 0 || !strings.Contains(out, "authorization failed") {
		t.Fatalf("influx with a wrong password: %d %s", code, out)
	}

	// SIGTERM: a clean exit. Restart with INFLUXDB_ADMIN_* still set: it simply starts.
	d.p.signal(syscall.SIGTERM)
	if code := d.p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, d.p.output())
	}
	d.start(t)
	code, out = cli("admin", "e2e-admin-pw", "-database", "cli", "-format", "csv", "-execute", "SELECT used FROM mem")
	if code != 0 || !strings.Contains(out, ",42") {
		t.Fatalf("after restart: %d %s", code, out)
	}
	for _, pw := range []string{"e2e-admin-pw", "pyreader-pw"} {
		if strings.Contains(d.p.output(), pw) {
			t.Fatalf("a password reached the log")
		}
	}
}

// A JWT minted by palisade-ctl with a cluster secret works on a data node;
// rotating the secret through palisade-ctl needs no restart.
func TestClusterJWTRotationWithCtl(t *testing.T) {
	m := newMetaNode(t, "meta0")
	m.start(t, nil)
	bind := []string{m.rpcAddr}
	waitForShow(t, bind, []*metaNode{m}, nil)
	d := newDataNode(t, bind, "INFLUXDB_HTTP_AUTH_ENABLED=true")
	d.start(t)

	mustCtl(t, bind, "e2e-admin-pw\n", "user", "create", "admin", "-admin")
	mustCtl(t, bind, "", "secret", "add", "-id", "first")
	first := strings.TrimSpace(mustCtl(t, bind, "", "token", "-user", "admin", "-exp", "1h").stdout)
	waitFor(t, waitTimeout, "the data node to accept the first token", func() (bool, string) {
		code, body := httpQuery(t, d.httpAddr, "Bearer "+first, "SHOW DATABASES")
		return code == 200, body
	})

	mustCtl(t, bind, "", "secret", "add", "-id", "second")
	second := strings.TrimSpace(mustCtl(t, bind, "", "token", "-user", "admin", "-exp", "1h").stdout)
	if second == first {
		t.Fatal("the token did not change with the newest secret")
	}
	mustCtl(t, bind, "", "secret", "remove", "first")
	waitFor(t, waitTimeout, "the first token to be refused", func() (bool, string) {
		code, body := httpQuery(t, d.httpAddr, "Bearer "+first, "SHOW DATABASES")
		return code == 401 && strings.Contains(body, "signature is invalid"), body
	})
	if code, body := httpQuery(t, d.httpAddr, "Bearer "+second, "SHOW DATABASES"); code != 200 {
		t.Fatalf("second token: %d %s", code, body)
	}
	// The data node appears in `palisade-ctl show`.
	if out := mustCtl(t, bind, "", "show").stdout; !strings.Contains(out, d.httpAddr) {
		t.Fatalf("show does not list the data node:\n%s", out)
	}
}
