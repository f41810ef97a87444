package cq

import (
	"errors"
	"testing"
	"time"
)

func mustTiming(t *testing.T, q string) cqTiming {
	t.Helper()
	stmt, err := parseCQ(q)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := timingOf(stmt)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestCQSchedule: when a continuous query runs and which buckets it
// computes, as InfluxDB 1.x schedules them (issue 11, point 3).
func TestCQSchedule(t *testing.T) {
	utc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	local := func(s string) time.Time {
		ts, err := time.ParseInLocation("2006-01-02 15:04", s, chicago)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	const (
		plain    = `CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1m) END`
		resample = `CREATE CONTINUOUS QUERY c ON db RESAMPLE EVERY 30s FOR 2m BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1m) END`
		every2m  = `CREATE CONTINUOUS QUERY c ON db RESAMPLE EVERY 2m BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1m) END`
		offset   = `CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1h, 15m) END`
		daily    = `CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1d) TZ('America/Chicago') END`
	)
	for _, tt := range []struct {
		name, q    string
		last, now  time.Time
		due        bool
		lastRun    time.Time
		start, end time.Time // equal: due, nothing to compute
	}{
		{"first run: nothing has closed since", plain, time.Time{}, utc("2026-03-01T12:00:30Z"),
			true, utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:00:00Z")},
		{"before the bucket closes", plain, utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:00:59.999Z"), false, time.Time{}, time.Time{}, time.Time{}},
		{"the bucket that closed", plain, utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:01:00.5Z"),
			true, utc("2026-03-01T12:01:00Z"), utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:01:00Z")},
		{"every missed bucket at once", plain, utc("2026-03-01T12:01:00Z"), utc("2026-03-01T12:05:10Z"),
			true, utc("2026-03-01T12:05:00Z"), utc("2026-03-01T12:01:00Z"), utc("2026-03-01T12:05:00Z")},
		{"resample every 30s for 2m", resample, utc("2026-03-01T12:00:30Z"), utc("2026-03-01T12:01:00.2Z"),
			true, utc("2026-03-01T12:01:00Z"), utc("2026-03-01T11:59:00Z"), utc("2026-03-01T12:01:00Z")},
		{"resample every 30s: not yet", resample, utc("2026-03-01T12:00:30Z"), utc("2026-03-01T12:00:59Z"), false, time.Time{}, time.Time{}, time.Time{}},
		{"every 2m covers 2m", every2m, utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:02:00.1Z"),
			true, utc("2026-03-01T12:02:00Z"), utc("2026-03-01T12:00:00Z"), utc("2026-03-01T12:02:00Z")},
		{"offset: first run", offset, time.Time{}, utc("2026-03-01T10:20:00Z"),
			true, utc("2026-03-01T10:15:00Z"), utc("2026-03-01T10:15:00Z"), utc("2026-03-01T10:15:00Z")},
		{"offset: the shifted bucket", offset, utc("2026-03-01T10:15:00Z"), utc("2026-03-01T11:15:01Z"),
			true, utc("2026-03-01T11:15:00Z"), utc("2026-03-01T10:15:00Z"), utc("2026-03-01T11:15:00Z")},
		{"a day in the query's zone", daily, local("2026-03-01 00:00"), utc("2026-03-02T06:00:30Z"),
			true, local("2026-03-02 00:00"), local("2026-03-01 00:00"), local("2026-03-02 00:00")},
		{"the 23-hour day daylight saving time starts", daily, local("2026-03-08 00:00"), local("2026-03-09 00:00").Add(time.Second),
			true, local("2026-03-09 00:00"), local("2026-03-08 00:00"), local("2026-03-09 00:00")},
		{"not before local midnight", daily, local("2026-03-08 00:00"), local("2026-03-08 23:59"), false, time.Time{}, time.Time{}, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustTiming(t, tt.q).plan(tt.last, tt.now)
			if p.due != tt.due {
				t.Fatalf("due %v, want %v", p.due, tt.due)
			}
			if !tt.due {
				return
			}
			if !p.lastRun.Equal(tt.lastRun) || !p.start.Equal(tt.start) || !p.end.Equal(tt.end) {
				t.Errorf("last run %s, range [%s, %s); want %s, [%s, %s)", p.lastRun, p.start, p.end, tt.lastRun, tt.start, tt.end)
			}
			if p.empty() != !tt.end.After(tt.start) {
				t.Errorf("empty %v", p.empty())
			}
		})
	}
}

// TestCQsThatCannotRun are refused at CREATE CONTINUOUS QUERY: a raw
// query (which InfluxDB 1.x accepts, then fails at every run), and what the
// parser refuses.
func TestCQsThatCannotRun(t *testing.T) {
	if err := Validate(`CREATE CONTINUOUS QUERY c ON db BEGIN SELECT v INTO db.autogen.m1 FROM db.autogen.m END`); !errors.Is(err, errRawCQ) {
		t.Errorf("a raw query: %v, want %v", err, errRawCQ)
	}
	for _, q := range []string{
		`CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m END`,
		`CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY host END`,
	} {
		if err := Validate(q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if err := Validate(`CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO db.autogen.m1 FROM db.autogen.m GROUP BY time(1m), host END`); err != nil {
		t.Errorf("a valid query: %v", err)
	}
}
