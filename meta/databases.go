package meta

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// ShardGroupDuration returns InfluxDB's default shard group duration for a
// retention duration (0 = infinite).
func ShardGroupDuration(retention time.Duration) time.Duration {
	switch {
	case retention == 0 || retention > 180*24*time.Hour:
		return 7 * 24 * time.Hour
	case retention >= 2*24*time.Hour:
		return 24 * time.Hour
	default:
		return time.Hour
	}
}

// newRetentionPolicy builds a retention policy from spec, filling defaults.
func newRetentionPolicy(d *metapb.Data, spec *metapb.RetentionPolicySpec) (*metapb.RetentionPolicy, error) {
	if spec.Name == "" {
		return nil, ErrRetentionPolicyRequired
	}
	if spec.Duration < 0 || (spec.Duration > 0 && time.Duration(spec.Duration) < minRetentionDuration) {
		return nil, ErrRetentionPolicyDuration
	}
	if spec.ShardGroupDuration < 0 {
		return nil, fmt.Errorf("%w: shard group duration must not be negative", ErrInvalidCommand)
	}
	rp := &metapb.RetentionPolicy{
		Name:               spec.Name,
		Duration:           spec.Duration,
		ShardGroupDuration: spec.ShardGroupDuration,
		ReplicationFactor:  spec.ReplicationFactor,
	}
	if rp.ShardGroupDuration == 0 && d.Settings != nil {
		rp.ShardGroupDuration = d.Settings.DefaultShardGroupDuration
	}
	if rp.ShardGroupDuration <= 0 { // a negative cluster default is no duration either
		rp.ShardGroupDuration = int64(ShardGroupDuration(time.Duration(rp.Duration)))
	}
	if rp.ReplicationFactor == 0 && d.Settings != nil {
		rp.ReplicationFactor = d.Settings.DefaultReplicationFactor
	}
	if rp.ReplicationFactor == 0 {
		rp.ReplicationFactor = 1
	}
	return rp, nil
}

// sameSpec reports whether rp is what spec would create (InfluxDB treats such
// a CREATE as a no-op). A spec without a replication factor matches any, as
// in InfluxDB (RetentionPolicySpec.Matches): the default factor may have
// changed since rp was created.
func sameSpec(d *metapb.Data, rp *metapb.RetentionPolicy, spec *metapb.RetentionPolicySpec) bool {
	want, err := newRetentionPolicy(d, spec)
	return err == nil && want.Duration == rp.Duration && want.ShardGroupDuration == rp.ShardGroupDuration &&
		(spec.ReplicationFactor == 0 || want.ReplicationFactor == rp.ReplicationFactor)
}

func createDatabase(d *metapb.Data, c *metapb.CreateDatabase, created uint64) error {
	if c.Name == "" {
		return ErrDatabaseNameRequired
	}
	spec := c.RetentionPolicy
	if spec == nil {
		spec = &metapb.RetentionPolicySpec{Name: DefaultRetentionPolicyName}
	}
	if spec.Name == "" {
		spec = proto.Clone(spec).(*metapb.RetentionPolicySpec)
		spec.Name = DefaultRetentionPolicyName
	}
	i, found := findDatabase(d.Databases, c.Name)
	if found {
		// Idempotent, unless an explicit policy conflicts with the existing one.
		if c.RetentionPolicy == nil {
			return nil
		}
		db := d.Databases[i]
		rp := FindRetentionPolicy(db, spec.Name)
		if rp == nil || !sameSpec(d, rp, spec) || db.DefaultRetentionPolicy != spec.Name {
			return ErrRetentionPolicyConflict
		}
		return nil
	}
	rp, err := newRetentionPolicy(d, spec)
	if err != nil {
		return err
	}
	rp.CreatedIndex = created
	db := &metapb.Database{Name: c.Name, DefaultRetentionPolicy: rp.Name, RetentionPolicies: []*metapb.RetentionPolicy{rp},
		CreatedIndex: created}
	d.Databases = slices.Insert(slices.Clone(d.Databases), i, db)
	return nil
}

