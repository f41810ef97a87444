package data_test

import (
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
)

// replicaN returns SHOW RETENTION POLICIES' replicaN by policy name.
func replicaN(t *testing.T, base, db string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, row := range seriesValues(t, mustQuery(t, base, "SHOW RETENTION POLICIES ON "+db, noCred)) {
		name, _ := row[0].(string)
		n, _ := row[3].(float64)
		out[name] = n
	}
	return out
}

// TestRetentionReplicationCompatStandalone: a standalone node answers
// replicaN as influxd 1.x does: 1 for a database created without
// REPLICATION, the given factor otherwise, through CREATE DATABASE, CREATE
// and ALTER RETENTION POLICY.
func TestRetentionReplicationCompatStandalone(t *testing.T) {
	t.Parallel()
	d := testcluster.StartStandalone(t, testcluster.DataOptions{})
	checkReplication(t, d.URL, 1)
}

// TestRetentionReplicationCompatCluster: in a cluster, a policy created
// without REPLICATION gets the meta nodes' default-replication-factor, and
// SHOW RETENTION POLICIES shows the factor as set, not capped at the number
// of data nodes (InfluxDB Enterprise does the same): the cap applies to the
// owners of each shard group when it is created.
func TestRetentionReplicationCompatCluster(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{Meta: 1, Configure: func(_ int, cfg *meta.Config) { cfg.DefaultReplicationFactor = 2 }})
	c.WaitFor("the default replication factor in the settings", func() bool {
		return c.WaitForLeader().Store.Data().GetSettings().GetDefaultReplicationFactor() == 2
	})
	d := c.AddData(testcluster.DataOptions{})
	checkReplication(t, d.URL, 2)

	// One data node: the shard group of a write has one shard, one owner.
	if r := write(t, d.URL, "plain", "m v=1 1700000000000000000", noCred); r.status != 204 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	db := meta.FindDatabase(c.WaitForLeader().Store.Data(), "plain")
	rp := meta.FindRetentionPolicy(db, meta.DefaultRetentionPolicyName)
	if len(rp.ShardGroups) != 1 || len(rp.ShardGroups[0].Shards) != 1 || len(meta.ReadOwners(rp.ShardGroups[0].Shards[0])) != 1 {
		t.Fatalf("shard groups %v, want one shard with one owner", rp.ShardGroups)
	}
}

func checkReplication(t *testing.T, base string, def float64) {
	t.Helper()
	mustQuery(t, base, "CREATE DATABASE plain", noCred)
	if got := replicaN(t, base, "plain"); got["autogen"] != def {
		t.Fatalf("CREATE DATABASE plain: replicaN %v, want autogen %v", got, def)
	}
	mustQuery(t, base, "CREATE DATABASE three WITH REPLICATION 3 NAME r3", noCred)
	mustQuery(t, base, "CREATE RETENTION POLICY two ON three DURATION 1d REPLICATION 2", noCred)
	if got := replicaN(t, base, "three"); got["r3"] != 3 || got["two"] != 2 {
		t.Fatalf("replicaN %v, want r3 3 and two 2", got)
	}
	mustQuery(t, base, "ALTER RETENTION POLICY two ON three REPLICATION 4", noCred)
	if got := replicaN(t, base, "three"); got["two"] != 4 {
		t.Fatalf("after ALTER: replicaN %v, want two 4", got)
	}
	// As influxd: a factor below 1 is refused.
	if r := query(t, base, "ALTER RETENTION POLICY two ON three REPLICATION 0", noCred); r.statementError() == "" && r.status == 200 {
		t.Fatalf("REPLICATION 0 accepted: %s", r.body)
	}
}
