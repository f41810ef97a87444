package data_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/provision"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
)

// A data node restarted while every meta node is down keeps authenticating
// users with the last known credentials and serves its data; it catches up
// when meta returns.
func TestRestartWithAllMetaNodesDown(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: "internal-secret-for-tests"})
	d := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	if r := write(t, d.URL, "db0", "cpu,host=a value=1 1000000000\ncpu,host=b value=2 2000000000", basic("writer", writerPW)); r.status != 204 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	id := d.NodeID()

	// The saved state is private.
	st, err := os.Stat(filepath.Join(d.Cfg.Meta.Dir, "state.pb"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("state.pb mode %v, want 0600", st.Mode().Perm())
	}
	// Changes come as deltas and are saved as such (state.log, private
	// too): the last user is only in the journal, and must authenticate
	// after the restart.
	mustQuery(t, d.URL, "CREATE USER journaled WITH PASSWORD 'journaled-pw'", basic("admin", adminPW))
	journal, err := os.Stat(filepath.Join(d.Cfg.Meta.Dir, "state.log"))
	if err != nil || journal.Size() == 0 || journal.Mode().Perm() != 0o600 {
		t.Fatalf("state.log after a change: %v (%v)", err, journal)
	}
	if after, err := os.Stat(filepath.Join(d.Cfg.Meta.Dir, "state.pb")); err != nil || !os.SameFile(st, after) {
		t.Fatalf("state.pb was written again for a change: %v", err)
	}

	d.Kill()
	for i := range c.Nodes {
		c.Kill(i)
	}
	d.Restart()
	if d.NodeID() != id {
		t.Fatalf("node ID %d after restart, want %d", d.NodeID(), id)
	}
	r := queryDB(t, d.URL, "db0", "SELECT value FROM cpu", basic("reader", readerPW))
	if r.status != 200 || len(seriesValues(t, r)) != 2 {
		t.Fatalf("authenticated read with meta down: %d %s", r.status, r.body)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", "wrong")); r.status != 401 {
		t.Fatalf("wrong password with meta down: %d", r.status)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("journaled", "journaled-pw")); r.status != 200 {
		t.Fatalf("the user saved only in state.log, with meta down: %d %s", r.status, r.body)
	}

	// Meta comes back: the node follows again and statements work.
	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitForLeader()
	testcluster.WaitFor(t, 30*time.Second, "CREATE USER through the node after meta returned", func() bool {
		r := query(t, d.URL, "CREATE USER late WITH PASSWORD 'late-pw'", basic("admin", adminPW))
		return r.status == 200 && r.statementError() == ""
	})
	mustQuery(t, d.URL, "SHOW DATABASES", basic("late", "late-pw"))
}

// A clean restart reopens every shard and keeps the node's identity.
func TestStandaloneRestartKeepsDataAndIdentity(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	if r := write(t, d.URL, "db0", "cpu value=1 1000000000\ncpu value=2 2000000000\nmem value=3 3000000000", basic("writer", writerPW)); r.status != 204 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	id := d.NodeID()
	d.Kill()
	d.Restart()
	if d.NodeID() != id {
		t.Fatalf("node ID %d after restart, want %d", d.NodeID(), id)
	}
	r := queryDB(t, d.URL, "db0", "SELECT count(value) FROM cpu", basic("reader", readerPW))
	if v := seriesValues(t, r); len(v) != 1 || v[0][1] != float64(2) {
		t.Fatalf("after restart: %s", r.body)
	}
	// No file under the node's directories may hold a password in clear.
	for _, pw := range []string{adminPW, readerPW, writerPW} {
		assertNotInDir(t, filepath.Dir(d.Cfg.Meta.Dir), pw)
	}
}

func assertNotInDir(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds a password in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Bad input gets InfluxDB's error and nothing is half-written.
func TestBadWrites(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *data.Config) {
		c.HTTP.MaxBodySize = 1 << 10
	}})
	mustQuery(t, d.URL, "CREATE DATABASE db0", noCred)
	count := func() int {
		return len(seriesValues(t, queryDB(t, d.URL, "db0", "SELECT value FROM cpu", noCred)))
	}

	// One bad line in a batch: the others are written, as influxd does.
	r := write(t, d.URL, "db0", "cpu value=1 1000000000\ncpu value= 2000000000\ncpu value=3 3000000000", noCred)
	if want := "partial write: unable to parse 'cpu value= 2000000000': missing field value dropped=0"; r.status != 400 || r.errorMessage() != want {
		t.Fatalf("malformed batch: %d %s, want 400 %q", r.status, r.body, want)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d points written from a batch with one bad line of three, want 2", n)
	}

	// A body over max-body-size.
	big := strings.Repeat("cpu value=1 1000000000\n", 100)
	if r := write(t, d.URL, "db0", big, noCred); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %d %s", r.status, r.body)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d points after a refused huge body, want the 2 of before", n)
	}

	// A body that claims gzip but is not.
	r = do(t, "POST", d.URL+"/write?db=db0", noCred, strings.NewReader("cpu value=1"), map[string]string{"Content-Encoding": "gzip"})
	if r.status != 400 {
		t.Fatalf("bad gzip: %d %s", r.status, r.body)
	}
	// Good gzip works, unknown parameters are ignored.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("cpu value=4 4000000000\n"))
	zw.Close()
	r = do(t, "POST", d.URL+"/write?db=db0&frobnicate=yes", noCred, &buf, map[string]string{"Content-Encoding": "gzip"})
	if r.status != 204 {
		t.Fatalf("gzip write: %d %s", r.status, r.body)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d points after the good write, want 3", n)
	}
	// Bad precision and consistency are refused.
	for _, q := range []string{"precision=fortnight", "consistency=sometimes"} {
		if r := do(t, "POST", d.URL+"/write?db=db0&"+q, noCred, strings.NewReader("cpu value=1"), nil); r.status != 400 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
}

