package meta

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
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
	for _, truncate := range []bool{false, true} {
		for _, dur := range durations {
			for _, ts := range stamps {
				start, end := shardGroupBounds(ts, dur, truncate)
				if start > ts || ts >= end {
					t.Fatalf("truncate %v, duration %d, time %d: group [%d, %d) does not hold it", truncate, dur, ts, start, end)
				}
				if start < MinNanoTime || end > MaxNanoTime+1 {
					t.Fatalf("truncate %v, duration %d, time %d: group [%d, %d) leaves the valid range", truncate, dur, ts, start, end)
				}
				if uint64(end)-uint64(start) > uint64(dur) {
					t.Fatalf("truncate %v, duration %d, time %d: group [%d, %d) is longer than the duration", truncate, dur, ts, start, end)
				}
			}
		}
	}
	// Away from the edges, groups below levelTruncatedGroups are aligned on
	// the epoch as before.
	if start, end := shardGroupBounds(int64(90*time.Minute), int64(time.Hour), false); start != int64(time.Hour) || end != int64(2*time.Hour) {
		t.Fatalf("1h group of 01:30: [%d, %d)", start, end)
	}
	if start, end := shardGroupBounds(-1, int64(time.Hour), false); start != -int64(time.Hour) || end != 0 {
		t.Fatalf("1h group of -1ns: [%d, %d)", start, end)
	}
}

// TestShardGroupsStartWhereInfluxdStartsThem (issue 19, point 4): from
// levelTruncatedGroups on, a group starts at t.Truncate(duration), as
// influxd 1.x's CreateShardGroup computes it, for every duration and time
// whose truncation is a valid time: 7-day groups start on Mondays (influxd
// 1.6.7 puts 1999-12-30 in the group of 1999-12-27), where the Unix epoch
// (a Thursday) started them before.
func TestShardGroupsStartWhereInfluxdStartsThem(t *testing.T) {
	week := int64(7 * 24 * time.Hour)
	thu := time.Date(1999, 12, 30, 12, 0, 0, 0, time.UTC).UnixNano()
	if start, _ := shardGroupBounds(thu, week, true); start != time.Date(1999, 12, 27, 0, 0, 0, 0, time.UTC).UnixNano() {
		t.Fatalf("7-day group of 1999-12-30 starts %s, want Monday 1999-12-27", time.Unix(0, start).UTC())
	}
	if start, _ := shardGroupBounds(thu, week, false); start != time.Date(1999, 12, 30, 0, 0, 0, 0, time.UTC).UnixNano() {
		t.Fatalf("below the level, the 7-day group of 1999-12-30 starts %s, want Thursday 1999-12-30", time.Unix(0, start).UTC())
	}

	rng := rand.New(rand.NewPCG(19, 4))
	durations := []int64{1, 3, int64(time.Second), int64(90 * time.Minute), int64(7 * time.Hour), int64(24 * time.Hour),
		week, int64(30 * 24 * time.Hour), int64(365 * 24 * time.Hour), int64(200 * 365 * 24 * time.Hour), math.MaxInt64}
	for range 20000 {
		ts := int64(rng.Uint64())
		if ts < MinNanoTime || ts > MaxNanoTime {
			continue
		}
		dur := durations[rng.IntN(len(durations))]
		if rng.IntN(2) == 0 {
			dur = 1 + rng.Int64N(int64(400*24*time.Hour))
		}
		want := time.Unix(0, ts).UTC().Truncate(time.Duration(dur))
		if want.Before(time.Unix(0, MinNanoTime)) {
			continue // influxd's start would not fit in an int64; ours is clamped
		}
		start, end := shardGroupBounds(ts, dur, true)
		if start != want.UnixNano() {
			t.Fatalf("duration %d, time %d: start %d, want time.Truncate's %d", dur, ts, start, want.UnixNano())
		}
		if wantEnd := want.Add(time.Duration(dur)); wantEnd.Before(time.Unix(0, MaxNanoTime)) && end != wantEnd.UnixNano() {
			t.Fatalf("duration %d, time %d: end %d, want %d", dur, ts, end, wantEnd.UnixNano())
		}
	}
}

