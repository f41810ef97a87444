package configs_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/hh"
)

// warningKeys returns the keys of ws, in order.
func warningKeys(ws []configs.Warning) []string {
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = w.Key
	}
	return keys
}

func mustLoadData(t *testing.T, path string, environ []string) (*data.Config, []configs.Warning) {
	t.Helper()
	c, ws, err := data.LoadConfigWithWarnings(path, environ)
	if err != nil {
		t.Fatalf("data.LoadConfigWithWarnings(%s): %v", path, err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	return c, ws
}

func mustLoadMeta(t *testing.T, path string, environ []string) (*configs.Meta, []configs.Warning) {
	t.Helper()
	c, ws, err := configs.LoadMetaWithWarnings(path, environ)
	if err != nil {
		t.Fatalf("LoadMetaWithWarnings(%s): %v", path, err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	return c, ws
}

// testdata/influxd-1.6.7.conf is the unedited output of `influxd config` of
// Debian's influxdb 1.6.7 package (which merges /etc/influxdb/influxdb.conf
// into influxd's defaults). Operators bring exactly this file; before issue
// 7 its top-level bind-address stopped the node.
func TestLoadDebianInfluxd167Config(t *testing.T) {
	t.Parallel()
	c, ws := mustLoadData(t, "testdata/influxd-1.6.7.conf", nil)

	want := data.NewConfig()
	want.Meta.Dir = "/var/lib/influxdb/meta"
	want.Data.Dir = "/var/lib/influxdb/data"
	want.Data.WALDir = "/var/lib/influxdb/wal"
	want.HintedHandoff.Dir = "/var/lib/influxdb/hh" // beside [data] dir (issue 17)
	want.Data.IndexVersion = "inmem"
	want.Data.QueryLogEnabled = true
	want.HTTP.HTTPSCertificate = "/etc/ssl/influxdb.pem"
	want.Cluster.BindAddress = "127.0.0.1:8088" // the top-level bind-address
	want.Logging.Format = "text"                // "auto"
	want.Coordinator.MaxSelectBucketsN = 0      // the file says 0: no limit, as the operator asks
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}

	// The services Palisade lacks but that the file leaves on, and pprof.
	// Nothing about [data] (the engine's defaults are the file's values),
	// the disabled listeners, [ifql], reporting or the logo.
	wantWarnings := []string{
		"monitor.store-enabled", "monitor.store-database", "monitor.store-interval",
		"subscriber.enabled", "subscriber.http-timeout", "subscriber.insecure-skip-verify",
		"subscriber.ca-certs", "subscriber.write-concurrency", "subscriber.write-buffer-size",
	}
	if got := warningKeys(ws); !slices.Equal(got, wantWarnings) {
		t.Errorf("warnings for\n%q\nwant\n%q", got, wantWarnings)
	}
}

func TestLoadInfluxd112Config(t *testing.T) {
	t.Parallel()
	c, ws := mustLoadData(t, "testdata/influxd-1.12.conf", nil)
	if got, want := c.Data.CacheMaxMemorySize, configs.Size(1<<30); got != want {
		t.Errorf(`cache-max-memory-size "1g" = %d, want %d`, got, want)
	}
	if got, want := c.Data.CacheSnapshotMemorySize, configs.Size(25<<20); got != want {
		t.Errorf(`cache-snapshot-memory-size "25m" = %d, want %d`, got, want)
	}
	if c.Coordinator.QueryTimeout != configs.Duration(time.Minute) {
		t.Errorf("coordinator.query-timeout = %s, want 1m", c.Coordinator.QueryTimeout)
	}
	if !c.HTTP.PingAuthEnabled {
		t.Error("http.ping-auth-enabled was not read")
	}
	if c.Cluster.BindAddress != "127.0.0.1:8088" {
		t.Errorf("cluster.bind-address = %q, want the top-level bind-address", c.Cluster.BindAddress)
	}
	got := warningKeys(ws)
	for _, key := range []string{"http.headers", "data.tar-stream-buffer-size", "tls.advanced-expiration"} {
		if !slices.Contains(got, key) {
			t.Errorf("no warning for %s; warnings: %q", key, got)
		}
	}
	for _, key := range []string{"graphite.enabled", "graphite.bind-address", "flux-controller.query-concurrency",
		"http.enqueued-write-timeout", "http.unix-socket-permissions", "data.max-series-per-database", "tls.min-version"} {
		if slices.Contains(got, key) {
			t.Errorf("warning for %s, whose setting changes nothing", key)
		}
	}
}

func TestLoadEnterpriseDataConfig(t *testing.T) {
	t.Parallel()
	c, ws := mustLoadData(t, "testdata/enterprise-data.conf", nil)
	checks := []struct {
		key       string
		got, want any
	}{
		{"hostname", c.Hostname, "data-1.example.com"},
		{"cluster.bind-address (from bind-address)", c.Cluster.BindAddress, ":9088"},
		{"meta.meta-internal-shared-secret", c.Meta.MetaInternalSharedSecret, "node-to-node secret for tests"},
		{"meta.meta-tls-enabled", c.Meta.MetaTLSEnabled, true},
		{"meta.password-hash-cost (from password-hash)", c.Meta.PasswordHashCost, 12},
		{"data.index-version", c.Data.IndexVersion, "tsi1"},
		{"data.cache-max-memory-size", c.Data.CacheMaxMemorySize, configs.Size(2 << 30)},
		{"coordinator.write-timeout (from [cluster])", c.Coordinator.WriteTimeout, configs.Duration(15 * time.Second)},
		{"coordinator.max-concurrent-queries (from [cluster])", c.Coordinator.MaxConcurrentQueries, 8},
		{"coordinator.query-timeout (from [cluster])", c.Coordinator.QueryTimeout, configs.Duration(2 * time.Minute)},
		{"coordinator.log-queries-after (from [cluster])", c.Coordinator.LogQueriesAfter, configs.Duration(10 * time.Second)},
		{"http.auth-enabled", c.HTTP.AuthEnabled, true},
		{"http.shared-secret", c.HTTP.SharedSecret, "client JWT secret for tests"},
		{"logging.format (logfmt)", c.Logging.Format, "text"},
		{"hinted-handoff.dir", c.HintedHandoff.Dir, "/var/lib/influxdb/hh"},
		{"hinted-handoff.max-size", c.HintedHandoff.MaxSize, configs.Size(10737418240)},
		{"hinted-handoff.retry-max-interval", c.HintedHandoff.RetryMaxInterval, configs.Duration(200 * time.Second)},
		{"hinted-handoff.purge-interval", c.HintedHandoff.PurgeInterval, configs.Duration(time.Minute)},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.key, ck.got, ck.want)
		}
	}

	byKey := map[string]configs.Warning{}
	for _, w := range ws {
		if _, dup := byKey[w.Key]; dup {
			t.Errorf("two warnings for %s", w.Key)
		}
		byKey[w.Key] = w
	}
	if w := byKey["hinted-handoff.batch-size"]; w.String() != "[hinted-handoff] batch-size is not implemented yet: ignored" {
		t.Errorf("hinted-handoff.batch-size warning = %q", w)
	}
	for _, key := range []string{"gossip-frequency", "meta.meta-auth-enabled", "cluster.dial-timeout",
		"hinted-handoff.max-writes-pending", "monitor.remote-collect-interval", "tls.ciphers", "tls.min-version"} {
		if _, ok := byKey[key]; !ok {
			t.Errorf("no warning for %s", key)
		}
	}
	// Settings that change nothing: Palisade does the same, the service is
	// off, the key is not needed, or the key took effect.
	for _, key := range []string{"reporting-disabled", "enterprise.license-path", "meta.retention-autocreate",
		"meta.password-hash", "data.wal-fsync-delay", "data.compact-throughput", "cluster.https-certificate",
		"cluster.write-timeout", "anti-entropy.enabled", "anti-entropy.max-sync", "graphite.templates",
		"collectd.enabled", "http.realm", "http.bind-socket", "logging.suppress-logo",
		"flux-controller.query-queue-size", "bind-address", "hinted-handoff.enabled", "hinted-handoff.max-size"} {
		if _, ok := byKey[key]; ok {
			t.Errorf("warning for %s, whose setting changes nothing", key)
		}
	}
}

func TestLoadEnterpriseMetaConfig(t *testing.T) {
	t.Parallel()
	c, ws := mustLoadMeta(t, "testdata/enterprise-meta.conf", nil)
	want := configs.NewMeta()
	want.Hostname = "meta-1.example.com"
	want.Meta.Dir = "/var/lib/influxdb/meta"
	want.Meta.BindAddress = ":9089"
	want.Meta.HTTPBindAddress = ":9091"
	want.Meta.InternalSharedSecret = "node-to-node secret for tests"
	want.Meta.PasswordHashCost = 11
	want.Meta.ElectionTimeout = configs.Duration(2 * time.Second)
	want.Meta.CommitTimeout = configs.Duration(40 * time.Millisecond)
	want.Logging = configs.Logging{Level: "warn", Format: "json"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	wantWarnings := []string{
		"meta.gossip-frequency", "meta.announcement-expiration", "meta.consensus-timeout",
		"meta.pprof-enabled", "meta.auth-enabled",
		"meta.raft-portal-auth-required", "meta.raft-dialer-auth-required",
		"tls.ciphers", "tls.min-version", "tls.max-version", "tls.advanced-expiration",
	}
	if got := warningKeys(ws); !slices.Equal(got, wantWarnings) {
		t.Errorf("warnings for\n%q\nwant\n%q", got, wantWarnings)
	}
}

// Accepting influxd's and Enterprise's keys must not let a misspelling
// through: it would silently leave a setting (say, auth-enabled) at its
// default.
func TestUnknownKeysStillFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		meta    bool
		content string
		want    []string
	}{
		{name: "top level", content: "bind-adress = \":8088\"\n", want: []string{"bind-adress"}},
		{name: "Enterprise table", content: "[hinted-handoff]\nmax-sizee = 1\n", want: []string{"hinted-handoff.max-sizee"}},
		{name: "engine key", content: "[data]\nwal-fsync-dealy = \"0s\"\n", want: []string{"data.wal-fsync-dealy"}},
		{name: "array of tables", content: "[[graphite]]\nenabled = false\n[[graphite]]\nenabeld = true\n",
			want: []string{"graphite.enabeld"}},
		{name: "unknown table", content: "[hinted_handoff]\nenabled = true\n",
			want: []string{"hinted_handoff", "hinted_handoff.enabled"}},
		{name: "nested under a known key", content: "[subscriber.enabled]\nx = 1\n", want: []string{"subscriber.enabled"}},
		{name: "nested under a known table", content: "[monitor.store]\nenabled = true\n", want: []string{"monitor.store"}},
		{name: "meta node key in a data node file", content: "[meta]\nhttp-bind-address = \":8091\"\n",
			want: []string{"meta.http-bind-address"}},
		{name: "data node table in a meta node file", meta: true, content: "[hinted-handoff]\nenabled = false\n",
			want: []string{"hinted-handoff.enabled"}},
		{name: "data node key in a meta node file", meta: true, content: "[meta]\nmeta-auth-enabled = true\n",
			want: []string{"meta.meta-auth-enabled"}},
		{name: "listener in a meta node file", meta: true, content: "[[udp]]\nenabled = false\n", want: []string{"udp"}},
		{name: "all are named", content: "gossip-frequencyy = \"3s\"\n[cluster]\ndial-timeot = \"1s\"\n[http]\nrealms = \"x\"\n",
			want: []string{"gossip-frequencyy", "cluster.dial-timeot", "http.realms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := mustWriteFile(t, tt.content)
			var err error
			if tt.meta {
				_, _, err = configs.LoadMetaWithWarnings(path, nil)
			} else {
				_, _, err = data.LoadConfigWithWarnings(path, nil)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, "unknown keys") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestKnownKeysOfTheWrongShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []string
	}{
		{"service as a value", "subscriber = true\n", []string{"subscriber must be a table"}},
		{"Palisade table as a value", "http = 1\n", []string{"http must be a table"}},
		{"listener as one table", "[graphite]\nenabled = false\n", []string{"graphite must be an array of tables"}},
		{"listener as values", "graphite = [1, 2]\n", []string{"graphite must be an array of tables"}},
		{"service as an array of tables", "[[subscriber]]\nenabled = false\n", []string{"subscriber must be a table"}},
		{"alias of the wrong type", "[cluster]\nwrite-timeout = 10\n", []string{"cluster.write-timeout", `invalid duration "10"`}},
		{"alias of a Palisade table key", "[cluster]\nmax-select-point = \"many\"\n", []string{"cluster.max-select-point", "incompatible types"}},
		{"bad size", "[data]\ncache-max-memory-size = \"1t\"\n", []string{"data.cache-max-memory-size", `invalid size "1t"`}},
		{"negative size", "[data]\ncache-snapshot-memory-size = \"-25m\"\n", []string{"data.cache-snapshot-memory-size", `invalid size "-25m"`}},
		{"bad password hash", "[meta]\npassword-hash = \"bcrpyt\"\n", []string{"meta.password-hash", `unknown password hashing scheme "bcrpyt"`}},
		{"bad bcrypt option", "[meta]\npassword-hash = \"bcrypt;rounds=9\"\n", []string{"meta.password-hash", `unknown bcrypt option "rounds"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := data.LoadConfigWithWarnings(mustWriteFile(t, tt.content), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// An influxd or Enterprise name and the Palisade key it stands for are one
// setting: giving them different values is an error naming both, whichever
// comes first in the file.
func TestAliasAndPalisadeKeyMustAgree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []string // error substrings; nil: loads
		check         func(*data.Config) bool
	}{
		{name: "bind-address and [cluster] bind-address differ",
			content: "bind-address = \":8088\"\n[cluster]\nbind-address = \":9088\"\n",
			want:    []string{`cluster.bind-address = ":9088"`, `bind-address = ":8088"`, "keep one"}},
		{name: "[cluster] first",
			content: "[cluster]\nbind-address = \":9088\"\n[meta]\ndir = \"/m\"\n",
			check:   func(c *data.Config) bool { return c.Cluster.BindAddress == ":9088" }},
		{name: "equal values",
			content: "bind-address = \"127.0.0.1:8088\"\n[cluster]\nbind-address = \"127.0.0.1:8088\"\n",
			check:   func(c *data.Config) bool { return c.Cluster.BindAddress == "127.0.0.1:8088" }},
		{name: "equal durations written differently",
			content: "[cluster]\nwrite-timeout = \"10000ms\"\n[coordinator]\nwrite-timeout = \"10s\"\n",
			check:   func(c *data.Config) bool { return c.Coordinator.WriteTimeout == configs.Duration(10*time.Second) }},
		{name: "query limits differ",
			content: "[coordinator]\nmax-select-series = 5\n[cluster]\nmax-select-series = 6\n",
			want:    []string{"coordinator.max-select-series = 5", "cluster.max-select-series = 6"}},
		{name: "password hash cost differs",
			content: "[meta]\npassword-hash = \"bcrypt;cost=12\"\npassword-hash-cost = 11\n",
			want:    []string{"meta.password-hash-cost = 11", "meta.password-hash = 12"}},
		{name: "bcrypt without a cost sets nothing",
			content: "[meta]\npassword-hash = \"bcrypt\"\npassword-hash-cost = 11\n",
			check:   func(c *data.Config) bool { return c.Meta.PasswordHashCost == 11 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _, err := data.LoadConfigWithWarnings(mustWriteFile(t, tt.content), nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !tt.check(c) {
					t.Errorf("got %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestWarningRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		environ []string
		want    []configs.Warning
	}{
		{name: "a value Palisade already has", content: "[data]\nmax-series-per-database = 1000000\n" +
			"cache-snapshot-write-cold-duration = \"10m0s\"\ncompact-throughput = 50331648\nmax-index-log-file-size = \"1024k\"\n"},
		{name: "another value", content: "[data]\nmax-series-per-database = 0\ncompact-throughput = \"64m\"\n",
			want: []configs.Warning{
				{Key: "data.max-series-per-database", Note: "Palisade uses 1000000"},
				{Key: "data.compact-throughput", Note: "Palisade uses 48m"},
			}},
		{name: "service switched off", content: "[subscriber]\nenabled = false\nhttp-timeout = \"1h\"\n"},
		{name: "service on", content: "[subscriber]\nhttp-timeout = \"1h\"\nenabled = true\n",
			want: []configs.Warning{{Key: "subscriber.http-timeout"}, {Key: "subscriber.enabled", Note: "Palisade does not support subscriptions"}}},
		{name: "service on by influxd's default", content: "[subscriber]\nhttp-timeout = \"1h\"\n",
			want: []configs.Warning{{Key: "subscriber.http-timeout"}}},
		{name: "gated by a Palisade switch that is on by default", content: "[hinted-handoff]\nbatch-size = 512000\nmax-size = \"1g\"\n",
			want: []configs.Warning{{Key: "hinted-handoff.batch-size"}}},
		{name: "gated by a Palisade switch turned off", content: "[hinted-handoff]\nenabled = false\nbatch-size = 512000\n"},
		{name: "service off by influxd's default", content: "[anti-entropy]\nmax-sync = 4\n"},
		{name: "one warning per key across listeners",
			content: "[[udp]]\nenabled = true\n[[udp]]\nenabled = true\nbind-address = \":8090\"\n[[udp]]\nbind-address = \":8091\"\n",
			want:    []configs.Warning{{Key: "udp.enabled", Note: "Palisade has no UDP listener"}, {Key: "udp.bind-address"}}},
		{name: "gated by a Palisade key", content: "[http]\nenqueued-write-timeout = \"30s\"\nmax-concurrent-write-limit = 4\n",
			want: []configs.Warning{{Key: "http.enqueued-write-timeout", Note: "Palisade uses 0s"}}},
		{name: "Palisade key gate off", content: "[http]\nenqueued-write-timeout = \"30s\"\n"},
		{name: "Palisade key gate set by the environment", content: "[http]\nenqueued-write-timeout = \"30s\"\n",
			environ: []string{"INFLUXDB_HTTP_MAX_CONCURRENT_WRITE_LIMIT=2"},
			want:    []configs.Warning{{Key: "http.enqueued-write-timeout", Note: "Palisade uses 0s"}}},
		{name: "set by the environment", environ: []string{"INFLUXDB_HINTED_HANDOFF_BATCH_SIZE=1000", "INFLUXDB_DATA_WAL_FSYNC_DELAY=0s"},
			want: []configs.Warning{{Key: "hinted-handoff.batch-size", Env: "INFLUXDB_HINTED_HANDOFF_BATCH_SIZE"}}},
		{name: "environment switches the service off", content: "[subscriber]\nenabled = true\nhttp-timeout = \"1h\"\n",
			environ: []string{"INFLUXDB_SUBSCRIBER_ENABLED=false"}},
		{name: "environment overrides the file", content: "[http]\ndebug-pprof-enabled = false\n",
			environ: []string{"INFLUXDB_HTTP_DEBUG_PPROF_ENABLED=true"},
			want:    []configs.Warning{{Key: "http.debug-pprof-enabled", Env: "INFLUXDB_HTTP_DEBUG_PPROF_ENABLED", Note: "Palisade uses false"}}},
		{name: "empty tables and lists", content: "[tls]\nciphers = []\n[http]\naccess-log-status-filters = []\n[http.headers]\n"},
		{name: "not needed", content: "reporting-disabled = false\nreporting-enabled = true\n[logging]\nsuppress-logo = true\n" +
			"[enterprise]\nlicense-key = \"k\"\n", environ: []string{"INFLUXDB_REPORTING_DISABLED=true"}},
		{name: "pbkdf2", content: "[meta]\npassword-hash = \"pbkdf2-sha256;salt_len=32;rounds=64000\"\n",
			want: []configs.Warning{{Key: "meta.password-hash", Note: "Palisade hashes passwords with bcrypt only; pbkdf2-sha256 is not implemented yet"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.content != "" {
				path = mustWriteFile(t, tt.content)
			}
			_, ws, err := data.LoadConfigWithWarnings(path, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ws, tt.want) {
				t.Errorf("warnings\n%+v\nwant\n%+v", ws, tt.want)
			}
		})
	}
}

func TestEnvironmentAliases(t *testing.T) {
	t.Parallel()
	path := mustWriteFile(t, "bind-address = \":8088\"\n[coordinator]\nwrite-timeout = \"5s\"\n")

	c, _, err := data.LoadConfigWithWarnings(path, []string{
		"INFLUXDB_BIND_ADDRESS=:7088",
		"INFLUXDB_CLUSTER_WRITE_TIMEOUT=20s",
		"INFLUXDB_META_PASSWORD_HASH=bcrypt;cost=13",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.BindAddress != ":7088" || c.Coordinator.WriteTimeout != configs.Duration(20*time.Second) || c.Meta.PasswordHashCost != 13 {
		t.Errorf("environment aliases not applied: %+v", c)
	}

	_, _, err = data.LoadConfigWithWarnings(path, []string{"INFLUXDB_BIND_ADDRESS=:7088", "INFLUXDB_CLUSTER_BIND_ADDRESS=:6088"})
	if err == nil || !strings.Contains(err.Error(), "INFLUXDB_BIND_ADDRESS") || !strings.Contains(err.Error(), "INFLUXDB_CLUSTER_BIND_ADDRESS") {
		t.Errorf("differing variables: error %v, want one naming both", err)
	}
	if _, _, err := data.LoadConfigWithWarnings(path, []string{"INFLUXDB_BIND_ADDRESS=:6088", "INFLUXDB_CLUSTER_BIND_ADDRESS=:6088"}); err != nil {
		t.Errorf("equal variables: %v", err)
	}
	_, _, err = data.LoadConfigWithWarnings("", []string{"INFLUXDB_CLUSTER_QUERY_TIMEOUT=soon"})
	if want := `INFLUXDB_CLUSTER_QUERY_TIMEOUT: invalid duration "soon"`; err == nil || err.Error() != want {
		t.Errorf("bad alias variable: error %v, want %s", err, want)
	}
	c, _, err = data.LoadConfigWithWarnings("", []string{"INFLUXDB_DATA_CACHE_SNAPSHOT_MEMORY_SIZE=50m"})
	if err != nil || c.Data.CacheSnapshotMemorySize != 50<<20 {
		t.Errorf("size variable: %v, %+v", err, c)
	}
}

func TestInfluxdLogFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"auto", "logfmt"} {
		c, _, err := configs.LoadMetaWithWarnings(mustWriteFile(t, "[logging]\nformat = \""+format+"\"\n"), nil)
		if err != nil || c.Logging.Format != "text" {
			t.Errorf("format %q: %v, %+v; want text", format, err, c)
		}
		c, _, err = configs.LoadMetaWithWarnings("", []string{"INFLUXDB_LOGGING_FORMAT=" + format})
		if err != nil || c.Logging.Format != "text" {
			t.Errorf("INFLUXDB_LOGGING_FORMAT=%s: %v, %+v; want text", format, err, c)
		}
	}
}

func TestWarningString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		w    configs.Warning
		want string
	}{
		{configs.Warning{Key: "gossip-frequency"}, "gossip-frequency is not implemented yet: ignored"},
		{configs.Warning{Key: "graphite.enabled", Note: "Palisade has no Graphite listener"},
			"[[graphite]] enabled is not implemented yet: ignored; Palisade has no Graphite listener"},
		{configs.Warning{Key: "hinted-handoff.batch-size", Env: "INFLUXDB_HINTED_HANDOFF_BATCH_SIZE"},
			"[hinted-handoff] batch-size (INFLUXDB_HINTED_HANDOFF_BATCH_SIZE) is not implemented yet: ignored"},
	} {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// The catalogs must stay consistent with the structs, which other changes
// extend: a key that Palisade comes to implement must leave the catalog, or
// its value would be ignored with a warning.
func TestKnownCatalogs(t *testing.T) {
	t.Parallel()
	configs.CheckCatalog(t, configs.DataKnown, data.NewConfig())
	configs.CheckCatalog(t, configs.MetaKnown, configs.NewMeta())
}

// [hinted-handoff] takes effect (issue 8): from an Enterprise file, with
// sizes written as influxd writes them, and from INFLUXDB_HINTED_HANDOFF_*.
func TestHintedHandoffSection(t *testing.T) {
	t.Parallel()
	path := mustWriteFile(t, "[hinted-handoff]\nenabled = true\ndir = \"/var/lib/palisade/hh\"\nmax-size = \"2g\"\n"+
		"max-age = \"24h\"\nretry-concurrency = 4\nretry-rate-limit = \"1m\"\nretry-interval = \"500ms\"\n"+
		"retry-max-interval = \"200s\"\npurge-interval = \"1h\"\nmax-total-size = \"3g\"\nmin-free-space = \"64m\"\n")
	c, ws := mustLoadData(t, path, nil)
	want := hh.Config{
		Enabled: true, Dir: "/var/lib/palisade/hh", MaxSize: 2 << 30, MaxTotalSize: 3 << 30, MinFreeSpace: 64 << 20,
		MaxAge:           configs.Duration(24 * time.Hour),
		RetryConcurrency: 4, RetryRateLimit: 1 << 20, RetryInterval: configs.Duration(500 * time.Millisecond),
		RetryMaxInterval: configs.Duration(200 * time.Second), PurgeInterval: configs.Duration(time.Hour),
	}
	if !reflect.DeepEqual(c.HintedHandoff, want) {
		t.Errorf("from the file:\n got %+v\nwant %+v", c.HintedHandoff, want)
	}
	if len(ws) != 0 {
		t.Errorf("warnings: %v", ws)
	}

	c, _ = mustLoadData(t, path, []string{
		"INFLUXDB_HINTED_HANDOFF_ENABLED=false",
		"INFLUXDB_HINTED_HANDOFF_DIR=/hh",
		"INFLUXDB_HINTED_HANDOFF_MAX_SIZE=512m",
		"INFLUXDB_HINTED_HANDOFF_MAX_AGE=1h",
		"INFLUXDB_HINTED_HANDOFF_RETRY_CONCURRENCY=2",
		"INFLUXDB_HINTED_HANDOFF_RETRY_RATE_LIMIT=1000",
		"INFLUXDB_HINTED_HANDOFF_RETRY_INTERVAL=2s",
		"INFLUXDB_HINTED_HANDOFF_RETRY_MAX_INTERVAL=1m",
		"INFLUXDB_HINTED_HANDOFF_PURGE_INTERVAL=5m",
		"INFLUXDB_HINTED_HANDOFF_MAX_TOTAL_SIZE=0",
		"INFLUXDB_HINTED_HANDOFF_MIN_FREE_SPACE=1g",
	})
	want = hh.Config{
		Enabled: false, Dir: "/hh", MaxSize: 512 << 20, MaxTotalSize: 0, MinFreeSpace: 1 << 30, MaxAge: configs.Duration(time.Hour),
		RetryConcurrency: 2, RetryRateLimit: 1000, RetryInterval: configs.Duration(2 * time.Second),
		RetryMaxInterval: configs.Duration(time.Minute), PurgeInterval: configs.Duration(5 * time.Minute),
	}
	if !reflect.DeepEqual(c.HintedHandoff, want) {
		t.Errorf("from the environment:\n got %+v\nwant %+v", c.HintedHandoff, want)
	}

	_, _, err := data.LoadConfigWithWarnings("", []string{"INFLUXDB_HINTED_HANDOFF_MAX_SIZE=10t"})
	if err == nil || !strings.Contains(err.Error(), "INFLUXDB_HINTED_HANDOFF_MAX_SIZE") {
		t.Errorf("bad size variable: %v", err)
	}
}
