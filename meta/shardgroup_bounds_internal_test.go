package meta

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestShardGroupBoundsNeverOverflow (issue 6, point 7): for every valid
// timestamp, at the edges of the range too, the group holds the timestamp,
// stays inside [MinNanoTime, MaxNanoTime+1] and is no longer than the
// duration. A write at 9223372036854775806 used to get a group whose end had
// wrapped below its start, which held nothing, so every write added another.
func TestShardGroupBoundsNeverOverflow(t *testing.T) {
	durations := []int64{1, int64(time.Hour), int64(24 * time.Hour), int64(7 * 24 * time.Hour),
		int64(100 * 365 * 24 * time.Hour), math.MaxInt64 / 2, math.MaxInt64}
	stamps := []int64{MinNanoTime, MinNanoTime + 1, MinNanoTime + int64(time.Hour), -int64(time.Hour) - 1, -1, 0, 1,
		sgTimestamp, MaxNanoTime - int64(7*24*time.Hour), MaxNanoTime - 1, MaxNanoTime}
	for _, dur := range durations {
		for _, ts := range stamps {
			start, end := shardGroupBounds(ts, dur)
			if start > ts || ts >= end {
				t.Fatalf("duration %d, time %d: group [%d, %d) does not hold it", dur, ts, start, end)
			}
			if start < MinNanoTime || end > MaxNanoTime+1 {
				t.Fatalf("duration %d, time %d: group [%d, %d) leaves the valid range", dur, ts, start, end)
			}
			if uint64(end)-uint64(start) > uint64(dur) {
				t.Fatalf("duration %d, time %d: group [%d, %d) is longer than the duration", dur, ts, start, end)
			}
		}
	}
	// Away from the edges, groups are aligned on the epoch as before.
	if start, end := shardGroupBounds(int64(90*time.Minute), int64(time.Hour)); start != int64(time.Hour) || end != int64(2*time.Hour) {
		t.Fatalf("1h group of 01:30: [%d, %d)", start, end)
	}
	if start, end := shardGroupBounds(-1, int64(time.Hour)); start != -int64(time.Hour) || end != 0 {
		t.Fatalf("1h group of -1ns: [%d, %d)", start, end)
	}
}

// TestExtremeTimestampsCreateOneShardGroup: repeated CreateShardGroup
// commands at the first and last valid times create one group each, and a
// timestamp outside the range creates none.
func TestExtremeTimestampsCreateOneShardGroup(t *testing.T) {
	d := seedState(t)
	groups := func(d *metapb.Data) []*metapb.ShardGroup {
		return FindRetentionPolicy(FindDatabase(d, "db"), "week").ShardGroups
	}
	n := len(groups(d))
	index := uint64(100)
	for _, ts := range []int64{MaxNanoTime, MinNanoTime} {
		for range 3 {
			next, res := apply(d, cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: ts}), index)
			if res.err != nil {
				t.Fatalf("time %d: %v", ts, res.err)
			}
			d, index = next, index+1
		}
		n++
		if got := len(groups(d)); got != n {
			t.Fatalf("after 3 writes at %d: %d shard groups, want %d", ts, got, n)
		}
		sg := ShardGroupFor(FindRetentionPolicy(FindDatabase(d, "db"), "week"), ts)
		if sg == nil || sg.StartTime < MinNanoTime || sg.EndTime > MaxNanoTime+1 {
			t.Fatalf("time %d: group %v", ts, sg)
		}
	}
	if got := groups(d)[0]; got.StartTime != MinNanoTime {
		t.Fatalf("first group starts at %d, want MinNanoTime", got.StartTime)
	}
	if got := groups(d)[len(groups(d))-1]; got.EndTime != math.MaxInt64 {
		t.Fatalf("last group ends at %d, want MaxNanoTime+1", got.EndTime)
	}

	before := proto.Clone(d).(*metapb.Data)
	for _, ts := range []int64{MaxNanoTime + 1, MinNanoTime - 1, math.MinInt64} {
		next, res := apply(d, cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: "week", Timestamp: ts}), index)
		if !errors.Is(res.err, ErrTimeOutOfRange) || next != d || !proto.Equal(d, before) {
			t.Fatalf("time %d: got %v, want ErrTimeOutOfRange and no change", ts, res.err)
		}
	}
	if want := "time outside range -9223372036854775806 - 9223372036854775806"; ErrTimeOutOfRange.Error() != want {
		t.Fatalf("message %q, want InfluxDB's %q", ErrTimeOutOfRange, want)
	}
}

// TestShardGroupWithoutDurationHoldsItsTime: a policy whose shard group
// duration is not positive (a negative cluster default, or a state written
// by an older version) gets a group of the default duration, never an
// empty one that would be created again at every write.
func TestShardGroupWithoutDurationHoldsItsTime(t *testing.T) {
	d := applyAll(t,
		cmdOf(&metapb.SetSettings{Settings: &metapb.ClusterSettings{DefaultShardGroupDuration: -5}}),
		cmdOf(&metapb.CreateDatabase{Name: "db"}))
	rp := FindRetentionPolicy(FindDatabase(d, "db"), DefaultRetentionPolicyName)
	if rp.ShardGroupDuration != int64(7*24*time.Hour) {
		t.Fatalf("negative default gave shard group duration %d, want InfluxDB's default", rp.ShardGroupDuration)
	}
	// A stored policy without a duration.
	d = proto.Clone(d).(*metapb.Data)
	d.Databases[0].RetentionPolicies[0].ShardGroupDuration = 0
	for i := range 3 {
		next, res := apply(d, cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: DefaultRetentionPolicyName, Timestamp: sgTimestamp}), uint64(10+i))
		if res.err != nil {
			t.Fatal(res.err)
		}
		d = next
	}
	rp = FindRetentionPolicy(FindDatabase(d, "db"), DefaultRetentionPolicyName)
	if len(rp.ShardGroups) != 1 || ShardGroupFor(rp, sgTimestamp) == nil {
		t.Fatalf("shard groups %v, want one that holds the time", rp.ShardGroups)
	}
}
