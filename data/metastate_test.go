package data_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

const testSecret = "internal-secret-for-tests"

// health is what /health says.
type health struct {
	status  int
	Status  string  `json:"status"`
	Message string  `json:"message"`
	Age     float64 `json:"meta_state_age_seconds"`
}

func getHealth(t testing.TB, base string) health {
	t.Helper()
	r := do(t, http.MethodGet, base+"/health", noCred, nil, nil)
	var h health
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatalf("/health: %d %q: %v", r.status, r.body, err)
	}
	h.status = r.status
	return h
}

// createAdmin creates an admin straight through the meta cluster.
func createAdmin(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client(testSecret).Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
		Name: "admin", Password: adminPW, Admin: true,
	}}}); err != nil {
		t.Fatalf("creating the admin: %v", err)
	}
}

// Issue 6, point 2a: a data node that has no meta state yet treated "no
// state" as "no admin exists", so anyone could create an admin through it
// (the command reached meta as soon as meta answered). Until it has a state,
// every request that needs one gets 503.
func TestNoMetaStateRefusesInsteadOfBootstrap(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	createAdmin(t, c)
	for i := range c.Nodes {
		c.Kill(i)
	}
	d := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})

	attack := "CREATE USER intruder WITH PASSWORD 'intruder-pw' WITH ALL PRIVILEGES"
	r := query(t, d.URL, attack, noCred)
	if r.status != http.StatusServiceUnavailable || r.errorMessage() != "waiting for the meta state" {
		t.Fatalf("admin bootstrap without a meta state: %d %s, want 503 waiting for the meta state", r.status, r.body)
	}
	if r := write(t, d.URL, "db0", "cpu value=1", noCred); r.status != http.StatusServiceUnavailable {
		t.Fatalf("write without a meta state: %d %s, want 503", r.status, r.body)
	}
	if h := getHealth(t, d.URL); h.status != http.StatusServiceUnavailable || h.Status != "fail" ||
		h.Message != "waiting for the meta state" || h.Age != -1 {
		t.Fatalf("/health without a meta state: %+v", h)
	}
	if r := do(t, http.MethodGet, d.URL+"/ping", noCred, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("/ping without a meta state: %d, want 204 (the process is alive)", r.status)
	}

	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitForLeader()
	testcluster.WaitFor(t, 30*time.Second, "the first meta state", func() bool { return d.MetaIndex() > 0 })
	if r := query(t, d.URL, attack, noCred); r.status != http.StatusUnauthorized {
		t.Fatalf("admin bootstrap once the state has an admin: %d %s, want 401", r.status, r.body)
	}
	if h := getHealth(t, d.URL); h.status != http.StatusOK || h.Status != "pass" || h.Age < 0 {
		t.Fatalf("/health with a meta state: %+v", h)
	}
	mustQuery(t, d.URL, "SHOW USERS", basic("admin", adminPW))
	if r := mustQuery(t, d.URL, "SHOW USERS", basic("admin", adminPW)); strings.Contains(r.body, "intruder") {
		t.Fatalf("the intruder exists: %s", r.body)
	}
}

