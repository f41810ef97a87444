//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const (
	internalSecret = "e2e-internal-shared-secret"
	waitTimeout    = 30 * time.Second
	ctlTimeout     = 30 * time.Second
)

// metaNode is one palisade-meta process and what it needs to restart.
type metaNode struct {
	raftAddr, rpcAddr string
	metricsAddr       string
	env               []string
	p                 *proc
}

// newMetaNode prepares a meta node on free ports; peers are set later.
func newMetaNode(t testing.TB, name string) *metaNode {
	t.Helper()
	raftPort, rpcPort := freePort(t), freePort(t)
	m := &metaNode{
		raftAddr:    fmt.Sprintf("127.0.0.1:%d", raftPort),
		rpcAddr:     fmt.Sprintf("127.0.0.1:%d", rpcPort),
		metricsAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	m.env = []string{
		"INFLUXDB_HOSTNAME=127.0.0.1",
		"INFLUXDB_META_DIR=" + filepath.Join(t.TempDir(), name),
		"INFLUXDB_META_BIND_ADDRESS=" + m.raftAddr,
		"INFLUXDB_META_HTTP_BIND_ADDRESS=" + m.rpcAddr,
		"INFLUXDB_META_METRICS_BIND_ADDRESS=" + m.metricsAddr,
		"INFLUXDB_META_INTERNAL_SHARED_SECRET=" + internalSecret,
		"INFLUXDB_META_PASSWORD_HASH_COST=4",
		"INFLUXDB_META_ELECTION_TIMEOUT=500ms",
		"INFLUXDB_META_HEARTBEAT_TIMEOUT=500ms",
		"INFLUXDB_META_LEADER_LEASE_TIMEOUT=250ms",
		"INFLUXDB_META_COMMIT_TIMEOUT=10ms",
		"INFLUXDB_LOGGING_LEVEL=debug",
	}
	return m
}

func (m *metaNode) start(t testing.TB, peers []string) {
	t.Helper()
	env := append(append([]string{}, m.env...), "INFLUXDB_META_PEERS="+strings.Join(peers, ","))
	m.p = start(t, "palisade-meta", env)
}

// ctl runs palisade-ctl against the meta nodes at bind, with the internal
// secret in the environment as an operator would set it.
func ctl(t *testing.T, bind []string, stdin string, args ...string) result {
	t.Helper()
	args = append([]string{"-bind", strings.Join(bind, ","), "-timeout", "10s"}, args...)
	r := runBinary(t, ctlTimeout, []string{"INFLUXDB_META_INTERNAL_SHARED_SECRET=" + internalSecret}, stdin, "palisade-ctl", args...)
	if strings.Contains(r.stdout+r.stderr, internalSecret) {
		t.Fatalf("palisade-ctl printed the internal secret")
	}
	return r
}

func mustCtl(t *testing.T, bind []string, stdin string, args ...string) result {
	t.Helper()
	r := ctl(t, bind, stdin, args...)
	if r.code != 0 {
		t.Fatalf("palisade-ctl %s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

var leaderLine = regexp.MustCompile(`(?m)^Leader: (\S+) \(term \d+`)

// waitForShow waits until `palisade-ctl show` reports a leader and every
// node in up as reachable (Leader or Follower) and every node in gone as
// absent. It returns the leader's Raft address.
func waitForShow(t *testing.T, bind []string, up, gone []*metaNode) string {
	t.Helper()
	var leader string
	waitFor(t, waitTimeout, "palisade-ctl show to report a leader and the expected meta nodes", func() (bool, string) {
		r := ctl(t, bind, "", "show")
		if r.code != 0 {
			return false, r.stderr
		}
		m := leaderLine.FindStringSubmatch(r.stdout)
		if m == nil {
			return false, r.stdout
		}
		for _, n := range up {
			row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n.raftAddr) + `\s+` + regexp.QuoteMeta(n.rpcAddr) + `\s+(Leader|Follower)\s+\*?\s*yes$`)
			if !row.MatchString(r.stdout) {
				return false, r.stdout
			}
		}
		for _, n := range gone {
			if strings.Contains(r.stdout, n.raftAddr) {
				return false, r.stdout
			}
		}
		leader = m[1]
		return true, ""
	})
	return leader
}

func TestMetaCluster(t *testing.T) {
	binDir(t)
	nodes := []*metaNode{newMetaNode(t, "meta1"), newMetaNode(t, "meta2"), newMetaNode(t, "meta3")}
	var peers, bind []string
	for _, n := range nodes {
		peers = append(peers, n.raftAddr)
		bind = append(bind, n.rpcAddr)
	}
	for _, n := range nodes {
		n.start(t, peers)
	}

	leaderAddr := waitForShow(t, bind, nodes, nil)
	r := mustCtl(t, bind, "", "user", "create", "alice", "-password", "alice-pw", "-admin")
	if !strings.Contains(r.stdout, "Created admin user alice.") {
		t.Fatalf("user create: %q", r.stdout)
	}
	// The password may come on stdin, too.
	mustCtl(t, bind, "bob-pw\n", "user", "create", "bob")

	// Kill the leader: another node takes over and the users are still there.
	var old *metaNode
	var rest []*metaNode
	for _, n := range nodes {
		if n.raftAddr == leaderAddr {
			old = n
		} else {
			rest = append(rest, n)
		}
	}
	if old == nil {
		t.Fatalf("leader %s is none of the nodes", leaderAddr)
	}
	old.p.kill()
	var newLeader string
	waitFor(t, waitTimeout, "a new leader", func() (bool, string) {
		r := ctl(t, bind, "", "show")
		m := leaderLine.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || m[1] == leaderAddr {
			return false, r.stdout + r.stderr
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(old.raftAddr) + `\s+\S+\s+unreachable`).MatchString(r.stdout) {
			return false, "killed node not shown as unreachable: " + r.stdout
		}
		for _, n := range rest {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n.raftAddr) + `\s+\S+\s+(Leader|Follower)\s`).MatchString(r.stdout) {
				return false, "surviving node not shown as reachable: " + r.stdout
			}
		}
		newLeader = m[1]
		return true, ""
	})
	t.Logf("leader %s killed; new leader %s", leaderAddr, newLeader)
	r = mustCtl(t, bind, "", "user", "list")
	for _, u := range []string{"alice", "bob"} {
		if !regexp.MustCompile(`(?m)^` + u + `\s`).MatchString(r.stdout) {
			t.Fatalf("user %s missing after the leader died:\n%s", u, r.stdout)
		}
	}
	// Writes still work with one node down.
	mustCtl(t, bind, "", "user", "create", "carol", "-password", "carol-pw")

	// Restart the old leader: it rejoins with its stored state.
	old.start(t, peers)
	waitForShow(t, bind, nodes, nil)
	waitFor(t, waitTimeout, "the restarted node to have carol", func() (bool, string) {
		r := ctl(t, []string{old.rpcAddr}, "", "user", "list")
		return r.code == 0 && strings.Contains(r.stdout, "carol"), r.stdout + r.stderr
	})

	// A fourth node, not in the peers, waits until add-meta adds it.
	fourth := newMetaNode(t, "meta4")
	fourth.start(t, peers)
	waitFor(t, waitTimeout, "the fourth node to answer", func() (bool, string) {
		r := ctl(t, []string{fourth.rpcAddr}, "", "show")
		// Not a member yet: its state is empty, but it answers.
		return r.code == 0, r.stderr
	})
	r = mustCtl(t, bind, "", "add-meta", fourth.rpcAddr)
	if want := fmt.Sprintf("Added meta node %s (gRPC %s).", fourth.raftAddr, fourth.rpcAddr); !strings.Contains(r.stdout, want) {
		t.Fatalf("add-meta: %q, want %q", r.stdout, want)
	}
	all := append(append([]*metaNode{}, nodes...), fourth)
	waitForShow(t, bind, all, nil)
	waitFor(t, waitTimeout, "the fourth node to have the users", func() (bool, string) {
		r := ctl(t, []string{fourth.rpcAddr}, "", "user", "list")
		return r.code == 0 && strings.Contains(r.stdout, "alice") && strings.Contains(r.stdout, "carol"), r.stdout + r.stderr
	})

	// Remove it again, by its gRPC address; it stops on SIGTERM with exit 0.
	r = mustCtl(t, bind, "", "remove-meta", fourth.rpcAddr)
	if want := "Removed meta node " + fourth.raftAddr; !strings.Contains(r.stdout, want) {
		t.Fatalf("remove-meta: %q, want %q", r.stdout, want)
	}
	waitForShow(t, bind, nodes, []*metaNode{fourth})
	fourth.p.signal(syscall.SIGTERM)
	if code := fourth.p.wait(waitTimeout); code != 0 {
		t.Fatalf("removed meta node exited with %d after SIGTERM, want 0", code)
	}

	// The cluster still works, and every node stops cleanly on SIGTERM.
	mustCtl(t, bind, "", "user", "drop", "bob")
	for _, n := range nodes {
		n.p.signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		if code := n.p.wait(waitTimeout); code != 0 {
			t.Fatalf("meta node %s exited with %d after SIGTERM, want 0", n.raftAddr, code)
		}
	}
}

