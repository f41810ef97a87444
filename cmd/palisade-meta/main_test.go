package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
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
