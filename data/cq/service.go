package cq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/internal/qlimit"
	"github.com/palisade-db/palisade/proto/metapb"
)

// cqLeaseName is the lease whose holder runs every continuous query.
const cqLeaseName = "continuous_querier"

// Leaser grants leases: the meta leader's (cluster mode), or this node's
// own (standalone, where no other node could run the queries).
type Leaser interface {
	// acquire asks for the lease; holder is who holds it now (0: nobody
	// may yet) and ttl how long that lasts from when the request was sent.
	acquire(ctx context.Context, name string, node uint64) (holder uint64, ttl time.Duration, err error)
}

// Executor runs a query (the engine's executor).
type Executor func(q *influxql.Query, opt query.ExecutionOptions, closing chan struct{}) <-chan *query.Result

// Service runs the continuous queries of the meta state. Every data node
// runs one; only the holder of the cqLeaseName lease runs queries, so each
// runs once per interval in the whole cluster. The holder stops using the
// lease at two thirds of its TTL unless it renewed it (at one third), and
// the meta leader grants it to another node only once the TTL has passed
// (a new leader, only a TTL after it took over), so two nodes never run the
// queries at once even when their clocks drift a little.
//
// After each round the holder records the queries' last runs in the meta
// state; the next holder goes on from there, so a handover neither skips a
// bucket nor computes one twice. (A holder that dies between running a
// query and recording it leaves that run to be repeated: SELECT INTO writes
// the same points again, which changes nothing.)
type Service struct {
	Options
	cfg Config
	log *slog.Logger
	now func() time.Time

	// Only the loop's goroutine uses these.
	holdUntil time.Time // runs queries until then (this node's clock)
	askAt     time.Time // asks for the lease again from then
	lastRuns  map[string]time.Time
	pending   map[string]*metapb.ContinuousQueryRun // runs not yet recorded
	reported  string                                // the last lease error logged

	stats cqStats

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Options are what a Service works with besides its table.
type Options struct {
	// Cluster gives the node's ID, the meta state (the queries), the clock
	// (nil: time.Now) and the log.
	Cluster *peer.Cluster
	// Exec runs a query (the engine's executor).
	Exec Executor
	// Meta records the queries' last runs.
	Meta metastate.Executor
	// Users finds a query's owner (nil when it does not exist).
	Users func(name string) *auth.User
	// AuthEnabled: [http] auth-enabled. A query without an owner then runs
	// only within its own database.
	AuthEnabled bool
	Lease       Leaser
}

// cqStats are the service's counters (SHOW STATS, /debug/vars, /metrics).
type cqStats struct {
	QueryOK, QueryFail, PointsWritten atomic.Int64
	// Holding is 1 while this node holds the lease.
	Holding atomic.Int64
}

// New returns the continuous query service of c ([continuous_queries]) and
// o; Open starts it.
func New(c Config, o Options) *Service {
	now := o.Cluster.Now
	if now == nil {
		now = time.Now
	}
	return &Service{Options: o, cfg: c, log: o.Cluster.Log.With("service", "continuous_querier"), now: now, lastRuns: map[string]time.Time{}, pending: map[string]*metapb.ContinuousQueryRun{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Open starts running the queries.
func (s *Service) Open() {
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Duration(s.cfg.RunInterval))
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.tick()
			}
		}
	}()
}

// Close stops running them, after the query running now.
func (s *Service) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// cqKey names a query by database, name and statement: one dropped and
// created again with another statement is another query.
func cqKey(db string, cq *metapb.ContinuousQuery) string {
	return db + "\x00" + cq.Name + "\x00" + cq.Query
}

func (s *Service) tick() {
	d := s.Cluster.View.Data()
	if s.Cluster.Self() == 0 || !hasContinuousQueries(d) || !s.holds() {
		return
	}
	live := map[string]bool{}
	for _, db := range d.Databases {
		for _, cq := range db.ContinuousQueries {
			live[cqKey(db.Name, cq)] = true
		}
	}
	for key := range s.lastRuns {
		if !live[key] { // dropped: a query created again starts afresh
			delete(s.lastRuns, key)
		}
	}
	defer s.record() // what ran is recorded even if the lease is lost midway
	for _, db := range d.Databases {
		for _, cq := range db.ContinuousQueries {
			if !s.holds() {
				return
			}
			s.runOne(db, cq)
		}
	}
}

func hasContinuousQueries(d *metapb.Data) bool {
	for _, db := range d.GetDatabases() {
		if len(db.ContinuousQueries) > 0 {
			return true
		}
	}
	return false
}

