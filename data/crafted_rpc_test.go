package data_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	iquery "github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

// deepParens is a condition nested n parentheses deep.
func deepParens(n int) string {
	return strings.Repeat("(", n) + "host = 'a'" + strings.Repeat(")", n)
}

// TestCraftedRPCsDoNotCrashTheNode (issue 17, point 6): messages from a peer
// that holds the internal secret (or from anyone, were it empty) that the
// engine cannot take: a call it panics on, and expressions nested far past
// the HTTP API's limit, which overflowed the stack of the InfluxQL parser
// (a fatal error, no recover). Each is refused or fails alone; the node
// answers the next query.
func TestCraftedRPCsDoNotCrashTheNode(t *testing.T) {
	c := newReplCluster(t, 2, nil)
	base := c.createDB(10)
	sh := c.shardsOf("db")[0]
	own, _ := c.split(sh)
	owner := own[0]
	conn, err := cluster.Dial(owner.ClusterAddr(), cluster.DialOptions{Secret: replSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := datapb.NewDataServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	read := func(opts []byte) error {
		stream, err := client.ReadShards(ctx, &datapb.ReadShardsRequest{ShardIds: []uint64{sh.Id}, IteratorOptions: opts,
			Source: &datapb.Source{Database: "db", RetentionPolicy: "autogen", Name: "cpu"}, System: true})
		if err != nil {
			return err
		}
		for {
			f, err := stream.Recv()
			if err != nil {
				return err
			}
			if end := f.GetEnd(); end != nil {
				if end.Error != "" {
					return status.Error(codes.Unknown, end.Error)
				}
				return nil
			}
		}
	}
	encode := func(opt iquery.IteratorOptions) []byte {
		b, err := opt.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	window := iquery.IteratorOptions{StartTime: base.Add(-time.Hour).UnixNano(), EndTime: base.Add(time.Hour).UnixNano(), Ascending: true}

	// count() with no argument: the engine indexes its arguments and panics.
	bare := window
	bare.Expr = &influxql.Call{Name: "count"}
	if err := read(encode(bare)); status.Code(err) != codes.Internal {
		t.Errorf("ReadShards with count(): got %v, want Internal (the panic recovered)", err)
	}
	if n := rpcPanics(t, owner.URL); n != 1 {
		t.Errorf("/debug/vars counts %d recovered panics, want 1", n)
	}
	// A condition 3,000,000 parentheses deep, written straight into the
	// engine's options encoding (field 8, Condition).
	deep := protowire.AppendTag(encode(window), 8, protowire.BytesType)
	deep = protowire.AppendString(deep, deepParens(3_000_000))
	if err := read(deep); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nesting too deep") {
		t.Errorf("ReadShards with a condition 3,000,000 parentheses deep: got %v, want InvalidArgument, nesting too deep", err)
	}
	// A chain of 100,000 ORs: no deep parentheses, a deep tree.
	chain := protowire.AppendTag(encode(window), 8, protowire.BytesType)
	chain = protowire.AppendString(chain, strings.Repeat("host = 'a' OR ", 100_000)+"host = 'b'")
	if err := read(chain); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nesting too deep") {
		t.Errorf("ReadShards with a chain of 100,000 ORs: got %v, want InvalidArgument, nesting too deep", err)
	}
	_, err = client.Metadata(ctx, &datapb.MetadataRequest{Kind: datapb.MetadataRequest_TAG_KEYS, Database: "db",
		ShardIds: []uint64{sh.Id}, Condition: deepParens(3_000_000), System: true})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Metadata with a condition 3,000,000 parentheses deep: got %v, want InvalidArgument", err)
	}
	_, err = client.WriteShard(ctx, &datapb.WriteShardRequest{ShardId: sh.Id, Database: "db", RetentionPolicy: "autogen",
		Delete: &datapb.ShardDelete{Condition: deepParens(3_000_000)}})
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Errorf("a shard delete with a condition 3,000,000 parentheses deep: got %v, want InvalidArgument", err)
	}

	// The node is alive and answers as before.
	if got := localCount(t, owner, "db", "cpu"); got != 10 {
		t.Fatalf("the owner holds %d points after the calls, want 10", got)
	}
}