func dropDatabase(d *metapb.Data, name string) error {
	if name == "" {
		return ErrDatabaseNameRequired
	}
	i, found := findDatabase(d.Databases, name)
	if !found {
		return nil // InfluxDB: dropping a missing database is not an error.
	}
	d.Databases = slices.Delete(slices.Clone(d.Databases), i, i+1)
	// Privileges on the database go with it.
	var users []*metapb.User
	for ui, u := range d.Users {
		if _, ok := u.Privileges[name]; !ok {
			continue
		}
		if users == nil {
			users = slices.Clone(d.Users)
		}
		nu := proto.Clone(u).(*metapb.User)
		delete(nu.Privileges, name)
		users[ui] = nu
	}
	if users != nil {
		d.Users = users
	}
	return nil
}

// updateDatabase replaces the database called name by a changed deep clone.
func updateDatabase(d *metapb.Data, name string, change func(*metapb.Database) error) error {
	if name == "" {
		return ErrDatabaseNameRequired
	}
	i, found := findDatabase(d.Databases, name)
	if !found {
		return fmt.Errorf("%w: %s", ErrDatabaseNotFound, name)
	}
	db := proto.Clone(d.Databases[i]).(*metapb.Database)
	if err := change(db); err != nil {
		return err
	}
	dbs := slices.Clone(d.Databases)
	dbs[i] = db
	d.Databases = dbs
	return nil
}

func createRetentionPolicy(d *metapb.Data, c *metapb.CreateRetentionPolicy, created uint64) error {
	if c.Spec == nil {
		return fmt.Errorf("%w: retention policy spec missing", ErrInvalidCommand)
	}
	rp, err := newRetentionPolicy(d, c.Spec)
	if err != nil {
		return err
	}
	rp.CreatedIndex = created
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		i, found := findRP(db.RetentionPolicies, rp.Name)
		if found {
			if !sameSpec(d, db.RetentionPolicies[i], c.Spec) {
				return ErrRetentionPolicyExists
			}
		} else {
			db.RetentionPolicies = slices.Insert(db.RetentionPolicies, i, rp)
		}
		if c.MakeDefault {
			db.DefaultRetentionPolicy = rp.Name
		}
		return nil
	})
}

func updateRetentionPolicy(d *metapb.Data, c *metapb.UpdateRetentionPolicy) error {
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		i, found := findRP(db.RetentionPolicies, c.Name)
		if !found {
			return ErrRetentionPolicyNotFound
		}
		rp := db.RetentionPolicies[i]
		if c.Duration != nil {
			if *c.Duration < 0 || (*c.Duration > 0 && time.Duration(*c.Duration) < minRetentionDuration) {
				return ErrRetentionPolicyDuration
			}
			rp.Duration = *c.Duration
		}
		if c.ShardGroupDuration != nil {
			if *c.ShardGroupDuration <= 0 {
				return fmt.Errorf("%w: shard group duration must be positive", ErrInvalidCommand)
			}
			rp.ShardGroupDuration = *c.ShardGroupDuration
		}
		if c.ReplicationFactor != nil {
			if *c.ReplicationFactor == 0 {
				return ErrReplicationFactor
			}
			rp.ReplicationFactor = *c.ReplicationFactor
		}
		if c.NewName != nil && *c.NewName != rp.Name {
			if *c.NewName == "" {
				return ErrRetentionPolicyRequired
			}
			if _, exists := findRP(db.RetentionPolicies, *c.NewName); exists {
				return ErrRetentionPolicyExists
			}
			if db.DefaultRetentionPolicy == rp.Name {
				db.DefaultRetentionPolicy = *c.NewName
			}
			rp.Name = *c.NewName
			slices.SortFunc(db.RetentionPolicies, func(a, b *metapb.RetentionPolicy) int {
				return cmp.Compare(a.Name, b.Name)
			})
		}
		if c.MakeDefault {
			db.DefaultRetentionPolicy = rp.Name
		}
		return nil
	})
}

