package engine

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
)

// ownedQueries runs statements with the coordinator's executor, except that
// SHOW QUERIES and KILL QUERY respect who runs what. InfluxDB 1.x showed
// every user the text of everyone's queries (which may hold tag values, or
// a password in CREATE USER) and left KILL QUERY to admins. Here:
//   - an admin, and everyone when authentication is off, sees and kills
//     every query;
//   - another user sees only their own queries, and may kill only those: for
//     any other id, running or not, KILL QUERY fails with the statement
//     error "error authorizing query: <user> not authorized to execute
//     statement 'KILL QUERY <id>', requires admin privilege" (InfluxDB's
//     403 message for a non-admin's KILL QUERY; here it comes in the
//     statement's result, as ownership is known only once the query runs).
//
// The engine's task manager does not know who runs a query, so the user is
// recorded here, by query id, when the query's first statement starts, and
// forgotten when the query ends. The user comes from the query's
// CoarseAuthorizer, which the HTTP layer makes from the authenticated user
// (ID, AuthorizeUnrestricted, as InfluxDB's meta.User).
type ownedQueries struct {
	next  *coordinator.StatementExecutor
	tasks *query.TaskManager

	mu     sync.Mutex
	owners map[uint64]string // query id → user name, for queries run by a user
	// sweepAt is the size of owners at which the entries of queries that
	// have ended are dropped.
	sweepAt int
}

// minOwnerSweep is the smallest number of remembered owners worth a sweep.
const minOwnerSweep = 256

func newOwnedQueries(next *coordinator.StatementExecutor, tasks *query.TaskManager) *ownedQueries {
	return &ownedQueries{next: next, tasks: tasks, owners: make(map[uint64]string), sweepAt: minOwnerSweep}
}

// ownerRecorder is a meta client that can create continuous queries owned
// by a user.
type ownerRecorder interface {
	withOwner(user string) coordinator.MetaClient
}

// queryUser is what a query's CoarseAuthorizer tells about its user.
type queryUser interface {
	ID() string
	AuthorizeUnrestricted() bool
}

// runner is who runs a query: a user name, or nobody, and whether they may
// see and kill every query.
func runner(opt query.ExecutionOptions) (name string, all bool) {
	if u, ok := opt.CoarseAuthorizer.(queryUser); ok {
		return u.ID(), u.AuthorizeUnrestricted()
	}
	// Authentication is off. Any other authorizer gets nothing.
	return "", opt.CoarseAuthorizer == query.OpenCoarseAuthorizer
}

// ExecuteStatement implements query.StatementExecutor.
func (o *ownedQueries) ExecuteStatement(ctx *query.ExecutionContext, stmt influxql.Statement) error {
	name, all := runner(ctx.ExecutionOptions)
	// Only non-admins' queries need an owner: an admin sees and kills every
	// query, and nobody else may see or kill an admin's.
	if name != "" && !all {
		o.own(ctx, name)
	}
	switch stmt := stmt.(type) {
	case *influxql.ShowQueriesStatement:
		return ctx.Send(&query.Result{Series: o.showQueries(name, all)})
	case *influxql.KillQueryStatement:
		if !all && o.owner(stmt.QueryID) != name {
			return fmt.Errorf("error authorizing query: %s not authorized to execute statement '%s', requires admin privilege",
				name, stmt)
		}
	case *influxql.ShowGrantsForUserStatement:
		// The engine lists a user's privileges from a map, in a new order
		// each time (influxd too); here by database name.
		priv, err := o.next.MetaClient.UserPrivileges(stmt.Name)
		if err != nil {
			return err
		}
		row := &models.Row{Columns: []string{"database", "privilege"}}
		for _, db := range slices.Sorted(maps.Keys(priv)) {
			row.Values = append(row.Values, []any{db, priv[db].String()})
		}
		return ctx.Send(&query.Result{Series: models.Rows{row}})
	case *influxql.CreateContinuousQueryStatement:
		// The query is stored with its creator, whose privileges it runs
		// with (issue 17): the engine's executor, which checks the target
		// retention policies, creates it through a meta client that
		// records the owner.
		if c, ok := o.next.MetaClient.(ownerRecorder); ok && name != "" {
			e := *o.next
			e.MetaClient = c.withOwner(name)
			return e.ExecuteStatement(ctx, stmt)
		}
	}
	return o.next.ExecuteStatement(ctx, stmt)
}

// NormalizeStatement implements query.StatementNormalizer.
func (o *ownedQueries) NormalizeStatement(stmt influxql.Statement, database, retentionPolicy string) error {
	return o.next.NormalizeStatement(stmt, database, retentionPolicy)
}

// own records that name runs ctx's query. The entries of queries that have
// ended are dropped in sweeps, once owners has doubled since the last one:
// query IDs are never reused, and SHOW QUERIES and KILL QUERY only consider
// running queries, so an entry that outlives its query is harmless, and
// the request path does not pay for a cleanup per query.
func (o *ownedQueries) own(ctx *query.ExecutionContext, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, known := o.owners[ctx.QueryID]; known {
		return
	}
	if len(o.owners) >= o.sweepAt {
		o.sweepLocked()
	}
	o.owners[ctx.QueryID] = name
}

// sweepLocked drops the owners of queries that are no longer running.
func (o *ownedQueries) sweepLocked() {
	running := o.tasks.Queries()
	live := make(map[uint64]struct{}, len(running))
	for _, q := range running {
		live[q.ID] = struct{}{}
	}
	for id := range o.owners {
		if _, ok := live[id]; !ok {
			delete(o.owners, id)
		}
	}
	o.sweepAt = max(minOwnerSweep, 2*len(o.owners))
}

func (o *ownedQueries) owner(qid uint64) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owners[qid]
}

// showQueries lists the running queries name may see (all of them with
// all), by id, in the columns of InfluxDB's SHOW QUERIES.
func (o *ownedQueries) showQueries(name string, all bool) models.Rows {
	running := o.tasks.Queries()
	slices.SortFunc(running, func(a, b query.QueryInfo) int { return cmp.Compare(a.ID, b.ID) })
	values := make([][]any, 0, len(running))
	o.mu.Lock()
	for _, q := range running {
		if all || (name != "" && o.owners[q.ID] == name) {
			values = append(values, []any{q.ID, q.Query, q.Database, roundDuration(q.Duration).String(), q.Status.String()})
		}
	}
	o.mu.Unlock()
	return models.Rows{{Columns: []string{"qid", "query", "database", "duration", "status"}, Values: values}}
}

// roundDuration cuts d to its largest unit, as SHOW QUERIES shows it.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d - d%time.Second
	case d >= time.Millisecond:
		return d - d%time.Millisecond
	case d >= time.Microsecond:
		return d - d%time.Microsecond
	}
	return d
}
