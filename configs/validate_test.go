package configs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/httpd"
)

// keyErrors flattens the KeyErrors of a Validate error.
func keyErrors(t *testing.T, err error) []*configs.KeyError {
	t.Helper()
	var out []*configs.KeyError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ke *configs.KeyError
		if !errors.As(err, &ke) {
			t.Errorf("error %q is not a *KeyError", err)
			return
		}
		out = append(out, ke)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// checkValidate checks that err holds exactly one problem, for key, whose
// message starts with the key and contains msg; or no problem if key is "".
func checkValidate(t *testing.T, err error, key, msg string) {
	t.Helper()
	kes := keyErrors(t, err)
	if key == "" {
		if err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
		return
	}
	if len(kes) != 1 {
		t.Fatalf("Validate() = %v, want one error for %s", err, key)
	}
	if kes[0].Key != key {
		t.Errorf("error is for %s, want %s: %v", kes[0].Key, key, err)
	}
	if !strings.HasPrefix(err.Error(), key+": ") || !strings.Contains(err.Error(), msg) {
		t.Errorf("Validate() = %q, want %q followed by text containing %q", err, key+": ", msg)
	}
}

func TestMetaValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(c *configs.Meta)
		key    string // "" when valid
		msg    string
	}{
		{"defaults", func(c *configs.Meta) {}, "", ""},
		{"hostname empty", func(c *configs.Meta) { c.Hostname = "" }, "hostname", "must not be empty"},
		{"hostname with port", func(c *configs.Meta) { c.Hostname = "meta-1:8089" }, "hostname", "without a port"},
		{"hostname with space", func(c *configs.Meta) { c.Hostname = "meta 1" }, "hostname", "not a host name"},
		{"hostname IPv6", func(c *configs.Meta) { c.Hostname = "fd00::1" }, "", ""},
		{"hostname bracketed IPv6", func(c *configs.Meta) { c.Hostname = "[fd00::1]" }, "hostname", "not a host name"},
		{"dir empty", func(c *configs.Meta) { c.Meta.Dir = " " }, "meta.dir", "must not be empty"},
		{"bind-address no port", func(c *configs.Meta) { c.Meta.BindAddress = "localhost" }, "meta.bind-address", "missing port"},
		{"bind-address port name", func(c *configs.Meta) { c.Meta.BindAddress = ":raft" }, "meta.bind-address", "not a number"},
		{"bind-address port too big", func(c *configs.Meta) { c.Meta.BindAddress = ":65536" }, "meta.bind-address", "0..65535"},
		{"bind-address IPv6", func(c *configs.Meta) { c.Meta.BindAddress = "[::1]:8089" }, "", ""},
		{"bind-address port 0", func(c *configs.Meta) { c.Meta.BindAddress = "127.0.0.1:0"; c.Meta.HTTPBindAddress = "127.0.0.1:0" }, "", ""},
		{"http-bind-address empty", func(c *configs.Meta) { c.Meta.HTTPBindAddress = "" }, "meta.http-bind-address", "missing port"},
		{"same port twice", func(c *configs.Meta) { c.Meta.HTTPBindAddress = "127.0.0.1:8089" }, "meta.http-bind-address", "same port as meta.bind-address"},
		{"same port, different hosts", func(c *configs.Meta) {
			c.Meta.BindAddress = "10.0.0.1:8089"
			c.Meta.HTTPBindAddress = "10.0.0.2:8089"
		}, "", ""},
		{"metrics off", func(c *configs.Meta) { c.Meta.MetricsBindAddress = "off" }, "", ""},
		{"metrics without a port", func(c *configs.Meta) { c.Meta.MetricsBindAddress = "127.0.0.1" }, "meta.metrics-bind-address", "missing port"},
		{"metrics on the RPC port", func(c *configs.Meta) { c.Meta.MetricsBindAddress = "127.0.0.1:8091" },
			"meta.metrics-bind-address", "same port as meta.http-bind-address"},
		{"RPC on the metrics port", func(c *configs.Meta) { c.Meta.HTTPBindAddress = "127.0.0.2:8092" },
			"meta.metrics-bind-address", `"127.0.0.2:8092" uses the same port as meta.http-bind-address`},
		{"peers", func(c *configs.Meta) { c.Meta.Peers = []string{"m1:8089", "10.0.0.2:8089", "[fd00::3]:8089"} }, "", ""},
		{"peer without port", func(c *configs.Meta) { c.Meta.Peers = []string{"m1"} }, "meta.peers", `"m1" is not host:port`},
		{"peer without host", func(c *configs.Meta) { c.Meta.Peers = []string{":8089"} }, "meta.peers", "has no host"},
		{"peer with space", func(c *configs.Meta) { c.Meta.Peers = []string{"m1:8089", " m2:8089"} }, "meta.peers", `" m2" is not a host name`},
		{"peer port 0", func(c *configs.Meta) { c.Meta.Peers = []string{"m1:0"} }, "meta.peers", "port 0"},
		{"peer bad port", func(c *configs.Meta) { c.Meta.Peers = []string{"m1:x"} }, "meta.peers", "not a number"},
		{"duplicate peers", func(c *configs.Meta) { c.Meta.Peers = []string{"m1:8089", "M1:8089"} }, "meta.peers", "listed twice"},
		{"hash cost 3", func(c *configs.Meta) { c.Meta.PasswordHashCost = 3 }, "meta.password-hash-cost", "3 is out of range 4..31"},
		{"hash cost 32", func(c *configs.Meta) { c.Meta.PasswordHashCost = 32 }, "meta.password-hash-cost", "32 is out of range 4..31"},
		{"hash cost 4", func(c *configs.Meta) { c.Meta.PasswordHashCost = 4 }, "", ""},
		{"hash cost 31", func(c *configs.Meta) { c.Meta.PasswordHashCost = 31 }, "", ""},
		{"https without certificate", func(c *configs.Meta) { c.Meta.HTTPSEnabled = true; c.Meta.HTTPSPrivateKey = "k.pem" },
			"meta.https-certificate", "meta.https-enabled"},
		{"https with certificate only", func(c *configs.Meta) { c.Meta.HTTPSEnabled = true; c.Meta.HTTPSCertificate = "c.pem" }, "", ""},
		{"election-timeout 0", func(c *configs.Meta) { c.Meta.ElectionTimeout = 0 }, "meta.election-timeout", "too short"},
		{"election-timeout below heartbeat", func(c *configs.Meta) { c.Meta.ElectionTimeout = configs.Duration(900 * time.Millisecond) },
			"meta.election-timeout", "not be less than meta.heartbeat-timeout"},
		{"heartbeat-timeout 4ms", func(c *configs.Meta) { c.Meta.HeartbeatTimeout = configs.Duration(4 * time.Millisecond) },
			"meta.heartbeat-timeout", "too short (minimum 5ms)"},
		{"leader-lease-timeout negative", func(c *configs.Meta) { c.Meta.LeaderLeaseTimeout = configs.Duration(-time.Second) },
			"meta.leader-lease-timeout", "too short"},
		{"leader-lease above heartbeat", func(c *configs.Meta) { c.Meta.LeaderLeaseTimeout = configs.Duration(1001 * time.Millisecond) },
			"meta.leader-lease-timeout", "must not exceed meta.heartbeat-timeout (1s)"},
		{"leader-lease equal to heartbeat", func(c *configs.Meta) { c.Meta.LeaderLeaseTimeout = c.Meta.HeartbeatTimeout }, "", ""},
		{"commit-timeout 0", func(c *configs.Meta) { c.Meta.CommitTimeout = 0 }, "meta.commit-timeout", "too short (minimum 1ms)"},
		{"short test timings", func(c *configs.Meta) {
			c.Meta.ElectionTimeout = configs.Duration(50 * time.Millisecond)
			c.Meta.HeartbeatTimeout = configs.Duration(50 * time.Millisecond)
			c.Meta.LeaderLeaseTimeout = configs.Duration(50 * time.Millisecond)
			c.Meta.CommitTimeout = configs.Duration(5 * time.Millisecond)
		}, "", ""},
		{"snapshot-threshold 0", func(c *configs.Meta) { c.Meta.SnapshotThreshold = 0 }, "meta.snapshot-threshold", "greater than 0"},
		{"default-replication-factor 0", func(c *configs.Meta) { c.Meta.DefaultReplicationFactor = 0 }, "meta.default-replication-factor", "0 is out of range 1..65536"},
		{"default-replication-factor too high", func(c *configs.Meta) { c.Meta.DefaultReplicationFactor = 1<<16 + 1 }, "meta.default-replication-factor", "65537 is out of range 1..65536"},
		{"default-replication-factor 1", func(c *configs.Meta) { c.Meta.DefaultReplicationFactor = 1 }, "", ""},
		{"logging level", func(c *configs.Meta) { c.Logging.Level = "verbose" }, "logging.level", `"verbose" is not one of`},
		{"logging format", func(c *configs.Meta) { c.Logging.Format = "logfmt" }, "logging.format", `"logfmt" is not one of`},
		// Issue 17, point 5.
		{"no internal secret", func(c *configs.Meta) { c.Meta.InternalSharedSecret = "" }, "meta.internal-shared-secret", "allow-empty-internal-secret"},
		{"no internal secret, allowed for a test", func(c *configs.Meta) {
			c.Meta.InternalSharedSecret = ""
			c.Meta.AllowEmptyInternalSecret = true
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := configs.NewMeta()
			c.Meta.InternalSharedSecret = "an-internal-secret"
			tt.modify(c)
			checkValidate(t, c.Validate(), tt.key, tt.msg)
		})
	}
}

func TestMetaValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := configs.NewMeta()
	c.Meta.InternalSharedSecret = "an-internal-secret"
	c.Meta.PasswordHashCost = 0
	c.Meta.BindAddress = "nope"
	c.Logging.Level = ""
	var keys []string
	for _, ke := range keyErrors(t, c.Validate()) {
		keys = append(keys, ke.Key)
	}
	want := []string{"meta.bind-address", "meta.password-hash-cost", "logging.level"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestDataValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(c *data.Config)
		key    string // "" when valid
		msg    string
	}{
		{"defaults", func(c *data.Config) {}, "", ""},
		{"hostname empty", func(c *data.Config) { c.Hostname = "" }, "hostname", "must not be empty"},
		{"hostname with port", func(c *data.Config) { c.Hostname = "data-1:8086" }, "hostname", "without a port"},
		{"meta.dir empty", func(c *data.Config) { c.Meta.Dir = "" }, "meta.dir", "must not be empty"},
		{"meta.servers", func(c *data.Config) { c.Meta.Servers = []string{"m1:8091", "m2:8091"} }, "", ""},
		{"meta.servers bad", func(c *data.Config) { c.Meta.Servers = []string{"m1"} }, "meta.servers", `"m1" is not host:port`},
		{"meta.servers duplicate", func(c *data.Config) { c.Meta.Servers = []string{"m1:8091", "m1:8091"} }, "meta.servers", "listed twice"},
		// Issue 17, point 5: the data service would take anyone's reads and
		// writes past the HTTP API's auth.
		{"cluster, auth on, no internal secret", func(c *data.Config) {
			c.Meta.Servers = []string{"m1:8091"}
			c.HTTP.AuthEnabled = true
		}, "meta.meta-internal-shared-secret", "http.auth-enabled"},
		{"cluster, auth on, internal secret", func(c *data.Config) {
			c.Meta.Servers = []string{"m1:8091"}
			c.HTTP.AuthEnabled = true
			c.Meta.MetaInternalSharedSecret = "an-internal-secret"
		}, "", ""},
		{"standalone, auth on, no internal secret", func(c *data.Config) { c.HTTP.AuthEnabled = true }, "", ""},
		{"meta.password-hash-cost", func(c *data.Config) { c.Meta.PasswordHashCost = 3 }, "meta.password-hash-cost", "3 is out of range 4..31"},
		{"data.dir empty", func(c *data.Config) { c.Data.Dir = "" }, "data.dir", "must not be empty"},
		{"data.wal-dir empty", func(c *data.Config) { c.Data.WALDir = "" }, "data.wal-dir", "must not be empty"},
		{"wal-dir equals dir", func(c *data.Config) { c.Data.Dir = "/x/data"; c.Data.WALDir = "/x/data/" }, "data.wal-dir", "also data.dir"},
		{"data.dir equals meta.dir", func(c *data.Config) { c.Data.Dir = c.Meta.Dir }, "data.dir", "also meta.dir"},
		{"index-version", func(c *data.Config) { c.Data.IndexVersion = "tsi2" }, "data.index-version", `"tsi2" is not one of inmem, tsi1`},
		{"index-version inmem", func(c *data.Config) { c.Data.IndexVersion = "inmem" }, "", ""},
		{"cache snapshot 0", func(c *data.Config) { c.Data.CacheSnapshotMemorySize = 0 }, "data.cache-snapshot-memory-size", "greater than 0"},
		{"cache snapshot above max", func(c *data.Config) { c.Data.CacheMaxMemorySize = 1 << 20 }, "data.cache-snapshot-memory-size",
			"must not exceed data.cache-max-memory-size"},
		{"cache max unlimited", func(c *data.Config) { c.Data.CacheMaxMemorySize = 0 }, "", ""},
		{"hinted-handoff.dir empty", func(c *data.Config) { c.HintedHandoff.Dir = " " }, "hinted-handoff.dir", "must not be empty"},
		{"hinted-handoff.dir empty but disabled", func(c *data.Config) { c.HintedHandoff.Dir = ""; c.HintedHandoff.Enabled = false }, "", ""},
		{"hinted-handoff.dir is data.wal-dir", func(c *data.Config) { c.HintedHandoff.Dir = c.Data.WALDir }, "hinted-handoff.dir", "also data.wal-dir"},
		{"hinted-handoff.max-size 0", func(c *data.Config) { c.HintedHandoff.MaxSize = 0 }, "hinted-handoff.max-size", "greater than 0"},
		{"hinted-handoff.max-age 0", func(c *data.Config) { c.HintedHandoff.MaxAge = 0 }, "hinted-handoff.max-age", "0s must be greater than 0"},
		{"hinted-handoff.retry-concurrency 0", func(c *data.Config) { c.HintedHandoff.RetryConcurrency = 0 }, "hinted-handoff.retry-concurrency", "0 must be at least 1"},
		{"hinted-handoff.retry-interval 0", func(c *data.Config) { c.HintedHandoff.RetryInterval = 0 }, "hinted-handoff.retry-interval", "greater than 0"},
		{"hinted-handoff.retry-interval above max", func(c *data.Config) { c.HintedHandoff.RetryInterval = configs.Duration(time.Minute) },
			"hinted-handoff.retry-interval", "1m must not exceed hinted-handoff.retry-max-interval (10s)"},
		{"hinted-handoff.retry-max-interval negative", func(c *data.Config) { c.HintedHandoff.RetryMaxInterval = -1 }, "hinted-handoff.retry-max-interval", "greater than 0"},
		{"hinted-handoff.purge-interval 0", func(c *data.Config) { c.HintedHandoff.PurgeInterval = 0 }, "hinted-handoff.purge-interval", "greater than 0"},
		{"hinted-handoff.retry-rate-limit", func(c *data.Config) { c.HintedHandoff.RetryRateLimit = 1 << 20 }, "", ""},
		{"http.bind-address", func(c *data.Config) { c.HTTP.BindAddress = "8086" }, "http.bind-address", "missing port"},
		{"shared-secret equals internal secret", func(c *data.Config) {
			c.HTTP.SharedSecret = "same"
			c.Meta.MetaInternalSharedSecret = "same"
		}, "http.shared-secret", "must differ from meta.meta-internal-shared-secret"},
		{"different secrets", func(c *data.Config) {
			c.HTTP.SharedSecret = "jwt"
			c.Meta.MetaInternalSharedSecret = "internal"
		}, "", ""},
		{"jwt-leeway negative", func(c *data.Config) { c.HTTP.JWTLeeway = configs.Duration(-time.Second) }, "http.jwt-leeway", "must not be negative"},
		{"max-body-size negative", func(c *data.Config) { c.HTTP.MaxBodySize = -1 }, "http.max-body-size", "must not be negative"},
		{"max-body-size unlimited", func(c *data.Config) { c.HTTP.MaxBodySize = 0 }, "", ""},
		{"max-concurrent-write-limit negative", func(c *data.Config) { c.HTTP.MaxConcurrentWriteLimit = -1 },
			"http.max-concurrent-write-limit", "must not be negative"},
		{"https without certificate", func(c *data.Config) { c.HTTP.HTTPSEnabled = true }, "http.https-certificate", "http.https-enabled"},
		{"https with certificate", func(c *data.Config) { c.HTTP.HTTPSEnabled = true; c.HTTP.HTTPSCertificate = "c.pem" }, "", ""},
		{"auth-failure-threshold 0", func(c *data.Config) { c.HTTP.AuthFailureThreshold = 0 }, "http.auth-failure-threshold", "at least 1"},
		{"auth-client-failure-threshold 0", func(c *data.Config) { c.HTTP.AuthClientFailureThreshold = 0 }, "http.auth-client-failure-threshold", "at least 1"},
		{"max-query-size negative", func(c *data.Config) { c.HTTP.MaxQuerySize = -1 }, "http.max-query-size", "must not be negative"},
		{"max-query-size unlimited", func(c *data.Config) { c.HTTP.MaxQuerySize = 0 }, "", ""},
		{"auth-failure-window 0", func(c *data.Config) { c.HTTP.AuthFailureWindow = 0 }, "http.auth-failure-window", "greater than 0"},
		{"shutdown-timeout 0", func(c *data.Config) { c.HTTP.ShutdownTimeout = 0 }, "http.shutdown-timeout", "greater than 0"},
		{"cluster.bind-address", func(c *data.Config) { c.Cluster.BindAddress = ":x" }, "cluster.bind-address", "not a number"},
		{"cluster port equals http port", func(c *data.Config) { c.Cluster.BindAddress = "0.0.0.0:8086" }, "cluster.bind-address",
			"same port as http.bind-address"},
		{"write-timeout 0", func(c *data.Config) { c.Coordinator.WriteTimeout = 0 }, "coordinator.write-timeout", "greater than 0"},
		{"max-concurrent-queries", func(c *data.Config) { c.Coordinator.MaxConcurrentQueries = -1 }, "coordinator.max-concurrent-queries", "negative"},
		{"query-timeout", func(c *data.Config) { c.Coordinator.QueryTimeout = -1 }, "coordinator.query-timeout", "negative"},
		{"log-queries-after", func(c *data.Config) { c.Coordinator.LogQueriesAfter = -1 }, "coordinator.log-queries-after", "negative"},
		{"max-select-point", func(c *data.Config) { c.Coordinator.MaxSelectPointN = -1 }, "coordinator.max-select-point", "negative"},
		{"max-select-series", func(c *data.Config) { c.Coordinator.MaxSelectSeriesN = -1 }, "coordinator.max-select-series", "negative"},
		{"max-select-buckets", func(c *data.Config) { c.Coordinator.MaxSelectBucketsN = -1 }, "coordinator.max-select-buckets", "negative"},
		{"logging level", func(c *data.Config) { c.Logging.Level = "INFO" }, "logging.level", `"INFO" is not one of`},
		{"logging format", func(c *data.Config) { c.Logging.Format = "" }, "logging.format", `"" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := data.NewConfig()
			tt.modify(c)
			checkValidate(t, c.Validate(), tt.key, tt.msg)
		})
	}
}

// No Validate error may show a secret, whatever else is wrong.
func TestValidateHidesSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-VALUE"
	m := configs.NewMeta()
	m.Meta.InternalSharedSecret = secret
	m.Meta.PasswordHashCost = 0
	d := data.NewConfig()
	d.Meta.MetaInternalSharedSecret = secret
	d.HTTP.SharedSecret = secret
	d.HTTP.BindAddress = ""
	for _, err := range []error{m.Validate(), d.Validate()} {
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the secret", err)
		}
	}
}

func TestHTTPSKeyPath(t *testing.T) {
	t.Parallel()
	m := configs.MetaSection{HTTPSCertificate: "both.pem"}
	h := httpd.Config{HTTPSCertificate: "cert.pem", HTTPSPrivateKey: "key.pem"}
	if got := m.HTTPSKeyPath(); got != "both.pem" {
		t.Errorf("meta: HTTPSKeyPath() = %q, want the certificate file", got)
	}
	if got := h.HTTPSKeyPath(); got != "key.pem" {
		t.Errorf("http: HTTPSKeyPath() = %q, want key.pem", got)
	}
}

// TestMetricsAddrFollowsTheRPCHost (issue 17, point 8): a meta node's
// /metrics listened on ":8092", every interface, whatever its RPC address:
// three meta nodes on 127.0.0.1, .2 and .3 of one machine collided. Now an
// empty metrics-bind-address (the default) means the host of
// http-bind-address with port 8092; "off" serves none.
func TestMetricsAddrFollowsTheRPCHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rpc, metrics, want string }{
		{":8091", "", ":8092"},
		{"127.0.0.2:8091", "", "127.0.0.2:8092"},
		{"127.0.0.3:0", "", "127.0.0.3:8092"},
		{"[::1]:8091", "", "[::1]:8092"},
		{"meta-1.example:9091", "", "meta-1.example:8092"},
		{"0.0.0.0:8091", "", "0.0.0.0:8092"},
		{"no-port", "", ":8092"}, // Validate reports http-bind-address
		{"127.0.0.2:8091", "10.0.0.1:9100", "10.0.0.1:9100"},
		{"127.0.0.2:8091", ":9100", ":9100"},
		{"127.0.0.2:8091", "off", ""},
	} {
		c := configs.NewMeta()
		c.Meta.HTTPBindAddress, c.Meta.MetricsBindAddress = tc.rpc, tc.metrics
		if got := c.MetricsAddr(); got != tc.want {
			t.Errorf("http-bind-address %q, metrics-bind-address %q: MetricsAddr() = %q, want %q", tc.rpc, tc.metrics, got, tc.want)
		}
	}
	if got := configs.NewMeta().MetricsAddr(); got != ":8092" {
		t.Errorf("default MetricsAddr() = %q, want \":8092\"", got)
	}
}

func TestAdvertisedAddrs(t *testing.T) {
	t.Parallel()
	m := configs.NewMeta()
	m.Hostname = "fd00::1"
	m.Meta.BindAddress = "0.0.0.0:7089"
	m.Meta.HTTPBindAddress = "10.1.1.1:7091"
	if got, want := m.RaftAddr(), "[fd00::1]:7089"; got != want {
		t.Errorf("RaftAddr() = %q, want %q", got, want)
	}
	if got, want := m.RPCAddr(), "[fd00::1]:7091"; got != want {
		t.Errorf("RPCAddr() = %q, want %q", got, want)
	}
	m.Meta.BindAddress = "no-port"
	if got := m.RaftAddr(); got != "" {
		t.Errorf("RaftAddr() with an invalid bind-address = %q, want empty", got)
	}
	d := data.NewConfig()
	d.Hostname = "data-1"
	d.HTTP.BindAddress = "127.0.0.1:0"
	if got, want := d.HTTPAddr(), "data-1:0"; got != want {
		t.Errorf("HTTPAddr() = %q, want %q", got, want)
	}
}
