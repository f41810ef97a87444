// Package auth turns HTTP credentials into an authenticated user and decides
// what that user may do.
//
// It parses credentials the way InfluxDB 1.x does (u/p query parameters, Basic,
// Bearer JWT, Token user:password), hashes and verifies passwords with bcrypt,
// verifies JWTs against the cluster's shared secrets, and keeps a lock-free
// credential cache built from the meta state. It must never import the
// InfluxDB storage engine.
//
// bcrypt is the expensive part and is rationed three ways: at most
// MaxConcurrentHashes comparisons at once (a login waits at most HashWait for
// a slot, then gets 429), at most FailureThreshold failures per (user, client)
// and at most ClientFailureThreshold failures per client in a window (then
// 429 without bcrypt). A password the cache remembers costs no bcrypt and is
// never held up by other users' failures.
//
// A data node's request path:
//
//	creds, err := auth.ParseCredentials(r)                // 401 on error
//	user, err := cache.Authenticate(ctx, creds, clientIP) // 401 / 429 on error
//	err = auth.AuthorizeQuery(user, q, db)                // 403 on error
//	status, msg := auth.HTTPError(err)                    // COMPAT.md's status and message
//
// While auth is enabled and cache.AdminExists() is false, only a query for
// which IsAdminBootstrap is true may run; everything else gets
// ErrCreateAdminFirst.
//
// Files: credentials.go parses credentials; cache.go holds the Cache and the
// User view; jwt.go verifies and mints tokens; throttle.go counts failed
// logins per (user, client) and per client; authorize.go checks statement
// and write privileges; errors.go maps every failure to an HTTP status and
// message; password.go hashes.
//
// Nothing in this package logs, and no error it returns contains a password,
// hash, token or secret.
package auth