func dropRetentionPolicy(d *metapb.Data, c *metapb.DropRetentionPolicy) error {
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		i, found := findRP(db.RetentionPolicies, c.Name)
		if !found {
			return nil // InfluxDB: dropping a missing policy is not an error.
		}
		db.RetentionPolicies = slices.Delete(db.RetentionPolicies, i, i+1)
		if db.DefaultRetentionPolicy == c.Name {
			db.DefaultRetentionPolicy = ""
		}
		return nil
	})
}

// ShardGroupFor returns the live shard group of rp that covers t (unix ns), or nil.
func ShardGroupFor(rp *metapb.RetentionPolicy, t int64) *metapb.ShardGroup {
	for _, sg := range rp.ShardGroups {
		if sg.DeletedAt == 0 && sg.StartTime <= t && t < sg.EndTime {
			return sg
		}
	}
	return nil
}

// The range of timestamps a point may have, as in InfluxDB 1.x
// (models.MinNanoTime and models.MaxNanoTime; meta must not import the
// engine). The two lowest int64 values are sentinels inside the engine, and
// the highest is kept free so that the exclusive end of the last shard group,
// MaxNanoTime+1, is representable.
const (
	MinNanoTime = int64(math.MinInt64) + 2
	MaxNanoTime = int64(math.MaxInt64) - 1
)

// shardGroupBounds returns the group [start, end) of length dur that holds
// t, clamped to [MinNanoTime, MaxNanoTime+1] without overflowing. With
// truncate, it starts where influxd 1.x starts it (t.Truncate(dur): a
// multiple of dur counted from Go's zero Time); otherwise at a multiple of
// dur counted from the Unix epoch, as clusters below levelTruncatedGroups
// do. t must be in range and dur positive.
func shardGroupBounds(t, dur int64, truncate bool) (start, end int64) {
	m := mod(t, dur)
	if truncate {
		m = sinceTruncated(t, dur)
	}
	// t - m < MinNanoTime, written so that nothing overflows (0 <= m <
	// dur, so MinNanoTime+m <= 0).
	if t < MinNanoTime+m {
		start = MinNanoTime
	} else {
		start = t - m
	}
	// start + dur > MaxNanoTime+1, written so that nothing overflows.
	if start > MaxNanoTime+1-dur {
		end = MaxNanoTime + 1
	} else {
		end = start + dur
	}
	return start, end
}

func createShardGroup(d *metapb.Data, c *metapb.CreateShardGroup) error {
	if c.Timestamp < MinNanoTime || c.Timestamp > MaxNanoTime {
		return ErrTimeOutOfRange
	}
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		rp := FindRetentionPolicy(db, c.RetentionPolicy)
		if rp == nil {
			return ErrRetentionPolicyNotFound
		}
		if ShardGroupFor(rp, c.Timestamp) != nil {
			return nil
		}
		dur := rp.ShardGroupDuration
		if dur <= 0 {
			dur = int64(ShardGroupDuration(time.Duration(rp.Duration)))
		}
		truncate := ClusterFeatureLevel(d) >= levelTruncatedGroups
		start, end := shardGroupBounds(c.Timestamp, dur, truncate)
		if truncate {
			start, end = besideLiveGroups(rp, c.Timestamp, start, end)
		}
		if c.Timestamp < start || c.Timestamp >= end {
			// Cannot happen; a group that does not hold its timestamp would
			// be created again by every write at that time.
			return fmt.Errorf("%w: shard group [%d, %d) would not hold %d", ErrInvalidCommand, start, end, c.Timestamp)
		}
		sg := &metapb.ShardGroup{StartTime: start, EndTime: end}
		d.MaxShardGroupId++
		sg.Id = d.MaxShardGroupId

		assignOwners(d, db, sg, int(rp.ReplicationFactor))
		rp.ShardGroups = append(rp.ShardGroups, sg)
		slices.SortFunc(rp.ShardGroups, func(a, b *metapb.ShardGroup) int {
			if a.StartTime != b.StartTime {
				return cmp.Compare(a.StartTime, b.StartTime)
			}
			return cmp.Compare(a.Id, b.Id)
		})
		return nil
	})
}

