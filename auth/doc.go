// Package auth turns HTTP credentials into an authenticated user and decides
// what that user may do.
//
// It parses credentials the way InfluxDB 1.x does (u/p query parameters, Basic,
// Bearer JWT, Token user:password), hashes and verifies passwords with bcrypt,
// verifies JWTs against the cluster's shared secrets, and keeps a lock-free
// credential cache built from the meta state. It must never import the
// InfluxDB storage engine.
package auth
