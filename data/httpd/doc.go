// Package httpd serves the InfluxDB 1.x HTTP API of a data node: /ping,
// /health, /query, /write and the 2.x compatibility /api/v2/write.
//
// The wire behaviour (status codes, messages, headers, credential order) is
// that of InfluxDB 1.8+ as written down in COMPAT.md, with one deliberate
// improvement: a write whose body holds malformed line protocol is refused as
// a whole with 400 and nothing is written, where InfluxDB writes the lines it
// could parse.
//
// Authentication goes through an *auth.Cache and authorization through the
// auth package's checks; the storage and query engine sits behind the Engine
// interface. Authentication is enforced only when Config.AuthEnabled is set
// and an admin user exists; before an admin exists every query but the admin
// bootstrap (CREATE USER ... WITH ALL PRIVILEGES) is refused.
//
// The write path is built to stay cheap: the request body is read into a
// pooled buffer, query parameters are scanned without building a map, and
// the auth adapters handed to the engine are pointer conversions, so a
// request whose password the cache has already verified costs no allocation
// in this package beyond what parsing the points needs.
//
// It may import auth, meta (its errors) and internal/qlimit; no package of
// data/: the node gives it the engine, the meta status and the monitor's
// handlers.
package httpd
