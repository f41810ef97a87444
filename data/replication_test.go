package data_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/internal/testutil"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

const replSecret = "internal-secret-for-replication-tests"

// replCluster is one meta node and n data nodes.
type replCluster struct {
	t    *testing.T
	meta *testcluster.Cluster
	data []*testcluster.DataNode
}

func newReplCluster(t *testing.T, n int, configure func(*data.Config)) *replCluster {
	t.Helper()
	return newReplClusterWithMeta(t, n, nil, configure)
}

// newReplClusterWithMeta is newReplCluster with the meta node's store
// configuration changed by configureMeta (when not nil).
func newReplClusterWithMeta(t *testing.T, n int, configureMeta func(*pmeta.Config), configure func(*data.Config)) *replCluster {
	t.Helper()
	opts := testcluster.Options{Meta: 1, Secret: replSecret}
	if configureMeta != nil {
		opts.Configure = func(_ int, cfg *pmeta.Config) { configureMeta(cfg) }
	}
	c := &replCluster{t: t, meta: testcluster.New(t, opts)}
	for range n {
		c.data = append(c.data, c.meta.AddData(testcluster.DataOptions{Configure: func(cfg *data.Config) {
			cfg.Coordinator.WriteTimeout = configs.Duration(3 * time.Second)
			cfg.HintedHandoff.RetryInterval = configs.Duration(50 * time.Millisecond)
			cfg.HintedHandoff.RetryMaxInterval = configs.Duration(200 * time.Millisecond)
			if configure != nil {
				configure(cfg)
			}
		}}))
	}
	// Every data node must know every other before shards are assigned.
	testcluster.WaitFor(t, 20*time.Second, "all data nodes registered", func() bool {
		return len(c.state().DataNodes) == n
	})
	return c
}

func (c *replCluster) state() *metapb.Data {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.meta.Client(replSecret).Snapshot(ctx)
	if err != nil {
		c.t.Fatalf("meta state: %v", err)
	}
	return d
}

// createDB creates database db with replication factor 2 through the first
// data node and writes n points of cpu with consistency all (which creates
// the shard group and puts them on both owners). It returns the points'
// base time.
func (c *replCluster) createDB(n int) time.Time {
	c.t.Helper()
	mustQuery(c.t, c.data[0].URL, "CREATE DATABASE db WITH REPLICATION 2", noCred)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	if r := writeCL(c.t, c.data[0].URL, "db", "all", batch("cpu", 0, n, base)); r.status != http.StatusNoContent {
		c.t.Fatalf("first write: %d %s", r.status, r.body)
	}
	return base
}

// shardsOf returns every shard of db's default policy.
func (c *replCluster) shardsOf(db string) []*metapb.Shard {
	c.t.Helper()
	d := c.state()
	var out []*metapb.Shard
	for _, rp := range pmeta.FindDatabase(d, db).RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			out = append(out, sg.Shards...)
		}
	}
	return out
}

// split returns the data nodes that own shard sh (in the order of c.data)
// and the one that does not (with 3 nodes and RF 2 there is one).
func (c *replCluster) split(sh *metapb.Shard) (own []*testcluster.DataNode, outsider *testcluster.DataNode) {
	for _, d := range c.data {
		if slices.Contains(pmeta.WriteOwners(sh), d.NodeID()) {
			own = append(own, d)
		} else {
			outsider = d
		}
	}
	return own, outsider
}

// localCount is what node d alone holds of measurement m in db, in its
// own store (a query would read every owner).
func localCount(t *testing.T, d *testcluster.DataNode, db, m string) int {
	t.Helper()
	n, err := d.LocalCount(db, m, "v")
	if err != nil {
		t.Fatalf("local count on %s: %v", d.URL, err)
	}
	return int(n)
}

func batch(m string, from, n int, base time.Time) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s,host=h%d v=%d %d\n", m, i%50, i, base.Add(time.Duration(i)*time.Millisecond).UnixNano())
	}
	return b.String()
}

func writeCL(t *testing.T, base, db, consistency, lines string) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/write?db="+db+"&consistency="+consistency, noCred, strings.NewReader(lines), nil)
}