// TestMetaWrongSecret: a palisade-ctl without the right internal secret is
// refused with a clear message.
func TestMetaWrongSecret(t *testing.T) {
	binDir(t)
	n := newMetaNode(t, "meta")
	n.start(t, nil)
	bind := []string{n.rpcAddr}
	waitForShow(t, bind, []*metaNode{n}, nil)
	r := runBinary(t, ctlTimeout, []string{"INFLUXDB_META_INTERNAL_SHARED_SECRET=wrong"}, "", "palisade-ctl", "-bind", n.rpcAddr, "user", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "internal shared secret is wrong") || !strings.Contains(r.stderr, "INFLUXDB_META_INTERNAL_SHARED_SECRET") {
		t.Fatalf("wrong secret: exit %d, stderr %q", r.code, r.stderr)
	}
	n.p.signal(syscall.SIGTERM)
	if code := n.p.wait(waitTimeout); code != 0 {
		t.Fatalf("meta node exited with %d after SIGTERM, want 0", code)
	}
}

// TestMetaConfig: `palisade-meta config` prints TOML that parses.
func TestMetaConfig(t *testing.T) {
	binDir(t)
	r := runBinary(t, ctlTimeout, nil, "", "palisade-meta", "config")
	if r.code != 0 {
		t.Fatalf("palisade-meta config: exit %d: %s", r.code, r.stderr)
	}
	var cfg map[string]any
	if _, err := toml.Decode(r.stdout, &cfg); err != nil {
		t.Fatalf("palisade-meta config printed TOML that does not parse: %v\n%s", err, r.stdout)
	}
	m, ok := cfg["meta"].(map[string]any)
	if !ok {
		t.Fatalf("no [meta] table in:\n%s", r.stdout)
	}
	for _, k := range []string{"dir", "bind-address", "http-bind-address", "peers", "internal-shared-secret"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("[meta] %s missing in:\n%s", k, r.stdout)
		}
	}
	if _, ok := cfg["hostname"]; !ok {
		t.Fatalf("hostname missing in:\n%s", r.stdout)
	}
}

// TestCtlUnreachable: palisade-ctl says which address it could not reach.
func TestCtlUnreachable(t *testing.T) {
	binDir(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r := runBinary(t, ctlTimeout, nil, "", "palisade-ctl", "-bind", addr, "show")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "palisade-ctl: cannot reach any meta node at "+addr+": ") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