// refusingMetaNode is a MetaService that refuses every call as
// Unauthenticated: a meta node whose internal secret differs.
func refusingMetaNode(t *testing.T) string {
	t.Helper()
	refuse := func(context.Context) error { return status.Error(codes.Unauthenticated, "internal token invalid") }
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
			return nil, refuse(ctx)
		}),
		grpc.StreamInterceptor(func(_ any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, _ grpc.StreamHandler) error {
			return refuse(ss.Context())
		}),
	)
	metapb.RegisterMetaServiceServer(srv, metapb.UnimplementedMetaServiceServer{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// Issue 6, point 5: one Unauthenticated answer (a meta node with another
// secret, clock skew, a rolling secret change) made the follower give up
// for good, so the node kept serving old credentials: a dropped user kept
// access. The follower now retries every error on every meta address.
func TestFollowerSurvivesAMetaNodeThatRefusesIt(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	bad := refusingMetaNode(t)
	d := c.AddData(testcluster.DataOptions{Configure: func(cfg *data.Config) {
		authOn(localSecret)(cfg)
		cfg.Meta.Servers = append([]string{bad}, cfg.Meta.Servers...) // asked first
	}})
	testcluster.WaitFor(t, 30*time.Second, "the first meta state", func() bool { return d.MetaIndex() > 0 })
	setupUsers(t, d.URL)
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", readerPW))

	// The user is dropped through the meta cluster, not through this node:
	// only following tells the node.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Client(testSecret).Execute(ctx, &metapb.Command{Op: &metapb.Command_DropUser{DropUser: &metapb.DropUser{Name: "reader"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitForMetaIndex(ctx, resp.Index); err != nil {
		t.Fatalf("the node stopped following: %v", err)
	}
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW)); r.status != http.StatusUnauthorized {
		t.Fatalf("dropped user: %d %s, want 401", r.status, r.body)
	}
}

// Issue 6, point 5: with [meta] max-state-staleness, a node that cannot
// confirm its state for that long stops serving authenticated requests (fail
// closed), and serves them again once it can.
func TestMaxStateStalenessFailsClosed(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	d := c.AddData(testcluster.DataOptions{Configure: func(cfg *data.Config) {
		authOn(localSecret)(cfg)
		// Heartbeats come every 200 ms; 3 s leaves room for a loaded CI machine.
		cfg.Meta.MaxStateStaleness = configs.Duration(3 * time.Second)
	}})
	testcluster.WaitFor(t, 30*time.Second, "the first meta state", func() bool { return d.MetaIndex() > 0 })
	// Failing closed, the node serves once a heartbeat has confirmed its
	// first state (a state from Watch does not count).
	testcluster.WaitFor(t, 10*time.Second, "the first state confirmed", func() bool {
		return getHealth(t, d.URL).status == http.StatusOK
	})
	setupUsers(t, d.URL)
	// Heartbeats (every 200 ms here) keep confirming the state.
	testcluster.WaitFor(t, 10*time.Second, "a heartbeat confirmation", func() bool {
		h := getHealth(t, d.URL)
		return h.status == http.StatusOK && h.Age >= 0 && h.Age < 1
	})
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", readerPW))

	// The leader records what the node reports (palisade-ctl show prints it).
	testcluster.WaitFor(t, 10*time.Second, "the node's report on the leader", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		r := l.Store.Status().DataNodeReports[d.NodeID()]
		return r != nil && r.MetaIndex == d.MetaIndex() && r.MetaStateAgeMs >= 0 && r.MetaStateAgeMs < 1000
	})

	for i := range c.Nodes {
		c.Kill(i)
	}
	testcluster.WaitFor(t, 30*time.Second, "the state to become stale", func() bool {
		return query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW)).status == http.StatusServiceUnavailable
	})
	r := query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW))
	if !strings.HasPrefix(r.errorMessage(), "meta state is stale: ") {
		t.Fatalf("stale state: %d %s", r.status, r.body)
	}
	if h := getHealth(t, d.URL); h.status != http.StatusServiceUnavailable || h.Age < 3 {
		t.Fatalf("/health with a stale state: %+v", h)
	}

	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitForLeader()
	testcluster.WaitFor(t, 30*time.Second, "serving again", func() bool {
		return query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW)).status == http.StatusOK
	})
}

