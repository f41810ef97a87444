package meta_test

import (
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestLeaderWritesDefaultReplicationFactor: [meta]
// default-replication-factor reaches the replicated settings through the
// leader (nothing set it before: every policy got replication 1), keeps
// the other settings, and is what a database's first policy gets; an
// explicit REPLICATION still wins.
func TestLeaderWritesDefaultReplicationFactor(t *testing.T) {
	t.Parallel()
	hour := int64(2 * time.Hour)
	c := testcluster.New(t, testcluster.Options{
		Meta: 3,
		Seed: &metapb.Data{Index: 5, ClusterId: "seeded", FeatureLevel: meta.FeatureLevel,
			Settings: &metapb.ClusterSettings{DefaultReplicationFactor: 1, DefaultShardGroupDuration: hour}},
		Configure: func(_ int, cfg *meta.Config) { cfg.DefaultReplicationFactor = 3 },
	})
	c.WaitFor("the configured factor in the settings", func() bool {
		return c.WaitForLeader().Store.Data().GetSettings().GetDefaultReplicationFactor() == 3
	})
	d := waitConverged(t, c)
	if got := d.Settings.DefaultShardGroupDuration; got != hour {
		t.Fatalf("default shard group duration %d after the push, want %d kept", got, hour)
	}

	mustExecute(t, c, c.Follower(), createDatabase("db"))
	mustExecute(t, c, c.LeaderIndex(), &metapb.Command{Op: &metapb.Command_CreateRetentionPolicy{CreateRetentionPolicy: &metapb.CreateRetentionPolicy{
		Database: "db", Spec: &metapb.RetentionPolicySpec{Name: "one", Duration: int64(time.Hour), ReplicationFactor: 1},
	}}})
	d = waitConverged(t, c)
	db := meta.FindDatabase(d, "db")
	if rp := meta.FindRetentionPolicy(db, meta.DefaultRetentionPolicyName); rp == nil || rp.ReplicationFactor != 3 {
		t.Fatalf("autogen = %v, want replication 3", rp)
	}
	if rp := meta.FindRetentionPolicy(db, "one"); rp == nil || rp.ReplicationFactor != 1 {
		t.Fatalf("one = %v, want the explicit replication 1", rp)
	}
}

// TestZeroDefaultReplicationFactorLeavesSettings: a store configured
// without a factor (the embedded store of a standalone data node) writes
// no settings, so a database's first policy keeps InfluxDB 1.x's
// replication 1.
func TestZeroDefaultReplicationFactorLeavesSettings(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{Meta: 1})
	mustExecute(t, c, 0, createDatabase("db"))
	d := waitConverged(t, c)
	if d.Settings != nil {
		t.Fatalf("settings %v written without a configured factor", d.Settings)
	}
	if rp := meta.FindRetentionPolicy(meta.FindDatabase(d, "db"), meta.DefaultRetentionPolicyName); rp == nil || rp.ReplicationFactor != 1 {
		t.Fatalf("autogen = %v, want replication 1", rp)
	}
}
