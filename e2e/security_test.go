//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

// peakRSS returns a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, p *proc) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}

// TestUnauthenticatedHugeMessagesCostNoMemory (issue 17, point 1): calls
// without the internal token carrying messages just under the servers'
// receive limits (256 MiB on a data node's data service, 64 MiB on a meta
// node's MetaService) are refused on their headers; neither node reads the
// messages, so neither node's peak RSS grows by more than a few MB; health
// checks (which need no token) of that size are refused by the MetaService's
// receive limit before they are read. With the
// token checked in an interceptor (after grpc-go has read and decoded the
// message), four such calls took a data node from 40 MB to 3.4 GB.
func TestUnauthenticatedHugeMessagesCostNoMemory(t *testing.T) {
	nodes, m := replicatedClusterWith(t, 1, nil, nil)
	d := nodes[0]
	dataAddr := envValue(d.env, "INFLUXDB_CLUSTER_BIND_ADDRESS")
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1<<30)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	dataIdle, metaIdle := peakRSS(t, d.p), peakRSS(t, m.p)

	big := make([]byte, 250<<20)
	for i := range big {
		big[i] = 'a'
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := datapb.NewDataServiceClient(dial(dataAddr)).WriteShard(ctx,
				&datapb.WriteShardRequest{ShardId: 1, Database: "db", RetentionPolicy: "autogen", Points: big})
			errs <- err
		})
	}
	huge := string(big[:62<<20])
	for range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := metapb.NewMetaServiceClient(dial(m.rpcAddr)).RegisterDataNode(ctx,
				&metapb.RegisterDataNodeRequest{HttpAddr: huge, TcpAddr: "x"})
			errs <- err
		})
	}
	// The health service needs no token: its messages are held to the
	// MetaService's small receive limit, and few run at once.
	healthErrs := make(chan error, 8)
	for range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := healthpb.NewHealthClient(dial(m.rpcAddr)).Check(ctx, &healthpb.HealthCheckRequest{Service: huge})
			healthErrs <- err
		})
	}
	wg.Wait()
	close(errs)
	close(healthErrs)
	for err := range errs {
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("a call without the internal token: got %v, want Unauthenticated", err)
		}
	}
	for err := range healthErrs {
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("a 62 MB health check: got %v, want ResourceExhausted", err)
		}
	}
	const slack = 16 << 20
	if peak := peakRSS(t, d.p); peak > dataIdle+slack {
		t.Errorf("data node: peak RSS %d MB after the calls, %d MB before: the messages were read", peak>>20, dataIdle>>20)
	}
	if peak := peakRSS(t, m.p); peak > metaIdle+slack {
		t.Errorf("meta node: peak RSS %d MB after the calls, %d MB before: the messages were read", peak>>20, metaIdle>>20)
	}
	// Both nodes still serve.
	if code := writeLines(d, "one", "m v=1\n"); code != 204 {
		t.Fatalf("a write after the calls: %d", code)
	}
}

// TestNodesRefuseToStartWithoutTheInternalSecret (issue 17, point 5): with
// auth on and the default empty secret, anyone reaching a data node's data
// service read and wrote every database (a raw ReadShards returned
// secretdb's values). A cluster data node with auth on and a meta node now
// refuse to start without the secret, saying how to set it; a meta node
// starts without it only when told it is a test on one host.
func TestNodesRefuseToStartWithoutTheInternalSecret(t *testing.T) {
	m := newMetaNode(t, "meta0")
	var metaEnv []string
	for _, kv := range m.env {
		if !strings.HasPrefix(kv, "INFLUXDB_META_INTERNAL_SHARED_SECRET=") {
			metaEnv = append(metaEnv, kv)
		}
	}
	r := runBinary(t, 30*time.Second, metaEnv, "", "palisade-meta")
	if r.code == 0 || !strings.Contains(r.stderr, "meta.internal-shared-secret") || !strings.Contains(r.stderr, "INFLUXDB_META_INTERNAL_SHARED_SECRET") {
		t.Fatalf("palisade-meta without a secret: exit %d, stderr %q", r.code, r.stderr)
	}
	test := start(t, "palisade-meta", append(metaEnv, "INFLUXDB_META_ALLOW_EMPTY_INTERNAL_SECRET=true"))
	waitFor(t, waitTimeout, "palisade-meta allowed to run without a secret", func() (bool, string) {
		if !test.running() {
			t.Fatalf("palisade-meta with allow-empty-internal-secret exited:\n%s", test.output())
		}
		return strings.Contains(test.output(), "internal-shared-secret is empty"), test.output()
	})

	d := newDataNode(t, []string{m.rpcAddr}, "INFLUXDB_HTTP_AUTH_ENABLED=true")
	var dataEnv []string
	for _, kv := range d.env {
		if !strings.HasPrefix(kv, "INFLUXDB_META_META_INTERNAL_SHARED_SECRET=") {
			dataEnv = append(dataEnv, kv)
		}
	}
	r = runBinary(t, 30*time.Second, dataEnv, "", "palisade-data")
	if r.code == 0 || !strings.Contains(r.stderr, "meta.meta-internal-shared-secret") || !strings.Contains(r.stderr, "INFLUXDB_META_META_INTERNAL_SHARED_SECRET") {
		t.Fatalf("palisade-data with auth on and no secret: exit %d, stderr %q", r.code, r.stderr)
	}
}