// Issue 6, point 6: when the meta cluster was re-created (empty meta dirs),
// a data node with a saved state ignored the new states, kept accepting the
// old credentials, acknowledged DDL it never applied, and later deleted its
// databases because the new cluster lacked them. Now it refuses to follow
// another cluster until restarted with -rejoin, and keeps its data.
func TestDataNodeRefusesAnotherCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	d := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})
	testcluster.WaitFor(t, 30*time.Second, "the first meta state", func() bool { return d.MetaIndex() > 0 })
	setupUsers(t, d.URL)
	if r := write(t, d.URL, "db0", "cpu value=1 1000000000", basic("writer", writerPW)); r.status != http.StatusNoContent {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	shardDir := filepath.Join(d.Cfg.Data.Dir, "db0")
	if _, err := os.Stat(shardDir); err != nil {
		t.Fatalf("no local data for db0: %v", err)
	}
	oldIndex := d.MetaIndex()

	// Re-create the meta cluster: same addresses, empty dirs.
	for i, n := range c.Nodes {
		c.Kill(i)
		if err := os.RemoveAll(n.Dir); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitForLeader()
	c.WaitFor("the new cluster named", func() bool {
		l := c.Leader()
		return l != nil && l.Store.Data().ClusterId != ""
	})
	// The new cluster gets busier than the old one was, so that its states
	// reach the node through Watch too, not only through heartbeats.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(testSecret)
	for i := 0; ; i++ {
		resp, err := cl.Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateDatabase{
			CreateDatabase: &metapb.CreateDatabase{Name: fmt.Sprintf("other%d", i)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Index > oldIndex+5 {
			break
		}
	}

	testcluster.WaitFor(t, 30*time.Second, "the node to refuse the new cluster", func() bool {
		h := getHealth(t, d.URL)
		return h.status == http.StatusServiceUnavailable && strings.Contains(h.Message, "refusing to follow the meta cluster")
	})
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW)); r.status != http.StatusServiceUnavailable ||
		!strings.Contains(r.errorMessage(), "-rejoin") {
		t.Fatalf("old credentials while refusing the cluster: %d %s, want 503 naming -rejoin", r.status, r.body)
	}
	if d.MetaIndex() != oldIndex {
		t.Fatalf("the node applied a state of the new cluster: index %d, had %d", d.MetaIndex(), oldIndex)
	}
	if _, err := os.Stat(shardDir); err != nil {
		t.Fatalf("local data deleted: %v", err)
	}

	// The operator says the new cluster is the right one.
	d.Kill()
	d.Opts.Rejoin = true
	d.Restart()
	testcluster.WaitFor(t, 30*time.Second, "following the new cluster", func() bool {
		return getHealth(t, d.URL).status == http.StatusOK && d.MetaIndex() >= c.Leader().Store.Data().Index
	})
	if _, err := os.Stat(shardDir); err != nil {
		t.Fatalf("local data deleted after -rejoin: %v", err)
	}
	// The new cluster has no admin: the documented bootstrap works again.
	mustQuery(t, d.URL, "CREATE USER admin WITH PASSWORD '"+adminPW+"' WITH ALL PRIVILEGES", noCred)
	mustQuery(t, d.URL, "SHOW DATABASES", basic("admin", adminPW))
	matches, _ := filepath.Glob(filepath.Join(d.Cfg.Meta.Dir, "state.pb.before-rejoin-*"))
	if len(matches) != 1 {
		t.Fatalf("the old state was not kept aside: %v", matches)
	}
}

// Issue 6, point 10: a truncated state.pb loaded as a valid, smaller state
// (one with no users reopens the admin bootstrap). Now the node refuses to
// start, naming the file and what to do.
func TestTruncatedStateFileRefusesToStart(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	d := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})
	testcluster.WaitFor(t, 30*time.Second, "the first meta state", func() bool { return d.MetaIndex() > 0 })
	setupUsers(t, d.URL)
	d.Kill()

	path := filepath.Join(d.Cfg.Meta.Dir, "state.pb")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	opts := d.Opts
	opts.HTTPListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := data.Open(d.Cfg, opts)
	if err == nil {
		n.Close()
		t.Fatal("the node started from a truncated state file")
	}
	for _, want := range []string{path, "truncated", "Move the file away"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
