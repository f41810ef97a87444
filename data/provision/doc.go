// Package provision does at first start what the official influxdb image
// does from INFLUXDB_ADMIN_USER, INFLUXDB_DB, INFLUXDB_USER and the other
// first-start variables (Plan, FromEnv): each step once per cluster,
// recorded in the meta state.
//
// It may import meta, auth, cluster and data/metastate; no other package of
// data/.
package provision
