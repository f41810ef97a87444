package cq

import (
	"errors"
	"time"

	"github.com/influxdata/influxql"
)

// This file decides when a continuous query runs and over which time range,
// as InfluxDB 1.x does (services/continuous_querier): a query with
// GROUP BY time(interval) [offset] runs once per resample interval ("every",
// the group-by interval by default), just after a bucket closes, and
// computes the buckets that started within the last "for" (the larger of
// the interval and every, by default). A query that has not run since it
// was created starts with the bucket that closes next. What differs is only
// where the last run is kept: in the meta state (ContinuousQuery.last_run),
// so that a node taking over from one that stopped goes on from there and
// computes, in one run, every bucket missed meanwhile.

// errRawCQ refuses a continuous query that has nothing to schedule.
var errRawCQ = errors.New("continuous queries must be aggregate queries with GROUP BY time(...)")

// cqPlan is what a continuous query should do at some time.
type cqPlan struct {
	// due: the query is due; lastRun is then what to record, and start and
	// end (end exclusive) the range to compute, empty when end <= start.
	due        bool
	lastRun    time.Time
	start, end time.Time
}

// empty reports whether a due plan has no bucket to compute.
func (p cqPlan) empty() bool { return !p.end.After(p.start) }

// cqTiming is a continuous query's schedule, from its statement.
type cqTiming struct {
	interval, offset time.Duration
	every, span      time.Duration // RESAMPLE EVERY and FOR, defaults applied
	loc              *time.Location
}

// timingOf reads the schedule of a CREATE CONTINUOUS QUERY statement.
func timingOf(stmt *influxql.CreateContinuousQueryStatement) (cqTiming, error) {
	sel := stmt.Source
	interval, err := sel.GroupByInterval()
	if err != nil {
		return cqTiming{}, err
	}
	if interval <= 0 || sel.IsRawQuery {
		return cqTiming{}, errRawCQ
	}
	offset, err := sel.GroupByOffset()
	if err != nil {
		return cqTiming{}, err
	}
	t := cqTiming{interval: interval, offset: offset, every: interval, loc: time.UTC}
	if stmt.ResampleEvery > 0 {
		t.every = stmt.ResampleEvery
	}
	switch {
	case stmt.ResampleFor > 0:
		t.span = stmt.ResampleFor
	case t.every > interval:
		t.span = t.every
	default:
		t.span = interval
	}
	if sel.Location != nil {
		t.loc = sel.Location
	}
	return t, nil
}

// plan says what the query does at now, having last run at last (zero:
// never).
func (t cqTiming) plan(last, now time.Time) cqPlan {
	now = now.In(t.loc)
	next := now
	if !last.IsZero() {
		last = last.In(t.loc)
		next = last.Add(t.every)
		// Across a change of the zone's offset (daylight saving time), the
		// next run keeps to the wall clock, as bucket boundaries do.
		if shift := zoneOffset(last.Add(-1)) - zoneOffset(next.Add(-1)); shift != 0 && absDuration(shift) < t.every {
			next = next.Add(shift)
		}
		if next.After(now) {
			return cqPlan{}
		}
	}
	// The buckets to compute: from the one holding next - span (the oldest
	// that may still change) to the last one that has closed by now.
	step := min(t.every, t.interval)
	return cqPlan{
		due:     true,
		lastRun: floorIn(now.Add(-t.offset), t.every).Add(t.offset),
		start:   floorIn(next.Add(t.interval-t.span-t.offset-1), t.interval).Add(t.offset),
		end:     floorIn(now.Add(t.interval-step-t.offset), t.interval).Add(t.offset),
	}
}

// floorIn rounds ts down to a multiple of d counted in its location's wall
// time since the Unix epoch (so a 1d bucket starts at local midnight, and a
// 7d bucket on a Thursday, as in InfluxDB). When the zone's offset at the
// result differs from ts's, the result is moved by the difference if that
// is smaller than d.
func floorIn(ts time.Time, d time.Duration) time.Time {
	off := zoneOffset(ts)
	rem := (ts.UnixNano() + int64(off)) % int64(d)
	if rem < 0 {
		rem += int64(d)
	}
	out := time.Unix(0, ts.UnixNano()-rem).In(ts.Location())
	if diff := off - zoneOffset(out); diff != 0 && absDuration(diff) < d {
		out = out.Add(diff)
	}
	return out
}

func zoneOffset(t time.Time) time.Duration {
	_, secs := t.Zone()
	return time.Duration(secs) * time.Second
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
