package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
)

// TestHealthcheck (issue 10, point 1): `palisade-meta healthcheck` exits 0
// against a running meta node, without the internal secret the MetaService
// requires, finds the node from INFLUXDB_META_* as the node does, and fails
// against a port where no meta node answers.
func TestHealthcheck(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 1, Secret: "a-secret-the-probe-does-not-have"})
	addr := c.RPCAddrs()[0]
	var out, errOut bytes.Buffer
	if err := run([]string{"healthcheck", "-addr", addr}, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("healthcheck of a running meta node: %v (%q, %q)", err, out.String(), errOut.String())
	}
	t.Setenv("INFLUXDB_META_HTTP_BIND_ADDRESS", addr)
	if err := run([]string{"healthcheck"}, &out, &errOut); err != nil {
		t.Fatalf("healthcheck with the address from the environment: %v", err)
	}
	c.Kill(0)
	err := run([]string{"healthcheck", "-addr", addr, "-timeout", "1s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "meta node "+addr) {
		t.Fatalf("healthcheck of a stopped meta node: %v", err)
	}
	if err := run([]string{"healthcheck", "-addr", "no-port"}, &out, &errOut); err == nil {
		t.Fatal("healthcheck with a bad -addr passed")
	}
}

// TestMetaNodesOnOneMachineEachServeMetrics (issue 17, point 8): three meta
// nodes on 127.0.0.1, .2 and .3 of one machine, configured with their
// addresses and the default metrics-bind-address, form a cluster and each
// serves /metrics on its own address, port 8092. With the old default
// (":8092", every interface) the second could not start.
func TestMetaNodesOnOneMachineEachServeMetrics(t *testing.T) {
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	for _, h := range hosts {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(h, "8092"), time.Second); err == nil {
			c.Close()
			t.Skipf("%s:8092 is taken on this machine", h)
		}
	}
	freePort := func(host string) string {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	cfgs := make([]*configs.Meta, len(hosts))
	var peers []string
	for i, h := range hosts {
		c := configs.NewMeta()
		c.Hostname = h
		c.Meta.Dir = t.TempDir()
		c.Meta.BindAddress, c.Meta.HTTPBindAddress = freePort(h), freePort(h)
		c.Meta.InternalSharedSecret = "three-on-one-machine"
		c.Meta.PasswordHashCost = configs.MinPasswordHashCost
		c.Meta.ElectionTimeout, c.Meta.HeartbeatTimeout = configs.Duration(300*time.Millisecond), configs.Duration(300*time.Millisecond)
		c.Meta.LeaderLeaseTimeout, c.Meta.CommitTimeout = configs.Duration(150*time.Millisecond), configs.Duration(10*time.Millisecond)
		cfgs[i] = c
		peers = append(peers, c.RaftAddr())
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range cfgs {
		c.Meta.Peers = peers
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		nc, err := nodeConfig(c, log, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		node, err := meta.OpenNode(nc)
		if err != nil {
			t.Fatalf("meta node on %s: %v", c.Hostname, err)
		}
		t.Cleanup(func() { node.Close() })
	}
	for _, h := range hosts {
		url := "http://" + net.JoinHostPort(h, "8092") + "/metrics"
		testcluster.WaitFor(t, 20*time.Second, url+" to show a 3-voter cluster", func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && strings.Contains(string(b), "\npalisade_meta_raft_voters 3\n")
		})
	}
}
