//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envValue returns the value of name in env (the last one wins, as in
// exec).
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// startInTmpfs starts d's palisade-data in a mount namespace of its own
// (`unshare --mount --propagation private`) with a tmpfs of size mounted
// on dir: nothing is mounted in the host's namespace, and the mount ends
// with the process. From outside, the tmpfs is /proc/<pid>/root<dir>. It
// skips the test when it is not root or unshare is missing (CI runs as
// root).
func startInTmpfs(t *testing.T, d *dataNode, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs in a mount namespace of its own needs root (CI runs the tests as root)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// sh execs the node: the process the harness watches and kills is
	// palisade-data itself, and the namespace ends with it.
	wrapper := []string{unshare, "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount -t tmpfs -o size="$1",mode=0700 palisade-e2e "$2" && shift 2 && exec "$@"`, "sh", size, dir}
	d.p = startWrapped(t, "palisade-data", wrapper, d.env)
	d.waitPing(t)
}

// nodeIDs sets the data node IDs of nodes from palisade-ctl show.
func nodeIDs(t *testing.T, bind []string, nodes ...*dataNode) {
	t.Helper()
	waitFor(t, waitTimeout, "every data node in palisade-ctl show", func() (bool, string) {
		out := mustCtl(t, bind, "", "show").stdout
		for _, d := range nodes {
			d.id = 0
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) > 1 && f[1] == d.httpAddr {
					d.id, _ = strconv.ParseUint(f[0], 10, 64)
				}
			}
			if d.id == 0 {
				return false, out
			}
		}
		return true, out
	})
}

