package meta

import (
	"context"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Maintenance configures what the leader does on its own, on a timer, for
// the whole cluster: one place, so two nodes never race to do it.
type Maintenance struct {
	// RetentionCheckInterval is how often expired shard groups are deleted
	// ([retention] check-interval); 0 never deletes them.
	RetentionCheckInterval time.Duration
	// PrecreationCheckInterval is how often the next shard groups are
	// created ahead of time ([shard-precreation] check-interval); 0 never.
	PrecreationCheckInterval time.Duration
	// PrecreationAdvancePeriod: a policy whose newest group ends within
	// this much time gets its next group ([shard-precreation] advance-period).
	PrecreationAdvancePeriod time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (m Maintenance) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// maintain runs on every node and acts while it leads: retention every
// RetentionCheckInterval, precreation every PrecreationCheckInterval. A
// failed round is logged and tried again at the next tick.
func (s *Store) maintain() {
	defer s.wg.Done()
	m := s.cfg.Maintenance
	tick := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		t := time.NewTicker(d)
		go func() { <-s.closed; t.Stop() }()
		return t.C
	}
	retention, precreation := tick(m.RetentionCheckInterval), tick(m.PrecreationCheckInterval)
	if retention == nil && precreation == nil {
		return
	}
	for {
		var err error
		var what string
		select {
		case <-s.closed:
			return
		case <-retention:
			what = "deleting expired shard groups"
			err = s.runIfLeader(s.EnforceRetention)
		case <-precreation:
			what = "creating shard groups ahead of time"
			err = s.runIfLeader(s.PrecreateShardGroups)
		}
		if err != nil {
			s.log.Warn(what, "err", err)
		}
	}
}

// runIfLeader runs f with a deadline when this node leads.
func (s *Store) runIfLeader(f func(ctx context.Context) error) error {
	if !s.IsLeader() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, stop := s.closing(ctx)
	defer stop()
	// The leader's state may lag its log just after an election.
	// Short: Close waits for this goroutine, and Barrier ignores it.
	if err := s.raft.Barrier(2 * time.Second).Error(); err != nil {
		return err
	}
	return f(ctx)
}

// ExpiredShardGroups returns the live shard groups of d that ended before
// their retention policy's duration, as of now: InfluxDB's rule (a group is
// deleted once its end time is older than now minus the duration).
func ExpiredShardGroups(d *metapb.Data, now time.Time) []*metapb.DeleteShardGroup {
	var out []*metapb.DeleteShardGroup
	for _, db := range d.GetDatabases() {
		for _, rp := range db.RetentionPolicies {
			if rp.Duration <= 0 {
				continue // INF
			}
			cutoff := now.UnixNano() - rp.Duration
			for _, sg := range rp.ShardGroups {
				if sg.DeletedAt == 0 && sg.EndTime < cutoff {
					out = append(out, &metapb.DeleteShardGroup{Database: db.Name, RetentionPolicy: rp.Name, Id: sg.Id})
				}
			}
		}
	}
	return out
}

// EnforceRetention deletes the expired shard groups (ExpiredShardGroups).
// The groups stay in the state, marked deleted: the owners then drop their
// copies and what they queued for them, and nothing recreates them (a write
// or replay to a deleted shard is refused).
func (s *Store) EnforceRetention(ctx context.Context) error {
	now := s.cfg.Maintenance.now()
	for _, del := range ExpiredShardGroups(s.Data(), now) {
		del.DeletedAt = now.UnixNano()
		if _, err := s.Execute(ctx, &metapb.Command{Op: &metapb.Command_DeleteShardGroup{DeleteShardGroup: del}}); err != nil {
			return err
		}
		s.log.Info("deleted an expired shard group", "db", del.Database, "rp", del.RetentionPolicy, "group", del.Id)
	}
	return nil
}

// GroupsToPrecreate returns a CreateShardGroup for each retention policy of
// d whose newest live group ends within (now, now+advance] and has no
// successor yet: InfluxDB's rule, so writes at the boundary find their group
// and do not wait on Raft.
func GroupsToPrecreate(d *metapb.Data, now time.Time, advance time.Duration) []*metapb.CreateShardGroup {
	from, to := now.UnixNano(), now.Add(advance).UnixNano()
	var out []*metapb.CreateShardGroup
	for _, db := range d.GetDatabases() {
		for _, rp := range db.RetentionPolicies {
			var last *metapb.ShardGroup
			for _, sg := range rp.ShardGroups {
				if last == nil || sg.EndTime > last.EndTime {
					last = sg
				}
			}
			if last == nil || last.DeletedAt != 0 || last.EndTime <= from || last.EndTime > to || last.EndTime > MaxNanoTime {
				continue
			}
			if ShardGroupFor(rp, last.EndTime) != nil {
				continue
			}
			out = append(out, &metapb.CreateShardGroup{Database: db.Name, RetentionPolicy: rp.Name, Timestamp: last.EndTime})
		}
	}
	return out
}

// PrecreateShardGroups creates the groups GroupsToPrecreate names.
func (s *Store) PrecreateShardGroups(ctx context.Context) error {
	for _, c := range GroupsToPrecreate(s.Data(), s.cfg.Maintenance.now(), s.cfg.Maintenance.PrecreationAdvancePeriod) {
		if _, err := s.Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateShardGroup{CreateShardGroup: c}}); err != nil {
			return err
		}
		s.log.Info("created a shard group ahead of time", "db", c.Database, "rp", c.RetentionPolicy,
			"start", time.Unix(0, c.Timestamp).UTC())
	}
	return nil
}