// TestDeepContinuousQueryIsRefused (issue 17, point 6): a continuous query
// nested past the limit (1,001 or 3,000,000 parentheses), or made of a
// chain of 100,000 ORs, sent straight to the MetaService, is refused there; every data node
// parsed the stored query at every start, so the first killed them all,
// again after each restart (a stored one is a counted failure now:
// TestDeepStoredContinuousQueryIsACountedFailure).
func TestDeepContinuousQueryIsRefused(t *testing.T) {
	c := newReplCluster(t, 1, nil)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE db", noCred)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := func(name, where string) error {
		q := "CREATE CONTINUOUS QUERY " + name + " ON db BEGIN SELECT count(v) INTO x FROM cpu WHERE " + where + " GROUP BY time(1m) END"
		_, err := c.meta.Client(replSecret).Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateContinuousQuery{
			CreateContinuousQuery: &metapb.CreateContinuousQuery{Database: "db", Name: name, Query: q}}})
		return err
	}
	// 6 MB: over the MetaService's receive limit, refused unread.
	if err := create("deep", deepParens(3_000_000)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a continuous query 3,000,000 parentheses deep through the MetaService: got %v, want ResourceExhausted", err)
	}
	// Just past the nesting limit.
	if err := create("deeper", deepParens(1_001)); err == nil || !strings.Contains(err.Error(), "nesting too deep") {
		t.Fatalf("a continuous query 1,001 parentheses deep through the MetaService: got %v, want refused (nesting too deep)", err)
	}
	if err := create("chain", strings.Repeat("v > 0 OR ", 100_000)+"v > 1"); err == nil || !strings.Contains(err.Error(), "nesting too deep") {
		t.Fatalf("a continuous query of 100,000 ORs through the MetaService: got %v, want refused (nesting too deep)", err)
	}
	if r := query(t, c.data[0].URL, "SHOW CONTINUOUS QUERIES", noCred); r.status != http.StatusOK || strings.Contains(r.body, "deep") {
		t.Fatalf("SHOW CONTINUOUS QUERIES: %d %s", r.status, r.body)
	}
}

// rpcPanics reads the data service's recovered panics from /debug/vars.
func rpcPanics(t *testing.T, base string) int64 {
	t.Helper()
	r := do(t, http.MethodGet, base+"/debug/vars", noCred, nil, nil)
	var vars map[string]json.RawMessage
	var rpc struct {
		Values map[string]json.Number `json:"values"`
	}
	if err := json.Unmarshal([]byte(r.body), &vars); err != nil {
		t.Fatalf("/debug/vars: %v", err)
	}
	if err := json.Unmarshal(vars["rpc"], &rpc); err != nil {
		t.Fatalf("/debug/vars rpc: %v", err)
	}
	n, _ := rpc.Values["panics"].Int64()
	return n
}

// TestTinyBucketsAreRefusedByDefault (issue 17): GROUP BY time(1ns) over
// an hour asks the node that coordinates the query for 3.6e12 buckets; the
// default [coordinator] max-select-buckets (InfluxDB's default is no limit)
// refuses it on every node of a cluster, before any owner is read.
func TestTinyBucketsAreRefusedByDefault(t *testing.T) {
	c := newReplCluster(t, 2, nil)
	c.createDB(10)
	for i, d := range c.data {
		r := queryDB(t, d.URL, "db", "SELECT count(v) FROM cpu WHERE time > now() - 2h GROUP BY time(1ns)", noCred)
		if r.status != http.StatusOK || !strings.Contains(r.statementError(), "max-select-buckets limit exceeded") {
			t.Fatalf("node %d: GROUP BY time(1ns) over two hours: %d %s", i, r.status, r.body)
		}
	}
	// A year of one-minute buckets is within the limit.
	r := queryDB(t, c.data[0].URL, "db", "SELECT count(v) FROM cpu WHERE time > now() - 52w GROUP BY time(1m) LIMIT 1", noCred)
	if r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("a year of one-minute buckets: %d %s", r.status, r.body)
	}
}

// TestOrderDeleteChecksItsShard (issue 17): an OrderDelete queues a delete
// that later reaches its target as this node's: it is taken only for a
// shard the node knows, of the database and policy it names, for one of
// the shard's owners.
func TestOrderDeleteChecksItsShard(t *testing.T) {
	c := newReplCluster(t, 3, nil)
	c.createDB(10)
	mustQuery(t, c.data[0].URL, "CREATE DATABASE other", noCred)
	sh := c.shardsOf("db")[0]
	own, outsider := c.split(sh)
	index := c.state().Index
	conn, err := cluster.Dial(own[0].ClusterAddr(), cluster.DialOptions{Secret: replSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := datapb.NewDataServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	order := func(target, shard uint64, db string) error {
		_, err := client.OrderDelete(ctx, &datapb.OrderDeleteRequest{TargetNodeId: target, Delete: &datapb.WriteShardRequest{
			ShardId: shard, Database: db, RetentionPolicy: "autogen", MetaIndex: index,
			Delete: &datapb.ShardDelete{Sources: "cpu"}}})
		return err
	}
	for _, tc := range []struct {
		name   string
		target uint64
		shard  uint64
		db     string
		want   codes.Code
	}{
		{"an owner of the shard", own[1].NodeID(), sh.Id, "db", codes.OK},
		{"a shard that does not exist", own[1].NodeID(), sh.Id + 1000, "db", codes.NotFound},
		{"another database than the shard's", own[1].NodeID(), sh.Id, "other", codes.NotFound},
		{"a target that does not own the shard", outsider.NodeID(), sh.Id, "db", codes.FailedPrecondition},
	} {
		if err := order(tc.target, tc.shard, tc.db); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// DELETE through the cluster still works.
	if r := queryDB(t, c.data[0].URL, "db", "DELETE FROM cpu", noCred); r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
}
