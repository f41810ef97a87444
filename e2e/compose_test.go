//go:build e2e && e2edocker

package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompose (issue 10, point 3) runs deploy/compose as an operator would:
// the stack comes up in order of health, an admin is created, both data
// nodes take writes and answer queries with every point, authentication is
// enabled by recreating the data containers one at a time while a client
// keeps writing through whichever node answers (no acknowledged point is
// lost; each node refuses requests without credentials once restarted), a
// meta node is cut off from the network and reconnected (the cluster keeps
// working, and converges), and everything is torn down.
//
//	make e2e-docker
//
// Traffic reaches the containers only through the ports published on
// 127.0.0.1, or docker exec.
func TestCompose(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	image := os.Getenv("PALISADE_IMAGE")
	if image == "" {
		image = "palisade:latest"
	}
	project := fmt.Sprintf("pe2e%d", os.Getpid())
	// A real secret, as README.md tells operators to make one: the compose
	// file refuses to start without it (deploy/charttest's
	// TestComposeRefusesToStartWithoutASecret).
	secret := rand.Text()
	ports := []int{composeFreePort(t), composeFreePort(t)}
	env := append(os.Environ(),
		"PALISADE_IMAGE="+image,
		"PALISADE_INTERNAL_SECRET="+secret,
		fmt.Sprintf("PALISADE_DATA0_PORT=%d", ports[0]),
		fmt.Sprintf("PALISADE_DATA1_PORT=%d", ports[1]),
		"INFLUXDB_HTTP_AUTH_ENABLED=false",
	)
	compose := func(extraEnv []string, args ...string) {
		t.Helper()
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", filepath.Join(root, "deploy/compose/docker-compose.yml")}, args...)...)
		cmd.Env = append(env, extraEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		cmd := exec.Command("docker-compose", "-p", project, "-f", filepath.Join(root, "deploy/compose/docker-compose.yml"), "down", "-v", "--timeout", "5")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("docker-compose down: %v\n%s", err, out)
		}
	})
	compose(nil, "up", "-d")
	urls := []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	for _, u := range urls {
		composeWait(t, 3*time.Minute, u+" to be healthy", func() bool { return composeStatus(u+"/health", "") == 200 })
	}

	// The admin, a database, and writes through both nodes.
	if code, body := composeQuery(urls[0], "", "CREATE USER admin WITH PASSWORD 'admin-pw-1' WITH ALL PRIVILEGES"); code != 200 {
		t.Fatalf("creating the admin: %d %s", code, body)
	}
	admin := "admin:admin-pw-1"
	if code, body := composeQuery(urls[1], "", "CREATE DATABASE db"); code != 200 {
		t.Fatalf("CREATE DATABASE: %d %s", code, body)
	}
	var mu sync.Mutex
	acked := 0
	next := 0
	write := func(u, cred string) int {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		code := composeWrite(u, cred, fmt.Sprintf("cpu,host=h%d v=%d %d\n", i%10, i, int64(i)*int64(time.Millisecond)+1))
		if code == 204 {
			mu.Lock()
			acked++
			mu.Unlock()
		}
		return code
	}
	for i := range 20 {
		if code := write(urls[i%2], ""); code != 204 {
			t.Fatalf("write %d: %d", i, code)
		}
	}
	count := func(u, cred string) int {
		_, body := composeQueryDB(u, cred, "db", "SELECT count(v) FROM cpu")
		var n int
		if i := strings.Index(body, `"values":[["1970-01-01T00:00:00Z",`); i >= 0 {
			fmt.Sscanf(body[i+len(`"values":[["1970-01-01T00:00:00Z",`):], "%d", &n)
		}
		return n
	}
	for _, u := range urls {
		composeWait(t, 30*time.Second, u+" to answer every point", func() bool { return count(u, "") == 20 })
	}

	// Enable authentication one data container at a time while a client
	// keeps writing through whichever node answers.
	stopWriting := every(20*time.Millisecond, func(i int) {
		if write(urls[i%2], admin) != 204 {
			write(urls[(i+1)%2], admin) // the other node, while this one restarts
		}
	})
	for i, svc := range []string{"data-0", "data-1"} {
		compose([]string{"INFLUXDB_HTTP_AUTH_ENABLED=true"}, "up", "-d", "--no-deps", svc)
		composeWait(t, 3*time.Minute, svc+" to be healthy again", func() bool { return composeStatus(urls[i]+"/health", "") == 200 })
		if code := composeStatus(urls[i]+"/query?q=SHOW+DATABASES", ""); code != 401 {
			t.Fatalf("%s after the restart: a query without credentials got %d, want 401", svc, code)
		}
	}
	stopWriting()
	mu.Lock()
	want := acked
	mu.Unlock()
	if want <= 20 {
		t.Fatalf("only %d writes acknowledged during the restarts", want)
	}
	for _, u := range urls {
		composeWait(t, time.Minute, fmt.Sprintf("%s to answer the %d acknowledged points", u, want), func() bool { return count(u, admin) == want })
	}

	// A meta node cut off: the cluster keeps working; back, it converges.
	meta2 := project + "_meta-2_1"
	if out, err := exec.Command("docker", "network", "disconnect", project+"_default", meta2).CombinedOutput(); err != nil {
		t.Fatalf("network disconnect: %v %s", err, out)
	}
	if code, body := composeQuery(urls[0], admin, "CREATE DATABASE during_partition"); code != 200 {
		t.Fatalf("a meta change with one meta node cut off: %d %s", code, body)
	}
	if code := write(urls[1], admin); code != 204 {
		t.Fatalf("a write with one meta node cut off: %d", code)
	}
	if out, err := exec.Command("docker", "network", "connect", "--alias", "meta-2", project+"_default", meta2).CombinedOutput(); err != nil {
		t.Fatalf("network connect: %v %s", err, out)
	}
	composeWait(t, time.Minute, "the reconnected meta node to follow the leader again", func() bool {
		out, _ := exec.Command("docker", "exec", meta2, "/usr/bin/palisade-ctl", "-bind", "meta-2:8091",
			"-secret", secret, "show").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "meta-2:8089" {
				return f[2] == "Follower" || f[2] == "Leader"
			}
		}
		return false
	})
	// Every data node still works, and sees the change made without meta-2.
	for _, u := range urls {
		composeWait(t, 30*time.Second, u+" to list the database created during the partition", func() bool {
			code, body := composeQuery(u, admin, "SHOW DATABASES")
			return code == 200 && strings.Contains(body, "during_partition")
		})
	}
}

func composeFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func composeWait(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var composeClient = &http.Client{Timeout: 10 * time.Second}

func composeDo(method, u, cred, contentType string, body io.Reader) (int, string) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, err.Error()
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user, pw, ok := strings.Cut(cred, ":"); ok {
		req.SetBasicAuth(user, pw)
	}
	resp, err := composeClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func composeStatus(u, cred string) int {
	code, _ := composeDo(http.MethodGet, u, cred, "", nil)
	return code
}

func composeQuery(base, cred, q string) (int, string) {
	return composeQueryDB(base, cred, "", q)
}

func composeQueryDB(base, cred, db, q string) (int, string) {
	return composeDo(http.MethodPost, base+"/query?db="+url.QueryEscape(db), cred, "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"q": {q}}.Encode()))
}

func composeWrite(base, cred, lines string) int {
	code, _ := composeDo(http.MethodPost, base+"/write?db=db", cred, "text/plain", strings.NewReader(lines))
	return code
}
