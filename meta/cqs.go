package meta

import (
	"slices"
	"strings"

	"github.com/palisade-db/palisade/proto/metapb"
)

// FindContinuousQuery returns db's continuous query called name, or nil.
func FindContinuousQuery(db *metapb.Database, name string) *metapb.ContinuousQuery {
	for _, cq := range db.GetContinuousQueries() {
		if cq.Name == name {
			return cq
		}
	}
	return nil
}

// createContinuousQuery follows InfluxDB: the same name with the same query
// (ignoring case) changes nothing, with another query it is refused.
func createContinuousQuery(d *metapb.Data, c *metapb.CreateContinuousQuery) error {
	if c.Name == "" || c.Query == "" {
		return ErrContinuousQueryRequired
	}
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		if cq := FindContinuousQuery(db, c.Name); cq != nil {
			if strings.EqualFold(cq.Query, c.Query) {
				return nil
			}
			return ErrContinuousQueryExists
		}
		db.ContinuousQueries = append(db.ContinuousQueries, &metapb.ContinuousQuery{Name: c.Name, Query: c.Query, Owner: c.Owner})
		return nil
	})
}

// dropContinuousQuery, as InfluxDB 1.6 and 1.10: dropping a query or
// database that does not exist is not an error.
func dropContinuousQuery(d *metapb.Data, c *metapb.DropContinuousQuery) error {
	if FindContinuousQuery(FindDatabase(d, c.Database), c.Name) == nil {
		return nil
	}
	return updateDatabase(d, c.Database, func(db *metapb.Database) error {
		i := slices.IndexFunc(db.ContinuousQueries, func(cq *metapb.ContinuousQuery) bool { return cq.Name == c.Name })
		db.ContinuousQueries = slices.Delete(db.ContinuousQueries, i, i+1)
		return nil
	})
}

// recordContinuousQueryRuns moves each named query's last_run forward. A
// query that is gone, or whose statement is not the one that ran, is
// skipped: the record is not an error, it is late.
func recordContinuousQueryRuns(d *metapb.Data, c *metapb.RecordContinuousQueryRuns) {
	for _, run := range c.Runs {
		db := FindDatabase(d, run.Database)
		if cq := FindContinuousQuery(db, run.Name); cq == nil || cq.Query != run.Query || cq.LastRun >= run.LastRun {
			continue
		}
		_ = updateDatabase(d, run.Database, func(db *metapb.Database) error {
			FindContinuousQuery(db, run.Name).LastRun = run.LastRun
			return nil
		})
	}
}