// besideLiveGroups shortens the new group [start, end) of t so that it
// overlaps no live group of rp (none holds t). A group made after the
// cluster started truncating, or after the policy's shard duration changed,
// would otherwise overlap older ones; being first in start order, it would
// take the writes of times an older group held, and a point written again
// would be stored in two shards. influxd lets them overlap.
func besideLiveGroups(rp *metapb.RetentionPolicy, t, start, end int64) (int64, int64) {
	for _, g := range rp.ShardGroups {
		switch {
		case g.DeletedAt != 0:
		case g.EndTime <= t && g.EndTime > start:
			start = g.EndTime
		case g.StartTime > t && g.StartTime < end:
			end = g.StartTime
		}
	}
	return start, end
}

func deleteShardGroup(d *metapb.Data, c *metapb.DeleteShardGroup) error {
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		rp := FindRetentionPolicy(db, c.RetentionPolicy)
		if rp == nil {
			return ErrRetentionPolicyNotFound
		}
		for _, sg := range rp.ShardGroups {
			if sg.Id == c.Id {
				if sg.DeletedAt == 0 {
					sg.DeletedAt = c.DeletedAt
				}
				return nil
			}
		}
		return ErrShardGroupNotFound
	})
}

// dropShard removes shard c.Id from its group, and deletes the group when
// it has no shard left. An unknown shard changes nothing.
func dropShard(d *metapb.Data, c *metapb.DropShard) {
	for _, db := range d.Databases {
		for _, rp := range db.RetentionPolicies {
			for _, sg := range rp.ShardGroups {
				if !slices.ContainsFunc(sg.Shards, func(sh *metapb.Shard) bool { return sh.Id == c.Id }) {
					continue
				}
				// The state is shared with earlier versions: change a copy.
				_ = updateDatabase(d, db.Name, func(db *metapb.Database) error {
					g := findShardGroup(FindRetentionPolicy(db, rp.Name), sg.Id)
					g.Shards = slices.DeleteFunc(g.Shards, func(sh *metapb.Shard) bool { return sh.Id == c.Id })
					if len(g.Shards) == 0 && g.DeletedAt == 0 {
						g.DeletedAt = c.DeletedAt
					}
					return nil
				})
				return
			}
		}
	}
}

func findShardGroup(rp *metapb.RetentionPolicy, id uint64) *metapb.ShardGroup {
	for _, sg := range rp.ShardGroups {
		if sg.Id == id {
			return sg
		}
	}
	return nil
}

// zeroToUnix is the number of seconds from Go's zero Time (January 1, year
// 1, UTC) to the Unix epoch.
const zeroToUnix = 62135596800

// sinceTruncated returns how far t (Unix nanoseconds) is past the multiple
// of d (positive) that time.Unix(0, t).Truncate(d) rounds it down to: the
// remainder of the time since Go's zero Time divided by d. It is computed
// in 128 bits because that time, in nanoseconds, does not fit in an int64
// (time.Time.Sub would saturate for a d over 292 years).
func sinceTruncated(t, d int64) int64 {
	sec, nsec := t/1e9, t%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	hi, lo := bits.Mul64(uint64(sec+zeroToUnix), 1e9) // sec+zeroToUnix > 0 for every valid t
	lo, carry := bits.Add64(lo, uint64(nsec), 0)
	return int64(bits.Rem64(hi+carry, lo, uint64(d)))
}

// mod is the non-negative remainder, so timestamps before 1970 truncate down.
func mod(t, d int64) int64 {
	if d <= 0 {
		return 0
	}
	m := t % d
	if m < 0 {
		m += d
	}
	return m
}