// ownCount is count(v) of measurement m over the shards d owns, read from d
// alone (node_id).
func ownCount(t *testing.T, d *dataNode, m string) int64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/query?db=db&node_id=%d&q=%s", d.httpAddr, d.id, url.QueryEscape("SELECT count(v) FROM "+m)))
	if err != nil {
		t.Fatalf("query %s: %v", d.httpAddr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []struct {
				Values [][]json.RawMessage `json:"values"` // [time, count]
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", d.httpAddr, err)
	}
	var n int64
	for _, r := range body.Results {
		if r.Error != "" {
			t.Fatalf("query %s: %s", d.httpAddr, r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				c, err := strconv.ParseInt(string(v[1]), 10, 64)
				if err != nil {
					t.Fatalf("query %s: count %s: %v", d.httpAddr, v[1], err)
				}
				n += c
			}
		}
	}
	return n
}

// TestHintedHandoffOnATinyDisk (issue 17, point 9) replays the attack: an
// owner is down, the coordinator's hinted-handoff dir is a 6 MiB volume,
// and 40 writes of 5000 points with consistency=any come in. They all got
// 204 while the owner's copy was lost once the volume was full (only
// logged). Now each write is either acknowledged and queued durably, or
// answered 503 with Retry-After; when the owner returns it gets every
// acknowledged point and nothing else, and the queue takes writes again.
// With min-free-space the volume never fills; without (0), the disk's own
// ENOSPC is what refuses.
func TestHintedHandoffOnATinyDisk(t *testing.T) {
	for _, tc := range []struct {
		name, minFree, reason string
	}{
		{"min-free-space 1m", "1m", "min-free-space"},
		{"disk full", "0", "no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) { tinyDiskAttack(t, tc.minFree, tc.reason) })
	}
}

func tinyDiskAttack(t *testing.T, minFree, reason string) {
	m := newMetaNode(t, "meta0")
	m.start(t, nil)
	bind := []string{m.rpcAddr}
	waitForShow(t, bind, []*metaNode{m}, nil)
	common := []string{
		"INFLUXDB_COORDINATOR_WRITE_TIMEOUT=3s",
		"INFLUXDB_HINTED_HANDOFF_RETRY_INTERVAL=100ms",
		"INFLUXDB_HINTED_HANDOFF_RETRY_MAX_INTERVAL=500ms",
	}
	coord := newDataNode(t, bind, append(common, "INFLUXDB_HINTED_HANDOFF_MIN_FREE_SPACE="+minFree)...)
	owner := newDataNode(t, bind, common...)
	hhDir := envValue(coord.env, "INFLUXDB_HINTED_HANDOFF_DIR")
	startInTmpfs(t, coord, hhDir, "6m")
	owner.start(t)
	nodeIDs(t, bind, coord, owner)
	if code, body := httpQuery(t, coord.httpAddr, "", "CREATE DATABASE db WITH REPLICATION 2"); code != 200 {
		t.Fatalf("CREATE DATABASE: %d %s", code, body)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	batch := func(from, n int) string {
		var b strings.Builder
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, "disk,host=h%d v=%di %d\n", i%20, i, base.Add(time.Duration(i)*time.Microsecond).UnixNano())
		}
		return b.String()
	}
	if code := writeLines(coord, "all", batch(0, 1)); code != http.StatusNoContent {
		t.Fatalf("first write: %d", code)
	}
	owner.p.kill()

	const perWrite = 5000
	acked, refused, next := int64(1), 0, 1
	for i := range 40 {
		resp, err := http.Post("http://"+coord.httpAddr+"/write?db=db&consistency=any", "text/plain", strings.NewReader(batch(next, perWrite)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		next += perWrite
		switch {
		case resp.StatusCode == http.StatusNoContent:
			acked += perWrite
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" &&
			strings.Contains(string(b), "hinted handoff queue full") && strings.Contains(string(b), reason):
			refused++
		default:
			t.Fatalf("write %d: %d %s (Retry-After %q); want 204, or 503 with Retry-After for %s",
				i, resp.StatusCode, b, resp.Header.Get("Retry-After"), reason)
		}
	}
	t.Logf("%d points acknowledged, %d writes refused", acked, refused)
	if refused == 0 || acked == 1 {
		t.Fatalf("%d points acknowledged, %d writes refused: the volume never filled, or nothing was queued", acked, refused)
	}
	if minFree != "0" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(fmt.Sprintf("/proc/%d/root%s", coord.p.cmd.Process.Pid, hhDir), &st); err != nil {
			t.Fatal(err)
		}
		if free := int64(st.Bavail) * int64(st.Bsize); free < 1<<20 {
			t.Errorf("the hinted-handoff volume has %d bytes free, below min-free-space (1 MiB)", free)
		}
	}

	owner.start(t)
	waitFor(t, 2*waitTimeout, "the owner to get every acknowledged point", func() (bool, string) {
		n := ownCount(t, owner, "disk")
		if n > acked {
			t.Fatalf("the owner holds %d points, only %d were acknowledged", n, acked)
		}
		return n == acked, fmt.Sprintf("%d of %d", n, acked)
	})

	// The queue gave its space back: with the owner down again, a write
	// is queued and acknowledged.
	owner.p.kill()
	if code := writeLines(coord, "any", batch(next, perWrite)); code != http.StatusNoContent {
		t.Fatalf("a write once the queue had drained: %d, want 204", code)
	}
}

// TestTwoNodesOneDirectory (issue 17, point 10): a second palisade-data or
// palisade-meta given the directories of a running one refuses to start,
// naming the directory and the running process's PID.
func TestTwoNodesOneDirectory(t *testing.T) {
	first := newDataNode(t, nil)
	first.start(t)
	second := newDataNode(t, nil)
	for _, name := range []string{"INFLUXDB_META_DIR", "INFLUXDB_DATA_DIR", "INFLUXDB_DATA_WAL_DIR"} {
		second.env = append(second.env, name+"="+envValue(first.env, name))
	}
	r := runBinary(t, 30*time.Second, second.env, "", "palisade-data")
	want := fmt.Sprintf("is in use by another process (pid %d on host ", first.p.cmd.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, envValue(first.env, "INFLUXDB_META_DIR")) {
		t.Fatalf("a second palisade-data on the same directories: exit %d\n%s\nwant a refusal containing %q", r.code, r.stderr, want)
	}

	m := newMetaNode(t, "meta0")
	m.start(t, nil)
	waitForShow(t, []string{m.rpcAddr}, []*metaNode{m}, nil)
	m2 := newMetaNode(t, "meta1")
	m2.env = append(m2.env, "INFLUXDB_META_DIR="+envValue(m.env, "INFLUXDB_META_DIR"), "INFLUXDB_META_PEERS=")
	r = runBinary(t, 30*time.Second, m2.env, "", "palisade-meta")
	want = fmt.Sprintf("[meta] dir %s is in use by another process (pid %d on host ", envValue(m.env, "INFLUXDB_META_DIR"), m.p.cmd.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("a second palisade-meta on the same directory: exit %d\n%s\nwant a refusal containing %q", r.code, r.stderr, want)
	}
}
