// Package version holds the build's version, set with -ldflags at build time.
package version

// Version is Palisade's version; `make build` sets it from git.
var Version = "0.1.0-dev"

// InfluxDBVersion is the InfluxDB 1.x version that Palisade's HTTP API reports
// in X-Influxdb-Version, so that clients enable the behaviour they expect.
const InfluxDBVersion = "1.10.0"
