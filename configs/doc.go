// Package configs holds the configuration of Palisade's meta nodes
// (palisade-meta) and data nodes (palisade-data): the TOML structs, their
// defaults, environment overrides and validation.
//
// A configuration is built in the order influxd uses:
//
//  1. defaults ([NewMeta], [NewData]);
//  2. the TOML file, if any: keys it sets replace the defaults, and a key the
//     struct does not know is an error, because a mistyped key that is
//     silently ignored is how a node ends up running with authentication off;
//  3. environment variables named INFLUXDB_<SECTION>_<KEY>, upper-cased with
//     "-" written as "_" (INFLUXDB_HTTP_AUTH_ENABLED, INFLUXDB_META_DIR), or
//     INFLUXDB_<KEY> for top-level keys (INFLUXDB_HOSTNAME); an empty variable
//     counts as unset, as in influxd;
//  4. command-line flags, applied by the caller;
//  5. Validate, whose errors name the offending key ("meta.bind-address: ...").
//
// [LoadMeta] and [LoadData] do steps 1 to 3. Validation is separate so that
// flags can be applied in between.
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
// never contain the value of a secret.
//
// The example files meta.toml and data.toml in this folder document every
// key; a test parses and validates them so that they stay correct.
package configs