// TestUpgradedClusterKeepsItsShardGroups (issue 19, point 4): groups made
// below levelTruncatedGroups keep their bounds once the cluster runs at it;
// new groups start where influxd starts them, shortened where they would
// overlap an old one. Every time written before still maps to the group
// that held it (a point written again is not stored twice), every time gets
// a group, and the groups of a time range hold every time in it.
func TestUpgradedClusterKeepsItsShardGroups(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() // a Thursday
	d := applyAll(t, cmdOf(&metapb.SetFeatureLevel{Level: levelOwners}), cmdOf(&metapb.CreateDatabase{Name: "db"}))
	index := uint64(100)
	create := func(ts int64) {
		t.Helper()
		next, res := apply(d, cmdOf(&metapb.CreateShardGroup{Database: "db", RetentionPolicy: DefaultRetentionPolicyName, Timestamp: ts}), index)
		if res.err != nil {
			t.Fatal(res.err)
		}
		d, index = next, index+1
	}
	rp := func() *metapb.RetentionPolicy {
		return FindRetentionPolicy(FindDatabase(d, "db"), DefaultRetentionPolicyName)
	}

	var old []int64
	for day := range 14 {
		ts := base + int64(day)*int64(24*time.Hour) + int64(time.Hour)
		create(ts)
		old = append(old, ts)
	}
	before := map[int64]uint64{}
	for _, ts := range old {
		sg := ShardGroupFor(rp(), ts)
		if time.Unix(0, sg.StartTime).UTC().Weekday() != time.Thursday {
			t.Fatalf("below the level, a group starts on %s", time.Unix(0, sg.StartTime).UTC().Weekday())
		}
		before[ts] = sg.Id
	}
	oldGroups := proto.Clone(rp()).(*metapb.RetentionPolicy).ShardGroups

	next, res := apply(d, cmdOf(&metapb.SetFeatureLevel{Level: levelTruncatedGroups}), index)
	if res.err != nil {
		t.Fatal(res.err)
	}
	d, index = next, index+1
	var all []int64
	for day := -10; day < 35; day++ {
		ts := base + int64(day)*int64(24*time.Hour) + int64(13*time.Hour)
		create(ts)
		all = append(all, ts)
	}
	for i, sg := range oldGroups {
		if got := rp().ShardGroups[slices.IndexFunc(rp().ShardGroups, func(g *metapb.ShardGroup) bool { return g.Id == sg.Id })]; got.StartTime != sg.StartTime || got.EndTime != sg.EndTime {
			t.Fatalf("old group %d moved: [%d, %d), was [%d, %d)", i, got.StartTime, got.EndTime, sg.StartTime, sg.EndTime)
		}
	}
	for _, ts := range old {
		if sg := ShardGroupFor(rp(), ts); sg.Id != before[ts] {
			t.Fatalf("time %d moved from group %d to %d", ts, before[ts], sg.Id)
		}
	}
	groupsNow := rp().ShardGroups
	for i, sg := range groupsNow {
		if i > 0 && sg.StartTime < groupsNow[i-1].EndTime {
			t.Fatalf("groups [%d, %d) and [%d, %d) overlap", groupsNow[i-1].StartTime, groupsNow[i-1].EndTime, sg.StartTime, sg.EndTime)
		}
		if slices.ContainsFunc(oldGroups, func(g *metapb.ShardGroup) bool { return g.Id == sg.Id }) {
			continue
		}
		// A new group starts on a Monday, or where an old group ends, and
		// ends on a Monday, or where an old group starts.
		start, end := time.Unix(0, sg.StartTime).UTC(), time.Unix(0, sg.EndTime).UTC()
		if start.Weekday() != time.Monday && !slices.ContainsFunc(oldGroups, func(g *metapb.ShardGroup) bool { return g.EndTime == sg.StartTime }) {
			t.Fatalf("a new group starts on %s, want Monday", start)
		}
		if end.Weekday() != time.Monday && !slices.ContainsFunc(oldGroups, func(g *metapb.ShardGroup) bool { return g.StartTime == sg.EndTime }) {
			t.Fatalf("a new group ends on %s, want Monday", end)
		}
	}
	// A query's groups: those that overlap its range, as the engine's
	// ShardGroupsByTimeRange picks them.
	lo, hi := all[0], all[len(all)-1]
	var groups []*metapb.ShardGroup
	for _, g := range rp().ShardGroups {
		if g.DeletedAt == 0 && g.StartTime <= hi && g.EndTime > lo {
			groups = append(groups, g)
		}
	}
	for _, ts := range append(all, old...) {
		if !slices.ContainsFunc(groups, func(g *metapb.ShardGroup) bool { return g.StartTime <= ts && ts < g.EndTime }) {
			t.Fatalf("time %d: no group of the range holds it", ts)
		}
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
