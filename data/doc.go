// Package data is the data node: it embeds the InfluxDB 1.x storage and query
// engine (tsdb with tsm1 + tsi1, query, coordinator), follows the meta state
// (from an embedded single-node meta store, or from the meta cluster over
// MetaService.Watch), persists the last state it saw so that it restarts and
// authenticates while every meta node is away, and serves the InfluxDB 1.x
// HTTP API (package data/httpd).
//
// See DESIGN.md for what the package promises and why.
package data