// TestWritesReachEveryOwner: with RF 2 on 3 data nodes, points written
// through any node end up in the local shards of both owners, and only
// there.
func TestWritesReachEveryOwner(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db WITH REPLICATION 2", noCred)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, d := range c.data { // through every node in turn
		if r := writeCL(t, d.URL, "db", "one", batch("cpu", i*1000, 1000, base)); r.status != http.StatusNoContent {
			t.Fatalf("write through node %d: %d %s", i+1, r.status, r.body)
		}
	}
	shards := c.shardsOf("db")
	if len(shards) != 1 || len(pmeta.WriteOwners(shards[0])) != 2 {
		t.Fatalf("want one shard with two owners, got %v", shards)
	}
	owners := pmeta.WriteOwners(shards[0])
	// consistency=one answers after the first owner: the other may still be
	// writing its copy.
	for _, d := range c.data {
		want := 0
		if slices.Contains(owners, d.NodeID()) {
			want = 3000
		}
		testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("node %d (owners %v) to hold %d points", d.NodeID(), owners, want), func() bool {
			return localCount(t, d, "db", "cpu") == want
		})
	}
	for _, d := range c.data {
		if !slices.Contains(owners, d.NodeID()) {
			if got := localCount(t, d, "db", "cpu"); got != 0 {
				t.Errorf("node %d owns nothing but holds %d points", d.NodeID(), got)
			}
		}
	}
}

// TestOwnerDownThenBack: with one owner down, consistency=one writes
// succeed, consistency=all writes answer partial write, and once the owner
// is back its shard holds every acknowledged point, through hinted handoff.
func TestOwnerDownThenBack(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db WITH REPLICATION 2", noCred)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	// Create the shard group and learn its owners.
	if r := writeCL(t, c.data[0].URL, "db", "all", batch("cpu", 0, 10, base)); r.status != http.StatusNoContent {
		t.Fatalf("first write: %d %s", r.status, r.body)
	}
	owners := pmeta.WriteOwners(c.shardsOf("db")[0])
	var down, coordinator *testcluster.DataNode
	for _, d := range c.data {
		if d.NodeID() == owners[1] {
			down = d
		}
	}
	for _, d := range c.data {
		if d != down {
			coordinator = d // writes go through a node that stays up
			break
		}
	}
	down.Kill()

	acked := 10
	for i := range 5 {
		r := writeCL(t, coordinator.URL, "db", "one", batch("cpu", acked, 100, base))
		if r.status != http.StatusNoContent {
			t.Fatalf("consistency=one write %d with an owner down: %d %s", i, r.status, r.body)
		}
		acked += 100
	}
	r := writeCL(t, coordinator.URL, "db", "all", batch("cpu", acked, 100, base))
	if r.status != http.StatusInternalServerError || !strings.HasPrefix(r.errorMessage(), "partial write") {
		t.Fatalf("consistency=all with an owner down: %d %s, want 500 partial write", r.status, r.body)
	}
	acked += 100 // queued for the owner: it must get them too

	down.Restart()
	testcluster.WaitFor(t, 30*time.Second, "the owner to get every point back", func() bool {
		return localCount(t, down, "db", "cpu") == acked
	})
	for _, d := range c.data {
		if slices.Contains(owners, d.NodeID()) {
			if got := localCount(t, d, "db", "cpu"); got != acked {
				t.Errorf("owner %d holds %d points, want %d", d.NodeID(), got, acked)
			}
		}
	}
}

