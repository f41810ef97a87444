package data_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// TestHintedHandoffCapFailsWritesItCannotKeep (issue 17, point 9): with an
// owner down, writes with consistency=any were acknowledged while the
// owner's copy could not be queued (it was only logged). Now the queues
// stop at [hinted-handoff] max-total-size, and a write whose points they
// cannot keep fails with 503 and Retry-After even though the local owner
// acknowledged it: every acknowledged point reaches the owner, and nothing
// else does.
func TestHintedHandoffCapFailsWritesItCannotKeep(t *testing.T) {
	const maxTotal = 64 << 10
	c := newReplCluster(t, 2, func(cfg *data.Config) {
		cfg.HintedHandoff.MaxTotalSize = maxTotal
		cfg.HintedHandoff.MinFreeSpace = 0 // the free space of the test's disk is not the subject
	})
	base := c.createDB(10)
	coord, down := c.data[0], c.data[1]
	down.Kill()

	acked, refused, next := 10, 0, 10
	for i := range 40 {
		r := writeCL(t, coord.URL, "db", "any", batch("cpu", next, 100, base))
		next += 100
		switch {
		case r.status == http.StatusNoContent:
			acked += 100
		case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "" &&
			strings.Contains(r.errorMessage(), "hinted handoff queue full") && strings.Contains(r.errorMessage(), "max-total-size"):
			refused++
		default:
			t.Fatalf("write %d: %d %s (Retry-After %q), want 204, or 503 naming max-total-size", i, r.status, r.body, r.header.Get("Retry-After"))
		}
		if held := coord.HintsTotalBytes(); held > maxTotal {
			t.Fatalf("write %d: the queues hold %d bytes, past max-total-size %d", i, held, maxTotal)
		}
	}
	if refused == 0 || acked == 10 {
		t.Fatalf("%d points acknowledged, %d writes refused: the cap was never reached, or nothing was queued", acked, refused)
	}
	t.Logf("%d points acknowledged, %d writes refused", acked, refused)

	down.Restart()
	testcluster.WaitFor(t, 30*time.Second, "the queue to drain", func() bool { return !coord.HintsPending(down.NodeID()) })
	if got := localCount(t, down, "db", "cpu"); got != acked {
		t.Errorf("the owner that was down holds %d points, %d were acknowledged", got, acked)
	}
}

// TestSecondNodeOnTheSameDirsIsRefused (issue 17, point 10): three data
// nodes on one host shared the default hinted-handoff dir, replayed each
// other's queues and failed enqueues with "file exists". A node now locks
// each directory it writes and refuses to start when another holds one,
// naming the setting, the directory and the holder's PID, before it
// registers with the meta nodes.
func TestSecondNodeOnTheSameDirsIsRefused(t *testing.T) {
	c := newReplCluster(t, 1, nil)
	first := c.data[0]
	nodes := len(c.state().DataNodes)
	for _, tc := range []struct {
		what string
		dir  func(*data.Config) *string
	}{
		{"[meta] dir", func(c *data.Config) *string { return &c.Meta.Dir }},
		{"[data] dir", func(c *data.Config) *string { return &c.Data.Dir }},
		{"[data] wal-dir", func(c *data.Config) *string { return &c.Data.WALDir }},
		{"[hinted-handoff] dir", func(c *data.Config) *string { return &c.HintedHandoff.Dir }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			own := t.TempDir()
			cfg := *first.Cfg
			cfg.Meta.Dir = filepath.Join(own, "meta")
			cfg.Data.Dir = filepath.Join(own, "data")
			cfg.Data.WALDir = filepath.Join(own, "wal")
			cfg.HintedHandoff.Dir = filepath.Join(own, "hh")
			shared := *tc.dir(first.Cfg)
			*tc.dir(&cfg) = shared

			httpLn, clusterLn := mustListen(t), mustListen(t)
			cfg.Cluster.BindAddress = clusterLn.Addr().String()
			opts := first.Opts
			opts.HTTPListener, opts.ClusterListener = httpLn, clusterLn
			n, err := data.Open(&cfg, opts)
			if err == nil {
				n.Close()
				t.Fatalf("a second node started on %s %s", tc.what, shared)
			}
			for _, want := range []string{tc.what, shared, fmt.Sprintf("in use by this process (pid %d on host ", os.Getpid()),
				"each node needs its own " + tc.what} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not contain %q", err, want)
				}
			}
		})
	}
	if got := len(c.state().DataNodes); got != nodes {
		t.Errorf("the refused nodes registered: %d data nodes, want %d", got, nodes)
	}
	// The first node still serves; stopped, it gives its directories up.
	if r := do(t, http.MethodGet, first.URL+"/ping", noCred, nil, nil); r.status != http.StatusNoContent {
		t.Errorf("the first node after the refusals: %d %s", r.status, r.body)
	}
	first.Kill()
	first.Restart() // fails the test if a lock stayed behind
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
