// Package monitoring is a data node's numbers, one set for every view of
// them: SHOW STATS and SHOW DIAGNOSTICS (the engine's monitor), /debug/vars
// in InfluxDB's expvar shape, and /metrics (Prometheus). Each part of the
// node hands it a Source.
//
// It may import internal/metrics and the engine's models and monitor; no
// other package of data/.
package monitoring