// holds reports whether this node may run the queries now, asking for the
// lease when it is time to.
func (s *Service) holds() bool {
	now := s.now()
	if now.Before(s.askAt) {
		return now.Before(s.holdUntil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	self := s.Cluster.Self()
	holder, ttl, err := s.Lease.acquire(ctx, cqLeaseName, self)
	if err != nil {
		if msg := err.Error(); msg != s.reported {
			s.log.Warn("asking for the continuous queries' lease", "err", err)
			s.reported = msg
		}
		s.askAt = now.Add(time.Duration(s.cfg.RunInterval))
		return s.setHolding(now.Before(s.holdUntil))
	}
	s.reported = ""
	switch {
	case holder == self:
		s.holdUntil, s.askAt = now.Add(ttl*2/3), now.Add(ttl/3)
	case holder != 0 && ttl > 0:
		// Another node holds it: ask again when it runs out.
		s.holdUntil, s.askAt = time.Time{}, now.Add(ttl)
	default:
		s.holdUntil, s.askAt = time.Time{}, now.Add(time.Duration(s.cfg.RunInterval))
	}
	return s.setHolding(now.Before(s.holdUntil))
}

func (s *Service) setHolding(h bool) bool {
	v := int64(0)
	if h {
		v = 1
	}
	if s.stats.Holding.Swap(v) != v {
		s.log.Info("continuous queries", "running_here", h)
	}
	return h
}

// runOne runs cq when it is due.
func (s *Service) runOne(db *metapb.Database, cq *metapb.ContinuousQuery) {
	key := cqKey(db.Name, cq)
	last := s.lastRuns[key]
	if cq.LastRun != 0 {
		if recorded := time.Unix(0, cq.LastRun); recorded.After(last) {
			last = recorded
		}
	}
	stmt, err := parseCQ(cq.Query)
	var t cqTiming
	if err == nil {
		t, err = timingOf(stmt)
	}
	if err != nil {
		s.fail(db.Name, cq.Name, err)
		return
	}
	p := t.plan(last, s.now())
	if !p.due {
		return
	}
	// As InfluxDB, the run counts once it is due: a failed run is logged
	// and counted, and the query runs again at its next interval (with
	// RESAMPLE FOR, which recomputes the failed buckets), not at every tick.
	s.lastRuns[key] = p.lastRun
	s.pending[key] = &metapb.ContinuousQueryRun{Database: db.Name, Name: cq.Name, Query: cq.Query, LastRun: p.lastRun.UnixNano()}
	if p.empty() {
		return
	}
	if limit := p.end.Add(-maxCatchUpBuckets * t.interval); p.start.Before(limit) {
		s.log.Warn("continuous query: too many buckets missed; computing the newest only", "db", db.Name, "cq", cq.Name,
			"skipped_from", p.start.UTC().Format(time.RFC3339), "skipped_to", limit.UTC().Format(time.RFC3339))
		p.start = limit
	}
	if err := s.execute(db, cq, stmt.Source, p); err != nil {
		s.fail(db.Name, cq.Name, err)
	}
}

// runAs returns the authorizers a query of owner runs with, checking first
// that owner may still run it: its SELECT … INTO is authorized as if owner
// sent it to db now, so that a dropped owner or a revoked privilege stops
// the query (a failed run: logged and counted). A query without an owner
// was created with authentication off, or before owners were recorded (meta
// feature level 6), perhaps by a user who could not read what it reads: with
// authentication on it runs only if it reads and writes nothing but its own
// database (what InfluxDB checked at creation), else it fails until an
// admin or its rightful user creates it again.
func (s *Service) runAs(owner, db string, sel *influxql.SelectStatement) (query.FineAuthorizer, query.CoarseAuthorizer, error) {
	if owner == "" {
		if s.AuthEnabled {
			privs, err := sel.RequiredPrivileges()
			if err != nil {
				return nil, nil, err
			}
			for _, p := range privs {
				if p.Admin || (p.Name != "" && p.Name != db) {
					return nil, nil, fmt.Errorf("it has no recorded owner (made with authentication off, or before "+
						"owners were recorded) and uses database %q besides its own: create it again as a user who may", p.Name)
				}
			}
		}
		fine, coarse := httpd.Authorizers(nil)
		return fine, coarse, nil
	}
	u := s.Users(owner)
	if u == nil {
		return nil, nil, fmt.Errorf("its owner %q no longer exists", owner)
	}
	if err := auth.AuthorizeQuery(u, &influxql.Query{Statements: influxql.Statements{sel}}, db); err != nil {
		return nil, nil, fmt.Errorf("its owner's privileges no longer allow it: %w", err)
	}
	fine, coarse := httpd.Authorizers(u)
	return fine, coarse, nil
}

// maxCatchUpBuckets bounds how far back one run reaches after the queries
// did not run for a while (every data node down, or the service off): a
// query over days of small buckets would hit the query limits and fail.
const maxCatchUpBuckets = 1000

func (s *Service) fail(db, name string, err error) {
	s.stats.QueryFail.Add(1)
	s.log.Warn("continuous query failed", "db", db, "cq", name, "err", err)
}

// parseCQ parses a continuous query from the meta state within the nesting
// limit: the state may hold what an older node or a raw MetaService call
// put there, and a query that overflowed the parser's stack would kill
// every data node at every start.
func parseCQ(q string) (*influxql.CreateContinuousQueryStatement, error) {
	stmt, err := qlimit.ParseStatement(q)
	if err != nil {
		return nil, err
	}
	cq, ok := stmt.(*influxql.CreateContinuousQueryStatement)
	if !ok || cq.Source == nil || cq.Source.Target == nil || cq.Source.Target.Measurement == nil {
		return nil, fmt.Errorf("not a continuous query with an INTO clause: %s", q)
	}
	return cq, nil
}

// execute runs the query's SELECT ... INTO over the plan's range, with the
// database's default policy for an INTO without one, as its owner.
func (s *Service) execute(db *metapb.Database, cq *metapb.ContinuousQuery, sel *influxql.SelectStatement, p cqPlan) error {
	name := cq.Name
	fine, coarse, err := s.runAs(cq.Owner, db.Name, sel)
	if err != nil {
		return err
	}
	if sel.Target.Measurement.RetentionPolicy == "" {
		sel.Target.Measurement.RetentionPolicy = db.DefaultRetentionPolicy
	}
	if err := sel.SetTimeRange(p.start, p.end); err != nil {
		return fmt.Errorf("setting the time range: %w", err)
	}
	began := s.now()
	closing, stop := s.guard()
	defer stop()
	var written int64
	var runErr error
	for res := range s.Exec(&influxql.Query{Statements: influxql.Statements{sel}}, query.ExecutionOptions{Database: db.Name,
		Authorizer: fine, CoarseAuthorizer: coarse}, closing) {
		if res.Err != nil && runErr == nil {
			runErr = res.Err
		}
		if len(res.Series) == 1 && len(res.Series[0].Values) == 1 && len(res.Series[0].Values[0]) == 2 {
			if n, ok := res.Series[0].Values[0][1].(int64); ok {
				written += n
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	s.stats.QueryOK.Add(1)
	s.stats.PointsWritten.Add(written)
	if s.cfg.LogEnabled {
		s.log.Info("continuous query ran", "db", db.Name, "cq", name, "start", p.start.UTC().Format(time.RFC3339Nano),
			"end", p.end.UTC().Format(time.RFC3339Nano), "written", written, "duration", s.now().Sub(began))
	}
	return nil
}

// guard returns the channel that aborts the running query, closed when it
// has ended (call the returned stop), at shutdown, or when the lease
// cannot be renewed: the lease is renewed while the query runs, so a query
// longer than the lease is not run by a second node meanwhile.
func (s *Service) guard() (closing chan struct{}, stop func()) {
	closing = make(chan struct{})
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(closing)
		t := time.NewTicker(time.Duration(s.cfg.RunInterval))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-s.stop:
				return
			case <-t.C:
				// The loop goroutine waits on this query: holds() is ours.
				if !s.holds() {
					s.log.Warn("continuous query aborted: the lease could not be renewed")
					return
				}
			}
		}
	}()
	return closing, func() { close(done); <-finished }
}

// record writes the pending last runs into the meta state, in one command;
// on failure they stay pending (and the node keeps its own record).
func (s *Service) record() {
	if len(s.pending) == 0 {
		return
	}
	runs := make([]*metapb.ContinuousQueryRun, 0, len(s.pending))
	for _, r := range s.pending {
		runs = append(runs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Meta.Execute(ctx, &metapb.Command{Op: &metapb.Command_RecordContinuousQueryRuns{
		RecordContinuousQueryRuns: &metapb.RecordContinuousQueryRuns{Runs: runs}}}); err != nil {
		s.log.Warn("recording the continuous queries' last runs in the meta state", "err", err, "queries", len(runs))
		return
	}
	clear(s.pending)
}

// Validate refuses, at CREATE CONTINUOUS QUERY, a query that could never
// run (InfluxDB 1.x accepts it and then fails it at every run).
func Validate(q string) error {
	stmt, err := parseCQ(q)
	if err != nil {
		return err
	}
	_, err = timingOf(stmt)
	return err
}

// MetaLeaser asks the meta leader for leases (cluster mode).
type MetaLeaser struct {
	Client interface {
		AcquireLease(context.Context, *metapb.AcquireLeaseRequest) (*metapb.AcquireLeaseResponse, error)
	}
}

func (l MetaLeaser) acquire(ctx context.Context, name string, node uint64) (uint64, time.Duration, error) {
	resp, err := l.Client.AcquireLease(ctx, &metapb.AcquireLeaseRequest{Name: name, NodeId: node})
	if err != nil {
		return 0, 0, err
	}
	return resp.NodeId, time.Duration(resp.TtlMs) * time.Millisecond, nil
}

// SelfLeaser grants every lease to the asking node: a standalone node is
// the only one.
type SelfLeaser struct{}

func (SelfLeaser) acquire(_ context.Context, _ string, node uint64) (uint64, time.Duration, error) {
	return node, time.Hour, nil
}

// Statistics is the service's "cq" statistic.
func (s *Service) Statistics() []models.Statistic {
	st := &s.stats
	return []models.Statistic{{Name: "cq", Values: map[string]any{
		"queryOk": st.QueryOK.Load(), "queryFail": st.QueryFail.Load(), "pointsWritten": st.PointsWritten.Load(),
		"leaseHeld": st.Holding.Load(),
	}}}
}
