package engine

import (
	"testing"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
)

// The owners of ended queries are swept, so the record stays bounded
// without a cleanup per query on the request path.
func TestQueryOwnersStayBounded(t *testing.T) {
	tasks := query.NewTaskManager()
	defer tasks.Close()
	o := newOwnedQueries(nil, tasks)
	// IDs far from the TaskManager's own (which start at 1).
	for id := uint64(1_000_000); id < 1_010_000; id++ {
		o.own(&query.ExecutionContext{QueryID: id}, "alice")
		if n := len(o.owners); n > minOwnerSweep {
			t.Fatalf("after %d queries that all ended, %d owners remembered", id-999_999, n)
		}
	}
	// A running query's owner survives the sweeps.
	q, err := influxql.ParseQuery("SELECT value FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	ctx, detach, err := tasks.AttachQuery(q, query.ExecutionOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	qid := ctx.QueryID
	o.own(ctx, "bob")
	for id := uint64(2_000_000); id < 2_001_000; id++ {
		o.own(&query.ExecutionContext{QueryID: id}, "alice")
	}
	if got := o.owner(qid); got != "bob" {
		t.Fatalf("owner of the running query %d: %q, want bob", qid, got)
	}
}
