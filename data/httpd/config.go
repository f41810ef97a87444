package httpd

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/palisade-db/palisade/configs"
)

// Config is a data node's [http] table, the client API, and what the
// handler needs besides (the fields tagged toml:"-", which the node sets).
type Config struct {
	// BindAddress serves the API; it also tags the "httpd" statistic, as
	// in InfluxDB.
	BindAddress string `toml:"bind-address"`
	// AuthEnabled enforces authentication and authorization once an admin
	// user exists.
	AuthEnabled bool `toml:"auth-enabled"`
	// PingAuthEnabled requires credentials for /ping, /health and /status
	// too; it has an effect only with AuthEnabled.
	PingAuthEnabled bool `toml:"ping-auth-enabled"`
	// SharedSecret verifies the JWTs clients send as Bearer tokens; empty
	// disables Bearer authentication. It is not the internal secret.
	SharedSecret string           `toml:"shared-secret"`
	JWTLeeway    configs.Duration `toml:"jwt-leeway"`
	// MaxBodySize bounds a write body, after gzip decompression, in bytes.
	// 0 means unlimited.
	MaxBodySize int `toml:"max-body-size"`
	// MaxConcurrentWriteLimit bounds the write requests served at once;
	// others wait for a slot. 0 means unlimited.
	MaxConcurrentWriteLimit int `toml:"max-concurrent-write-limit"`
	// LogEnabled logs every request at Info through the handler's logger
	// (the access log).
	LogEnabled       bool   `toml:"log-enabled"`
	HTTPSEnabled     bool   `toml:"https-enabled"`
	HTTPSCertificate string `toml:"https-certificate"`
	HTTPSPrivateKey  string `toml:"https-private-key"` // default: HTTPSCertificate
	// AuthFailureThreshold is how many failed logins for one user from one
	// client, within AuthFailureWindow, are answered before 429.
	AuthFailureThreshold int `toml:"auth-failure-threshold"`
	// AuthClientFailureThreshold is how many failed logins from one client,
	// whatever the user names, within AuthFailureWindow, are answered before
	// its logins that need bcrypt get 429. Remembered passwords still pass.
	AuthClientFailureThreshold int              `toml:"auth-client-failure-threshold"`
	AuthFailureWindow          configs.Duration `toml:"auth-failure-window"`
	// MaxQuerySize bounds the text of a query (the q parameter, or the q
	// file of a multipart body), in bytes; a larger one is refused with 413
	// before it is parsed, and the body of a /query request is read no
	// further than such a query needs. 0 means unlimited.
	MaxQuerySize int `toml:"max-query-size"`
	// ShutdownTimeout bounds the wait for in-flight requests at SIGTERM.
	ShutdownTimeout configs.Duration `toml:"shutdown-timeout"`
	// PprofEnabled serves /debug/pprof/; with AuthEnabled it always needs
	// an admin.
	PprofEnabled bool `toml:"pprof-enabled"`
	// PprofAuthEnabled puts /debug/vars behind an admin's credentials while
	// AuthEnabled (InfluxDB's key; /debug/pprof always is).
	PprofAuthEnabled bool `toml:"pprof-auth-enabled"`

	// Version is sent as X-Influxdb-Version and by /ping?verbose and /health.
	Version string `toml:"-"`
	// Build is sent as X-Influxdb-Build, e.g. "OSS".
	Build string `toml:"-"`
	// MetaStatus, when set, says whether the node's meta state may be used
	// (see MetaStatus); nil means always.
	MetaStatus func() MetaStatus `toml:"-"`
	// Fresh, when set, makes sure before a request is served that the
	// node's meta state is not behind a change acknowledged through another
	// node (metastate.Follower.Fresh); its error is answered 503.
	Fresh func(ctx context.Context) error `toml:"-"`
	// Sync, when set, brings the node's meta state up to the meta leader's
	// before the handler answers that something does not exist or is not
	// allowed (a database or retention policy not found, 401, 403), and
	// says whether the state moved on meanwhile (the handler then decides
	// again); its error is answered 503.
	Sync func(ctx context.Context) (advanced bool, err error) `toml:"-"`
	// Metrics serves /metrics (nil: 404): every metric. With AuthEnabled
	// and an admin existing, only an admin gets it; anyone else, and every
	// request before an admin exists, gets PublicMetrics (nil: nothing, 401
	// or 403): the metrics that name no database, retention policy or shard
	// path. A request without credentials is served unless PingAuthEnabled,
	// as /ping; credentials that fail are answered 401 (or 429).
	Metrics       http.Handler `toml:"-"`
	PublicMetrics http.Handler `toml:"-"`
	// DebugVars serves /debug/vars (nil: 404); with AuthEnabled and
	// PprofAuthEnabled it needs an admin.
	DebugVars http.Handler `toml:"-"`
}

// [http] defaults.
const (
	DefaultMaxBodySize                = 25000000
	DefaultAuthFailureThreshold       = 10
	DefaultAuthClientFailureThreshold = 100
	DefaultMaxQuerySize               = 1 << 20 // 1 MiB
)

// NewConfig returns [http]'s defaults.
func NewConfig() Config {
	return Config{
		BindAddress:                ":" + strconv.Itoa(configs.DefaultHTTPPort),
		MaxBodySize:                DefaultMaxBodySize,
		LogEnabled:                 true,
		AuthFailureThreshold:       DefaultAuthFailureThreshold,
		AuthClientFailureThreshold: DefaultAuthClientFailureThreshold,
		AuthFailureWindow:          configs.Duration(time.Minute),
		MaxQuerySize:               DefaultMaxQuerySize,
		ShutdownTimeout:            configs.Duration(10 * time.Second),
		PprofEnabled:               true,
	}
}

// Validate checks the [http] table alone; the node's Validate checks its
// secret and address against the other tables'.
func (c Config) Validate() error {
	var p configs.Problems
	p.ListenAddr("http.bind-address", c.BindAddress)
	p.NonNegativeDuration("http.jwt-leeway", c.JWTLeeway)
	p.NonNegative("http.max-body-size", c.MaxBodySize)
	p.NonNegative("http.max-concurrent-write-limit", c.MaxConcurrentWriteLimit)
	p.HTTPS("http.", c.HTTPSEnabled, c.HTTPSCertificate)
	if c.AuthFailureThreshold < 1 {
		p.Add("http.auth-failure-threshold", "%d must be at least 1", c.AuthFailureThreshold)
	}
	if c.AuthClientFailureThreshold < 1 {
		p.Add("http.auth-client-failure-threshold", "%d must be at least 1", c.AuthClientFailureThreshold)
	}
	p.NonNegative("http.max-query-size", c.MaxQuerySize)
	if c.AuthFailureWindow <= 0 {
		p.Add("http.auth-failure-window", "%s must be greater than 0", c.AuthFailureWindow)
	}
	if c.ShutdownTimeout <= 0 {
		p.Add("http.shutdown-timeout", "%s must be greater than 0", c.ShutdownTimeout)
	}
	return p.Err()
}

// HTTPSKeyPath returns the private key file: https-private-key, or
// https-certificate when the key is not set (one PEM file holding both).
func (c Config) HTTPSKeyPath() string {
	if c.HTTPSPrivateKey != "" {
		return c.HTTPSPrivateKey
	}
	return c.HTTPSCertificate
}
