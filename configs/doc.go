// Package configs loads the configuration of Palisade's meta nodes
// (palisade-meta) and data nodes (palisade-data): it reads a TOML file and
// the environment over a [File]'s defaults, knows the keys of influxd and
// InfluxDB Enterprise files, and holds what both kinds of node share: the
// meta node's configuration ([Meta]), the [retention], [shard-precreation]
// and [logging] tables, [Duration], [Size], and [Problems] for Validate.
//
// A data node's tables live beside the services they configure, as in
// influxd's services/*/config.go: [meta] in data/metastate, [data] and
// [coordinator] in data/engine, [http] in data/httpd, [cluster] in cluster,
// [hinted-handoff] in data/hh, [continuous_queries] in data/cq. Each has
// its type, defaults and Validate in one config.go; data.Config composes
// them and checks what spans tables. A new key touches that file and the
// example data.toml. This package imports none of them: a meta node does
// not link the storage engine.
//
// A configuration is built in the order influxd uses:
//
//  1. defaults ([NewMeta], data.NewConfig);
//  2. the TOML file, if any: keys it sets replace the defaults. The file may
//     be an influxd 1.x or InfluxDB Enterprise 1.x influxdb.conf (data
//     nodes) or influxdb-meta.conf (meta nodes); known.go lists their keys.
//     One that names a Palisade key under another name (the top-level
//     bind-address of a data node is [cluster] bind-address) sets that key,
//     and must not contradict it; one Palisade has no use for
//     (reporting-disabled: Palisade never reports usage data) is accepted
//     silently; one Palisade does not implement yet is ignored with a
//     [Warning], unless its value is what Palisade does anyway or its
//     service is switched off. Any other key is an error, because a mistyped
//     key that is silently ignored is how a node ends up running with
//     authentication off. Sizes may be written as influxd writes them
//     ("1g", "25m"), and [logging] format "logfmt" or "auto" means "text";
//  3. environment variables named INFLUXDB_<SECTION>_<KEY>, upper-cased with
//     "-" written as "_" (INFLUXDB_HTTP_AUTH_ENABLED, INFLUXDB_META_DIR), or
//     INFLUXDB_<KEY> for top-level keys (INFLUXDB_HOSTNAME); an empty variable
//     counts as unset, as in influxd;
//  4. command-line flags, applied by the caller;
//  5. Validate, whose errors name the offending key ("meta.bind-address: ...").
//
// [Load] (through [LoadMetaWithWarnings] and data.LoadConfigWithWarnings)
// does steps 1 to 3 and returns the warnings, which the caller logs once at
// start-up; [LoadMeta] and data.LoadConfig drop them. Validation is separate so that flags can be
// applied in between.
//
// Two different secrets must not be confused:
//
//   - [meta] internal-shared-secret on meta nodes and [meta]
//     meta-internal-shared-secret on data nodes protect node-to-node gRPC
//     traffic. They must be equal on every node of a cluster.
//   - [http] shared-secret on data nodes signs and verifies the JWTs that
//     clients send as "Authorization: Bearer <token>".
//
// Error messages from this package name keys and environment variables but
// never contain the value of a secret; warnings contain no values at all.
// Nothing here logs.
//
// The example files meta.toml and data.toml in this folder document every
// Palisade key; a test parses and validates them so that they stay correct.
// The files in testdata (Debian's `influxd config` output and complete
// influxd and Enterprise samples) set every key of known.go, and
// docs/configuration.md lists them; tests hold both to the lists.
package configs
