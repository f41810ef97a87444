package meta

import (
	"errors"
	"testing"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestRepeatedCreateDatabaseAfterTheDefaultFactorChanged: a CREATE DATABASE
// … WITH DURATION repeated without REPLICATION matches the existing policy
// whatever its factor, as in InfluxDB, even after the cluster's default
// factor changed; a different explicit factor still conflicts.
func TestRepeatedCreateDatabaseAfterTheDefaultFactorChanged(t *testing.T) {
	day := int64(24 * time.Hour)
	create := func(rf uint32) *metapb.Command {
		return cmdOf(&metapb.CreateDatabase{Name: "db", RetentionPolicy: &metapb.RetentionPolicySpec{
			Name: "rp", Duration: day, ReplicationFactor: rf}})
	}
	d := applyAll(t,
		create(0), // the default then: 1
		cmdOf(&metapb.SetSettings{Settings: &metapb.ClusterSettings{DefaultReplicationFactor: 2}}),
	)
	if got := FindRetentionPolicy(FindDatabase(d, "db"), "rp").ReplicationFactor; got != 1 {
		t.Fatalf("factor %d, want 1", got)
	}
	for _, tc := range []struct {
		rf   uint32
		want error
	}{{0, nil}, {1, nil}, {3, ErrRetentionPolicyConflict}} {
		if _, res := apply(d, create(tc.rf), 10); !errors.Is(res.err, tc.want) {
			t.Errorf("repeated CREATE DATABASE with REPLICATION %d: %v, want %v", tc.rf, res.err, tc.want)
		}
	}
}
