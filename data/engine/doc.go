// Package engine is the InfluxDB v1.10 storage and query engine, imported
// and wired to Palisade: the tsdb.Store, the points writer and the query
// executor (Engine), the engine's meta client backed by the node's meta
// state (MetaClient: reads from the View, changes through the meta store),
// the statements Palisade answers its own way (owned.go: SHOW QUERIES,
// KILL QUERY, SHOW GRANTS, CREATE CONTINUOUS QUERY with its owner), and the
// local cleanup that follows the state (cleanup.go).
//
// It may import data/metastate and data/cq (to validate continuous
// queries); no cluster part of data/.
package engine