// TestDataServiceRefuses: the data service authenticates its peer, and
// refuses points for a shard the node does not own or that does not exist,
// with typed codes.
func TestDataServiceRefuses(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	base := c.createDB(10)
	sh := c.shardsOf("db")[0]
	own, outsider := c.split(sh)
	owner := own[0]
	index := c.state().Index
	req := func(shard uint64) *datapb.WriteShardRequest {
		return &datapb.WriteShardRequest{ShardId: shard, Database: "db", RetentionPolicy: "autogen",
			Points: []byte(batch("cpu", 0, 5, base)), MetaIndex: index}
	}
	call := func(to *testcluster.DataNode, secret string, r *datapb.WriteShardRequest) error {
		conn, err := cluster.Dial(to.ClusterAddr(), cluster.DialOptions{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = datapb.NewDataServiceClient(conn).WriteShard(ctx, r)
		return err
	}
	for _, tc := range []struct {
		name   string
		to     *testcluster.DataNode
		secret string
		req    *datapb.WriteShardRequest
		want   codes.Code
	}{
		{"no secret", owner, "", req(sh.Id), codes.Unauthenticated},
		{"wrong secret", owner, "not-the-secret", req(sh.Id), codes.Unauthenticated},
		{"not an owner", outsider, replSecret, req(sh.Id), codes.FailedPrecondition},
		{"no such shard", owner, replSecret, req(sh.Id + 1000), codes.NotFound},
		{"another database's shard", owner, replSecret, &datapb.WriteShardRequest{ShardId: sh.Id, Database: "other",
			RetentionPolicy: "autogen", Points: []byte(batch("cpu", 0, 5, base)), MetaIndex: index}, codes.NotFound},
		{"garbage points", owner, replSecret, &datapb.WriteShardRequest{ShardId: sh.Id, Database: "db", RetentionPolicy: "autogen",
			Points: []byte("cpu v=\n"), MetaIndex: index}, codes.InvalidArgument},
		{"a meta index from the future", owner, replSecret, &datapb.WriteShardRequest{ShardId: sh.Id, Database: "db",
			RetentionPolicy: "autogen", Points: []byte(batch("cpu", 0, 5, base)), MetaIndex: index + 1_000_000}, codes.Unavailable},
	} {
		if err := call(tc.to, tc.secret, tc.req); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := localCount(t, outsider, "db", "cpu"); got != 0 {
		t.Errorf("the node that owns nothing holds %d points", got)
	}
}

// TestFullQueueAnswers503: a write that meets a full queue gets 503 with
// Retry-After whatever its consistency level (an owner would otherwise miss
// the points for good), and what was acknowledged before reaches the owner.
func TestFullQueueAnswers503(t *testing.T) {
	c := newReplCluster(t, 2, func(cfg *data.Config) { cfg.HintedHandoff.MaxSize = 256 << 10 })
	base := c.createDB(10)
	c.data[1].Kill()
	acked := 10
	var full response
	for i := range 100 {
		r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", acked, 200, base))
		if r.status == http.StatusServiceUnavailable {
			full = r
			break
		}
		if r.status != http.StatusNoContent {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
		acked += 200
	}
	if full.status != http.StatusServiceUnavailable || full.header.Get("Retry-After") == "" {
		t.Fatalf("a full queue never answered 503 with Retry-After (last %d %s)", full.status, full.body)
	}
	c.data[1].Restart()
	testcluster.WaitFor(t, 30*time.Second, "the owner to get every acknowledged point", func() bool {
		return localCount(t, c.data[1], "db", "cpu") >= acked
	})
	if got := localCount(t, c.data[0], "db", "cpu"); got < acked {
		t.Errorf("the coordinator holds %d points, acknowledged %d", got, acked)
	}
}

// TestSelectIntoAndV2WriteReachOwners: SELECT … INTO and /api/v2/write go
// through the cluster writer too: both owners get the points.
func TestSelectIntoAndV2WriteReachOwners(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	base := c.createDB(300)
	own, other := c.split(c.shardsOf("db")[0])
	// The copy runs on the node that owns nothing: it reads every point from
	// the owners and writes the copy back to them through the cluster writer.
	r := queryDB(t, other.URL, "db", "SELECT v INTO cpu_copy FROM cpu GROUP BY *", noCred)
	if r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("SELECT INTO: %d %s", r.status, r.body)
	}
	// /api/v2/write through the node that owns nothing.
	v2 := do(t, http.MethodPost, other.URL+"/api/v2/write?bucket=db/autogen&precision=ns", noCred,
		strings.NewReader(batch("v2", 0, 50, base)), nil)
	if v2.status != http.StatusNoContent {
		t.Fatalf("/api/v2/write: %d %s", v2.status, v2.body)
	}
	// Both write with consistency one: the second owner's copy may still be
	// on its way when they answer.
	for _, d := range own {
		testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("owner %d to hold the 300 points of cpu_copy and 50 of v2", d.NodeID()), func() bool {
			return localCount(t, d, "db", "cpu_copy") == 300 && localCount(t, d, "db", "v2") == 50
		})
	}
	if got := localCount(t, other, "db", "v2"); got != 0 {
		t.Errorf("the node that owns nothing holds %d points", got)
	}
}

// TestReplayNeverResurrectsADroppedDatabase: points queued for an owner
// that is down are not written once their database has been dropped: the
// owner refuses them (the shard is gone from the meta state) and the queue
// drops them.
func TestReplayNeverResurrectsADroppedDatabase(t *testing.T) {
	c := newReplCluster(t, 2, nil)
	base := c.createDB(10)
	c.data[1].Kill()
	if r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", 10, 500, base)); r.status != http.StatusNoContent {
		t.Fatalf("write with the owner down: %d %s", r.status, r.body)
	}
	mustQuery(t, c.data[0].URL, "DROP DATABASE db", noCred)
	c.data[1].Restart()
	index := c.state().Index
	testcluster.WaitFor(t, 20*time.Second, "the owner to catch up with the drop", func() bool { return c.data[1].MetaIndex() >= index })
	time.Sleep(time.Second) // replays run every 50–200 ms here
	if _, err := os.Stat(filepath.Join(c.data[1].Cfg.Data.Dir, "db")); !os.IsNotExist(err) {
		t.Fatalf("the dropped database has data on the owner again (stat: %v)", err)
	}
	r := query(t, c.data[1].URL, "SHOW DATABASES", noCred)
	if strings.Contains(r.body, `"db"`) {
		t.Fatalf("the dropped database is back: %s", r.body)
	}
}

// TestDataServiceOverTLS: with [cluster] https-enabled the data nodes serve
// and dial the data service over TLS, and writes still reach both owners; a
// plaintext client is refused.
func TestDataServiceOverTLS(t *testing.T) {
	cert, key := testutil.SelfSignedCert(t)
	c := newReplCluster(t, 2, func(cfg *data.Config) {
		cfg.Cluster.HTTPSEnabled = true
		cfg.Cluster.HTTPSCertificate = cert
		cfg.Cluster.HTTPSPrivateKey = key
		cfg.Cluster.HTTPSInsecureTLS = true // self-signed
	})
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db WITH REPLICATION 2", noCred)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	if r := writeCL(t, c.data[0].URL, "db", "all", batch("cpu", 0, 100, base)); r.status != http.StatusNoContent {
		t.Fatalf("write over TLS: %d %s", r.status, r.body)
	}
	for _, d := range c.data {
		if got := localCount(t, d, "db", "cpu"); got != 100 {
			t.Errorf("node %d holds %d points, want 100", d.NodeID(), got)
		}
	}
	conn, err := cluster.Dial(c.data[1].ClusterAddr(), cluster.DialOptions{Secret: replSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = datapb.NewDataServiceClient(conn).WriteShard(ctx, &datapb.WriteShardRequest{ShardId: 1})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a plaintext client: %v, want Unavailable (no TLS handshake)", err)
	}
}

// TestReturningOwnerIsReplayedAtOnce: an owner that comes back tells its
// peers (NodeUp), which replay what they queued for it at once instead of
// at their next retry (30 s away here).
func TestReturningOwnerIsReplayedAtOnce(t *testing.T) {
	c := newReplCluster(t, 2, func(cfg *data.Config) {
		cfg.HintedHandoff.RetryInterval = configs.Duration(30 * time.Second)
		cfg.HintedHandoff.RetryMaxInterval = configs.Duration(30 * time.Second)
	})
	base := c.createDB(10)
	c.data[1].Kill()
	for i := range 3 {
		if r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", 10+i*100, 100, base)); r.status != http.StatusNoContent {
			t.Fatalf("write with the owner down: %d %s", r.status, r.body)
		}
	}
	time.Sleep(200 * time.Millisecond) // the queue has tried once and now waits 30 s
	c.data[1].Restart()
	testcluster.WaitFor(t, 10*time.Second, "the owner to get its queued points", func() bool {
		return localCount(t, c.data[1], "db", "cpu") == 310
	})
}

