package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// TestHealthcheck (issue 10, point 1): `palisade-data healthcheck` exits 0
// against a node that runs and has a meta state, fails against one that
// has none yet (a cluster node whose meta nodes are down) and against a
// port where nothing answers, and sends credentials when /health needs
// them ([http] ping-auth-enabled).
func TestHealthcheck(t *testing.T) {
	var out, errOut bytes.Buffer
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	addr := strings.TrimPrefix(single.URL, "http://")
	if err := run([]string{"healthcheck", "-addr", addr}, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("healthcheck of a running node: %v (%q, %q)", err, out.String(), errOut.String())
	}
	t.Setenv("INFLUXDB_HTTP_BIND_ADDRESS", addr)
	if err := run([]string{"healthcheck"}, &out, &errOut); err != nil {
		t.Fatalf("healthcheck with the address from the environment: %v", err)
	}

	c := testcluster.New(t, testcluster.Options{Meta: 1, Secret: "s3cret"})
	c.Kill(0)
	orphan := c.AddData(testcluster.DataOptions{}) // no meta node to give it a state
	err := run([]string{"healthcheck", "-addr", strings.TrimPrefix(orphan.URL, "http://"), "-timeout", "2s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("healthcheck of a node without a meta state: %v, want a 503", err)
	}

	locked := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: func(c *data.Config) {
		c.HTTP.AuthEnabled, c.HTTP.PingAuthEnabled = true, true
	}})
	resp, err := http.PostForm(locked.URL+"/query", url.Values{"q": {"CREATE USER admin WITH PASSWORD 'admin-pw-1' WITH ALL PRIVILEGES"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin bootstrap: %v %v", resp, err)
	}
	resp.Body.Close()
	laddr := strings.TrimPrefix(locked.URL, "http://")
	if err := run([]string{"healthcheck", "-addr", laddr}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("healthcheck without credentials of a node with ping-auth-enabled: %v, want a 401", err)
	}
	if err := run([]string{"healthcheck", "-addr", laddr, "-username", "admin", "-password", "admin-pw-1"}, &out, &errOut); err != nil {
		t.Fatalf("healthcheck with credentials: %v", err)
	}
	t.Setenv("PALISADE_HEALTHCHECK_PASSWORD", "admin-pw-1")
	if err := run([]string{"healthcheck", "-addr", laddr, "-username", "admin"}, &out, &errOut); err != nil {
		t.Fatalf("healthcheck with the password from the environment: %v", err)
	}

	single.Kill()
	if err := run([]string{"healthcheck", "-addr", addr, "-timeout", "1s"}, &out, &errOut); err == nil {
		t.Fatal("healthcheck of a stopped node passed")
	}
}