// INFLUXDB_ADMIN_USER / _PASSWORD create the admin once; a restart with the
// variables still set simply starts and keeps the operator's password (the
// step is recorded as done in the meta state: issue 17, point 4).
func TestAdminBootstrapFromEnvironment(t *testing.T) {
	var logs testutil.SyncBuffer
	d := testcluster.StartStandalone(t, testcluster.DataOptions{
		Configure: authOn(localSecret),
	})
	d.Kill()
	d.Opts.Provision = provision.Plan{AdminUser: "root", AdminPassword: "root-pw-1"}
	d.Opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d.Restart()
	testcluster.WaitFor(t, 10*time.Second, "admin created", func() bool {
		return query(t, d.URL, "SHOW USERS", basic("root", "root-pw-1")).status == 200
	})
	mustQuery(t, d.URL, "SET PASSWORD FOR root = 'changed-by-operator'", basic("root", "root-pw-1"))

	// Restart with the old variables: it starts and keeps the changed password.
	d.Kill()
	d.Restart()
	testcluster.WaitFor(t, 10*time.Second, "the node to serve with the changed password", func() bool {
		return query(t, d.URL, "SHOW USERS", basic("root", "changed-by-operator")).status == 200
	})
	if r := query(t, d.URL, "SHOW USERS", basic("root", "root-pw-1")); r.status != 401 {
		t.Fatalf("the password from the environment came back: %d %s", r.status, r.body)
	}
	if strings.Contains(logs.String(), "root-pw-1") || strings.Contains(logs.String(), "changed-by-operator") {
		t.Fatalf("a password reached the log")
	}
}

// A request in flight when the node is told to stop is finished, and what
// it wrote is there after a restart.
func TestShutdownFinishesInFlightWrites(t *testing.T) {
	// The remote addresses of the connections that became active. Only the
	// write's own counts: another process may connect to this port too (a
	// peer of an earlier test still redialling an address now reused).
	active := make(chan string, 64)
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Node: data.Options{
		HTTPConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateActive {
				select {
				case active <- c.RemoteAddr().String():
				default:
				}
			}
		},
	}})
	mustQuery(t, d.URL, "CREATE DATABASE db0", noCred)

	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", d.URL+"/write?db=db0", pr)
	if err != nil {
		t.Fatal(err)
	}
	wroteHeaders := make(chan struct{})
	local := make(chan string, 1)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn:      func(ci httptrace.GotConnInfo) { local <- ci.Conn.LocalAddr().String() },
		WroteHeaders: func() { close(wroteHeaders) },
	}))
	status := make(chan int, 1)
	go func() {
		// A connection of its own: a reused idle one may be closed by the
		// shutdown before the server has read the request from it.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("cpu value=1 1000000000\n")); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	var addr string
	select {
	case addr = <-local:
	case <-timeout:
		t.Fatal("the request never got a connection")
	}
	select {
	case <-wroteHeaders:
	case <-timeout:
		t.Fatal("request never reached the server")
	}
	for seen := ""; seen != addr; {
		select {
		case seen = <-active:
		case <-timeout:
			t.Fatal("the server never read the request")
		}
	}

	stopped := make(chan struct{})
	go func() { d.Kill(); close(stopped) }()
	// The node must wait for the request: it is still sending its body.
	select {
	case <-stopped:
		t.Fatal("node stopped before the in-flight request finished")
	case <-time.After(300 * time.Millisecond):
	}
	pw.Write([]byte("cpu value=2 2000000000\n"))
	pw.Close()
	if st := <-status; st != http.StatusNoContent {
		t.Fatalf("in-flight write got %d", st)
	}
	<-stopped
	d.Restart()
	if v := seriesValues(t, queryDB(t, d.URL, "db0", "SELECT value FROM cpu", noCred)); len(v) != 2 {
		t.Fatalf("after restart: %v", v)
	}
}