// TestFailedLocalWriteIsQueuedForItself: when the coordinator's own copy
// fails (here its shard is disabled) while another owner acknowledges, the
// write succeeds and the coordinator queues the points for itself, so that
// its replica gets them once the shard takes writes again.
func TestFailedLocalWriteIsQueuedForItself(t *testing.T) {
	c := newReplCluster(t, 2, nil)
	base := c.createDB(10)
	id := c.shardsOf("db")[0].Id
	store := c.data[0].EngineStore()
	store.SetShardEnabled(id, false)
	if r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", 10, 100, base)); r.status != http.StatusNoContent {
		t.Fatalf("write with the local shard disabled: %d %s", r.status, r.body)
	}
	testcluster.WaitFor(t, 10*time.Second, "the other owner's copy", func() bool {
		return localCount(t, c.data[1], "db", "cpu") == 110
	})
	store.SetShardEnabled(id, true)
	testcluster.WaitFor(t, 10*time.Second, "the coordinator's own copy, replayed", func() bool {
		return localCount(t, c.data[0], "db", "cpu") == 110
	})
}

// TestDeletedShardGroupLeavesEveryOwner: when a shard group is deleted in
// the meta state (as retention will do), every owner deletes its local copy.
func TestDeletedShardGroupLeavesEveryOwner(t *testing.T) {
	c := newReplCluster(t, 2, nil)
	c.createDB(100)
	var groupID, shardID uint64
	for _, rp := range pmeta.FindDatabase(c.state(), "db").RetentionPolicies {
		for _, sg := range rp.ShardGroups {
			groupID, shardID = sg.Id, sg.Shards[0].Id
		}
	}
	for _, d := range c.data {
		if d.EngineStore().Shard(shardID) == nil {
			t.Fatalf("node %d has no local shard %d before the deletion", d.NodeID(), shardID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.meta.Client(replSecret).Execute(ctx, &metapb.Command{Op: &metapb.Command_DeleteShardGroup{DeleteShardGroup: &metapb.DeleteShardGroup{
		Database: "db", RetentionPolicy: "autogen", Id: groupID, DeletedAt: time.Now().UnixNano()}}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range c.data {
		testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("node %d to delete shard %d", d.NodeID(), shardID), func() bool {
			return d.EngineStore().Shard(shardID) == nil
		})
		if got := localCount(t, d, "db", "cpu"); got != 0 {
			t.Errorf("node %d still answers %d points from the deleted shard", d.NodeID(), got)
		}
	}
}

// TestQueueOfARemovedNodeIsPurged: points queued for an owner that is then
// removed from the cluster are dropped by the purge, not kept (or replayed)
// forever.
func TestQueueOfARemovedNodeIsPurged(t *testing.T) {
	c := newReplCluster(t, 2, func(cfg *data.Config) {
		cfg.HintedHandoff.PurgeInterval = configs.Duration(100 * time.Millisecond)
	})
	base := c.createDB(10)
	gone := c.data[1].NodeID()
	c.data[1].Kill()
	if r := writeCL(t, c.data[0].URL, "db", "one", batch("cpu", 10, 100, base)); r.status != http.StatusNoContent {
		t.Fatalf("write with the owner down: %d %s", r.status, r.body)
	}
	if !c.data[0].HintsPending(gone) {
		t.Fatal("nothing queued for the owner that is down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.meta.Client(replSecret).RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_DataNodeId{DataNodeId: gone}}); err != nil {
		t.Fatalf("removing data node %d: %v", gone, err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the removed node's queue to be purged", func() bool {
		return !c.data[0].HintsPending(gone)
	})
}

// TestDropShardLeavesEveryOwner: DROP SHARD removes the shard from the meta
// state and every owner deletes its copy, an owner that was down when it
// happened included; what was queued for that owner's copy is dropped,
// not replayed into a new shard.
func TestDropShardLeavesEveryOwner(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	base := c.createDB(100)
	sh := c.shardsOf("db")[0]
	own, other := c.split(sh)
	down := own[1]
	downID := down.NodeID()
	down.Kill()
	if r := writeCL(t, own[0].URL, "db", "one", batch("cpu", 100, 50, base)); r.status != http.StatusNoContent {
		t.Fatalf("write with an owner down: %d %s", r.status, r.body)
	}
	// consistency=one answers before the send to the dead owner fails.
	testcluster.WaitFor(t, 10*time.Second, "points queued for the owner that is down", func() bool { return own[0].HintsPending(downID) })
	mustQuery(t, other.URL, fmt.Sprintf("DROP SHARD %d", sh.Id), noCred)
	if r := query(t, other.URL, "DROP SHARD 999999", noCred); r.statementError() != "shard not found" {
		t.Errorf("DROP SHARD of no shard: %s, want the standalone answer \"shard not found\"", r.body)
	}
	for _, s := range c.shardsOf("db") {
		if s.Id == sh.Id {
			t.Fatalf("shard %d is still in the meta state", sh.Id)
		}
	}
	down.Restart()
	testcluster.WaitFor(t, 20*time.Second, "the queue for the restarted owner dropped", func() bool { return !own[0].HintsPending(downID) })
	for _, d := range c.data {
		testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("node %d to delete shard %d", d.NodeID(), sh.Id), func() bool {
			return d.EngineStore().Shard(sh.Id) == nil
		})
		if got := localCount(t, d, "db", "cpu"); got != 0 {
			t.Errorf("node %d holds %d points after DROP SHARD", d.NodeID(), got)
		}
		r := queryDB(t, d.URL, "db", "SELECT count(v) FROM cpu", noCred)
		if r.statementError() != "" || len(seriesValues(t, r)) != 0 {
			t.Errorf("node %d answers %s after DROP SHARD", d.NodeID(), r.body)
		}
	}
}
