package configs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/data/cq"
	"github.com/palisade-db/palisade/data/engine"
	"github.com/palisade-db/palisade/data/hh"
	"github.com/palisade-db/palisade/data/httpd"
	"github.com/palisade-db/palisade/data/metastate"
)

// mustWriteFile writes content to a new file in a temporary directory and
// returns its path.
func mustWriteFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultDirs(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	m, d := configs.NewMeta(), data.NewConfig()
	want := map[string][2]string{
		"meta.dir (meta node)": {m.Meta.Dir, filepath.Join(home, ".palisade", "meta-node")},
		"meta.dir (data node)": {d.Meta.Dir, filepath.Join(home, ".palisade", "meta")},
		"data.dir":             {d.Data.Dir, filepath.Join(home, ".palisade", "data")},
		"data.wal-dir":         {d.Data.WALDir, filepath.Join(home, ".palisade", "wal")},
	}
	for key, gw := range want {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", key, gw[0], gw[1])
		}
	}

	t.Setenv("HOME", "")
	if got, want := configs.NewMeta().Meta.Dir, filepath.FromSlash("./palisade/meta-node"); got != want {
		t.Errorf("without HOME, meta.dir = %q, want %q", got, want)
	}
	if got, want := data.NewConfig().Data.Dir, filepath.FromSlash("./palisade/data"); got != want {
		t.Errorf("without HOME, data.dir = %q, want %q", got, want)
	}
}

func TestNewMetaDefaults(t *testing.T) {
	t.Parallel()
	c := configs.NewMeta()
	want := &configs.Meta{
		Hostname: "localhost",
		Meta: configs.MetaSection{
			Dir:                c.Meta.Dir, // checked by TestDefaultDirs
			BindAddress:        ":8089",
			HTTPBindAddress:    ":8091",
			Peers:              []string{},
			PasswordHashCost:   10,
			ElectionTimeout:    configs.Duration(time.Second),
			HeartbeatTimeout:   configs.Duration(time.Second),
			LeaderLeaseTimeout: configs.Duration(500 * time.Millisecond),
			CommitTimeout:      configs.Duration(50 * time.Millisecond),
			SnapshotThreshold:  8192,
			// As InfluxDB Enterprise: two copies of every shard.
			DefaultReplicationFactor: 2,
			LeaseDuration:            configs.Duration(time.Minute),
		},
		Retention:        configs.RetentionSection{Enabled: true, CheckInterval: configs.Duration(30 * time.Minute)},
		ShardPrecreation: configs.ShardPrecreationSection{Enabled: true, CheckInterval: configs.Duration(10 * time.Minute), AdvancePeriod: configs.Duration(30 * time.Minute)},
		Logging:          configs.Logging{Level: "info", Format: "text"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("NewMeta() =\n%+v\nwant\n%+v", c, want)
	}
	// The defaults validate once the one required key, the internal
	// secret, is set (issue 17, point 5).
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "meta.internal-shared-secret") {
		t.Errorf("the defaults, without an internal secret, validate: %v", err)
	}
	withSecret := *c
	withSecret.Meta.InternalSharedSecret = "an-internal-secret"
	if err := withSecret.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if got := c.RaftAddr(); got != "localhost:8089" {
		t.Errorf("RaftAddr() = %q, want localhost:8089", got)
	}
	if got := c.RPCAddr(); got != "localhost:8091" {
		t.Errorf("RPCAddr() = %q, want localhost:8091", got)
	}
}

func TestNewDataDefaults(t *testing.T) {
	t.Parallel()
	c := data.NewConfig()
	want := &data.Config{
		Hostname: "localhost",
		Meta: metastate.Config{
			Dir:                     c.Meta.Dir,
			Servers:                 []string{},
			PasswordHashCost:        10,
			ChangeVisibilityTimeout: configs.Duration(2 * time.Second),
		},
		Data: engine.Config{
			Dir:                     c.Data.Dir,
			WALDir:                  c.Data.WALDir,
			IndexVersion:            "tsi1",
			CacheMaxMemorySize:      1073741824,
			CacheSnapshotMemorySize: 25 * 1024 * 1024,
		},
		HTTP: httpd.Config{
			BindAddress:                ":8086",
			MaxBodySize:                25000000,
			LogEnabled:                 true,
			AuthFailureThreshold:       10,
			AuthClientFailureThreshold: 100,
			AuthFailureWindow:          configs.Duration(time.Minute),
			MaxQuerySize:               1 << 20,
			ShutdownTimeout:            configs.Duration(10 * time.Second),
			PprofEnabled:               true,
		},
		Cluster:     cluster.Config{BindAddress: ":8088"},
		Coordinator: engine.CoordinatorConfig{WriteTimeout: configs.Duration(10 * time.Second), MaxSelectBucketsN: engine.DefaultMaxSelectBuckets},
		// InfluxDB Enterprise's defaults.
		HintedHandoff: hh.Config{
			Enabled: true,
			Dir:     c.HintedHandoff.Dir,
			MaxSize: 10 << 30,
			// Palisade's bounds (issue 17): one destination's worth in
			// all, and never the disk's last 100 MiB.
			MaxTotalSize:     10 << 30,
			MinFreeSpace:     100 << 20,
			MaxAge:           configs.Duration(168 * time.Hour),
			RetryConcurrency: 20,
			RetryInterval:    configs.Duration(time.Second),
			RetryMaxInterval: configs.Duration(10 * time.Second),
			PurgeInterval:    configs.Duration(time.Minute),
		},
		Retention:         configs.RetentionSection{Enabled: true, CheckInterval: configs.Duration(30 * time.Minute)},
		ShardPrecreation:  configs.ShardPrecreationSection{Enabled: true, CheckInterval: configs.Duration(10 * time.Minute), AdvancePeriod: configs.Duration(30 * time.Minute)},
		ContinuousQueries: cq.Config{Enabled: true, LogEnabled: true, RunInterval: configs.Duration(time.Second)},
		Logging:           configs.Logging{Level: "info", Format: "text"},
	}
	if filepath.Base(c.HintedHandoff.Dir) != "hh" {
		t.Errorf("hinted-handoff.dir = %q, want a directory named hh", c.HintedHandoff.Dir)
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("data.NewConfig() =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if !c.Standalone() {
		t.Error("Standalone() = false with no meta servers")
	}
	if got := c.HTTPAddr(); got != "localhost:8086" {
		t.Errorf("HTTPAddr() = %q, want localhost:8086", got)
	}
	if got := c.TCPAddr(); got != "localhost:8088" {
		t.Errorf("TCPAddr() = %q, want localhost:8088", got)
	}
}

func TestLoadMetaPrecedence(t *testing.T) {
	t.Parallel()
	path := mustWriteFile(t, `
hostname = "meta-1.example.com"
[meta]
dir = "/from/file"
bind-address = "10.0.0.1:9089"
peers = ["meta-1:9089", "meta-2:9089"]
internal-shared-secret = "file-secret"
password-hash-cost = 12
election-timeout = "3s"
heartbeat-timeout = "2s"
[logging]
level = "debug"
`)
	tests := []struct {
		name    string
		path    string
		environ []string
		check   func(t *testing.T, c *configs.Meta)
	}{
		{name: "no file, no env", check: func(t *testing.T, c *configs.Meta) {
			if !reflect.DeepEqual(c, configs.NewMeta()) {
				t.Errorf("got %+v, want the defaults", c)
			}
		}},
		{name: "file overrides defaults", path: path, check: func(t *testing.T, c *configs.Meta) {
			want := configs.NewMeta()
			want.Hostname = "meta-1.example.com"
			want.Meta.Dir = "/from/file"
			want.Meta.BindAddress = "10.0.0.1:9089"
			want.Meta.Peers = []string{"meta-1:9089", "meta-2:9089"}
			want.Meta.InternalSharedSecret = "file-secret"
			want.Meta.PasswordHashCost = 12
			want.Meta.ElectionTimeout = configs.Duration(3 * time.Second)
			want.Meta.HeartbeatTimeout = configs.Duration(2 * time.Second)
			want.Logging.Level = "debug"
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got\n%+v\nwant\n%+v", c, want)
			}
			if got := c.RaftAddr(); got != "meta-1.example.com:9089" {
				t.Errorf("RaftAddr() = %q (the advertised host is hostname, not the bind host)", got)
			}
		}},
		{name: "env overrides file", path: path, environ: []string{
			"PATH=/bin",
			"INFLUXDB_HOSTNAME=meta-9",
			"INFLUXDB_META_DIR=/from/env",
			"INFLUXDB_META_PEERS= a:1 ,, b:2,",
			"INFLUXDB_META_INTERNAL_SHARED_SECRET=env-secret",
			"INFLUXDB_META_PASSWORD_HASH_COST=11",
			"INFLUXDB_META_HTTPS_ENABLED=true",
			"INFLUXDB_META_ELECTION_TIMEOUT=1h30m",
			"INFLUXDB_META_SNAPSHOT_THRESHOLD=100",
			"INFLUXDB_META_DEFAULT_REPLICATION_FACTOR=3",
			"INFLUXDB_LOGGING_FORMAT=json",
			"INFLUXDB_META_BIND_ADDRESS=", // empty counts as unset
			"INFLUXDB_UNKNOWN_KEY=ignored",
			"INFLUXDB_ADMIN_USER=admin",
		}, check: func(t *testing.T, c *configs.Meta) {
			want := configs.NewMeta()
			want.Hostname = "meta-9"
			want.Meta.Dir = "/from/env"
			want.Meta.BindAddress = "10.0.0.1:9089"
			want.Meta.Peers = []string{"a:1", "b:2"}
			want.Meta.InternalSharedSecret = "env-secret"
			want.Meta.PasswordHashCost = 11
			want.Meta.HTTPSEnabled = true
			want.Meta.ElectionTimeout = configs.Duration(90 * time.Minute)
			want.Meta.HeartbeatTimeout = configs.Duration(2 * time.Second)
			want.Meta.SnapshotThreshold = 100
			want.Meta.DefaultReplicationFactor = 3
			want.Logging = configs.Logging{Level: "debug", Format: "json"}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got\n%+v\nwant\n%+v", c, want)
			}
		}},
		{name: "later env entry wins", environ: []string{
			"INFLUXDB_HOSTNAME=first", "INFLUXDB_HOSTNAME=second",
		}, check: func(t *testing.T, c *configs.Meta) {
			if c.Hostname != "second" {
				t.Errorf("hostname = %q, want second", c.Hostname)
			}
		}},
		{name: "env value containing =", environ: []string{
			"INFLUXDB_META_INTERNAL_SHARED_SECRET=a=b=",
		}, check: func(t *testing.T, c *configs.Meta) {
			if c.Meta.InternalSharedSecret != "a=b=" {
				t.Errorf("internal-shared-secret = %q, want a=b=", c.Meta.InternalSharedSecret)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := configs.LoadMeta(tt.path, tt.environ)
			if err != nil {
				t.Fatalf("LoadMeta: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadDataPrecedence(t *testing.T) {
	t.Parallel()
	path := mustWriteFile(t, `
[meta]
servers = ["meta-1:8091"]
meta-internal-shared-secret = "internal"
[data]
dir = "/d"
[http]
auth-enabled = false
shared-secret = "jwt-file"
max-body-size = 0
[coordinator]
query-timeout = "30s"
`)
	c, err := data.LoadConfig(path, []string{
		"INFLUXDB_HTTP_AUTH_ENABLED=true",
		"INFLUXDB_HTTP_SHARED_SECRET=jwt-env",
		"INFLUXDB_DATA_DIR=/env/data",
		"INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE=2147483648",
		"INFLUXDB_META_META_INTERNAL_SHARED_SECRET=internal-env",
		"INFLUXDB_META_SERVERS=meta-1:8091,meta-2:8091",
		"INFLUXDB_CLUSTER_BIND_ADDRESS=:9088",
	})
	if err != nil {
		t.Fatalf("LoadData: %v", err)
	}
	want := data.NewConfig()
	want.Meta.Servers = []string{"meta-1:8091", "meta-2:8091"}
	want.Meta.MetaInternalSharedSecret = "internal-env"
	want.Data.Dir = "/env/data"
	want.HintedHandoff.Dir = "/env/hh" // beside [data] dir (issue 17)
	want.Data.CacheMaxMemorySize = 2 << 30
	want.HTTP.AuthEnabled = true
	want.HTTP.SharedSecret = "jwt-env"
	want.HTTP.MaxBodySize = 0
	want.Coordinator.QueryTimeout = configs.Duration(30 * time.Second)
	want.Cluster.BindAddress = ":9088"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if c.Standalone() {
		t.Error("Standalone() = true with meta servers")
	}
	if got := c.TCPAddr(); got != "localhost:9088" {
		t.Errorf("TCPAddr() = %q, want localhost:9088", got)
	}
}

func TestLoadBadEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  string
		want string // the whole error message
	}{
		{"INFLUXDB_HTTP_AUTH_ENABLED=maybe", `INFLUXDB_HTTP_AUTH_ENABLED: invalid boolean "maybe"`},
		{"INFLUXDB_HTTP_MAX_BODY_SIZE=25MB", `INFLUXDB_HTTP_MAX_BODY_SIZE: invalid integer "25MB"`},
		{"INFLUXDB_HTTP_MAX_BODY_SIZE=99999999999999999999", `INFLUXDB_HTTP_MAX_BODY_SIZE: invalid integer "99999999999999999999": out of range`},
		{"INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE=-1", `INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE: invalid size "-1" (want bytes, or a number followed by k, m or g)`},
		{"INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE=9223372036854775808", `INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE: invalid size "9223372036854775808": out of range`},
		{"INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE=8589934592g", `INFLUXDB_DATA_CACHE_MAX_MEMORY_SIZE: invalid size "8589934592g": out of range`},
		{"INFLUXDB_HTTP_SHUTDOWN_TIMEOUT=10", `INFLUXDB_HTTP_SHUTDOWN_TIMEOUT: invalid duration "10"`},
		{"INFLUXDB_COORDINATOR_WRITE_TIMEOUT=soon", `INFLUXDB_COORDINATOR_WRITE_TIMEOUT: invalid duration "soon"`},
		{"INFLUXDB_META_PASSWORD_HASH_COST=ten", `INFLUXDB_META_PASSWORD_HASH_COST: invalid integer "ten"`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			_, err := data.LoadConfig("", []string{tt.env})
			if err == nil || err.Error() != tt.want {
				t.Errorf("LoadData error = %v, want %s", err, tt.want)
			}
		})
	}

	t.Run("all bad variables are reported", func(t *testing.T) {
		t.Parallel()
		_, err := configs.LoadMeta("", []string{
			"INFLUXDB_META_HTTPS_ENABLED=yes please",
			"INFLUXDB_META_COMMIT_TIMEOUT=fast",
		})
		for _, name := range []string{"INFLUXDB_META_HTTPS_ENABLED", "INFLUXDB_META_COMMIT_TIMEOUT"} {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("LoadMeta error = %v, want it to name %s", err, name)
			}
		}
	})
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-VALUE"
	tests := []struct {
		name    string
		load    func(path string) error
		content string
		want    []string // substrings of the error
	}{
		{name: "unknown key", load: loadMetaErr, content: "[meta]\nbind-adress = \":8089\"\n",
			want: []string{"unknown keys", "meta.bind-adress"}},
		{name: "unknown keys are all named", load: loadDataErr,
			content: "hostnme = \"x\"\n[http]\nauth-enable = true\nshared-secret = \"" + secret + "\"\n",
			want:    []string{"hostnme", "http.auth-enable"}},
		{name: "key in the wrong section", load: loadDataErr, content: "[meta]\nauth-enabled = true\n",
			want: []string{"meta.auth-enabled"}},
		{name: "data table in a meta file", load: loadMetaErr, content: "[http]\nauth-enabled = true\n",
			want: []string{"http", "http.auth-enabled"}},
		{name: "wrong type", load: loadMetaErr, content: "[meta]\npassword-hash-cost = \"12\"\n",
			want: []string{"meta.password-hash-cost", "incompatible types"}},
		{name: "bad duration", load: loadMetaErr, content: "[meta]\ncommit-timeout = \"50\"\n",
			want: []string{"meta.commit-timeout", `invalid duration "50"`}},
		{name: "negative unsigned", load: loadMetaErr, content: "[meta]\nsnapshot-threshold = -1\n",
			want: []string{"meta.snapshot-threshold: -1 is negative"}},
		{name: "negative cache size", load: loadDataErr, content: "[data]\ncache-max-memory-size = -1073741824\n",
			want: []string{"data.cache-max-memory-size: -1073741824 is negative"}},
		{name: "syntax error", load: loadDataErr, content: "[http\n", want: []string{"toml: line"}},
		{name: "missing file", load: func(string) error {
			_, err := configs.LoadMeta(filepath.Join(os.TempDir(), "palisade-does-not-exist.toml"), nil)
			return err
		}, want: []string{"palisade-does-not-exist.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.load(mustWriteFile(t, tt.content))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains a secret", err)
			}
		})
	}
}

func loadMetaErr(path string) error { _, err := configs.LoadMeta(path, nil); return err }
func loadDataErr(path string) error { _, err := data.LoadConfig(path, nil); return err }

// A malformed secret must not be echoed by the TOML parser's error.
func TestLoadFileErrorHidesSecret(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-VALUE"
	tests := []struct {
		name, content string
	}{
		{"bare word", "[meta]\ninternal-shared-secret = " + secret + "\n"},
		{"unterminated", "[meta]\ninternal-shared-secret = \"" + secret + "\n"},
		{"bad escape", "[meta]\ninternal-shared-secret = \"" + secret + "\\q\"\n"},
		{"unterminated multi-line", "[meta]\ninternal-shared-secret = \"\"\"" + secret + "\n"},
		{"trailing garbage", "[meta]\ninternal-shared-secret = \"" + secret + "\" x" + secret + "\n"},
		{"data node http", "[http]\nshared-secret = " + secret + "\n"},
		{"data node meta", "[meta]\nmeta-internal-shared-secret = " + secret + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := mustWriteFile(t, tt.content)
			errM := loadMetaErr(path)
			errD := loadDataErr(path)
			for _, err := range []error{errM, errD} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the secret", err)
				}
			}
			if errM == nil && errD == nil {
				t.Error("neither LoadMeta nor LoadData failed")
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  any
		want map[string]string // key → env, spot checks
	}{
		{"meta", configs.NewMeta(), map[string]string{
			"hostname":                    "INFLUXDB_HOSTNAME",
			"meta.dir":                    "INFLUXDB_META_DIR",
			"meta.internal-shared-secret": "INFLUXDB_META_INTERNAL_SHARED_SECRET",
			"meta.http-bind-address":      "INFLUXDB_META_HTTP_BIND_ADDRESS",
			"logging.level":               "INFLUXDB_LOGGING_LEVEL",
		}},
		{"data", data.NewConfig(), map[string]string{
			"hostname":                         "INFLUXDB_HOSTNAME",
			"meta.dir":                         "INFLUXDB_META_DIR",
			"meta.meta-internal-shared-secret": "INFLUXDB_META_META_INTERNAL_SHARED_SECRET",
			"http.auth-enabled":                "INFLUXDB_HTTP_AUTH_ENABLED",
			"http.shared-secret":               "INFLUXDB_HTTP_SHARED_SECRET",
			"data.dir":                         "INFLUXDB_DATA_DIR",
			"data.wal-dir":                     "INFLUXDB_DATA_WAL_DIR",
			"coordinator.max-select-point":     "INFLUXDB_COORDINATOR_MAX_SELECT_POINT",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]string{}
			for _, f := range configs.Fields(tt.cfg) {
				if other, dup := seen[f.Env]; dup {
					t.Errorf("%s and %s share the variable %s", other, f.Key, f.Env)
				}
				seen[f.Env] = f.Key
				if want, ok := tt.want[f.Key]; ok && f.Env != want {
					t.Errorf("%s: variable %s, want %s", f.Key, f.Env, want)
				}
				delete(tt.want, f.Key)
			}
			for key := range tt.want {
				t.Errorf("no key %s", key)
			}
		})
	}
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	t.Parallel()
	custom := data.NewConfig()
	custom.Meta.Servers = []string{"a:8091", "b:8091"}
	custom.HTTP.SharedSecret = `quote " and \ backslash`
	custom.HTTP.JWTLeeway = configs.Duration(1500 * time.Millisecond)
	custom.Coordinator.QueryTimeout = configs.Duration(90 * time.Minute)
	custom.Data.CacheMaxMemorySize = 1<<63 - 1

	tests := []struct {
		name string
		cfg  any
		load func(path string) (any, error)
	}{
		{"meta defaults", configs.NewMeta(), func(p string) (any, error) { return configs.LoadMeta(p, nil) }},
		{"data defaults", data.NewConfig(), func(p string) (any, error) { return data.LoadConfig(p, nil) }},
		{"data custom", custom, func(p string) (any, error) { return data.LoadConfig(p, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := configs.WriteTOML(&buf, tt.cfg); err != nil {
				t.Fatalf("WriteTOML: %v", err)
			}
			got, err := tt.load(mustWriteFile(t, buf.String()))
			if err != nil {
				t.Fatalf("reading back:\n%s\nerror: %v", buf.String(), err)
			}
			if !reflect.DeepEqual(got, tt.cfg) {
				t.Errorf("read back\n%+v\nwant\n%+v\nfrom\n%s", got, tt.cfg, buf.String())
			}
		})
	}

	t.Run("writes every key", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		if err := configs.WriteTOML(&buf, configs.NewMeta()); err != nil {
			t.Fatal(err)
		}
		for _, f := range configs.Fields(configs.NewMeta()) {
			name := f.Key[strings.LastIndex(f.Key, ".")+1:]
			if !strings.Contains(buf.String(), "\n"+name+" = ") && !strings.HasPrefix(buf.String(), name+" = ") {
				t.Errorf("output has no %s:\n%s", f.Key, buf.String())
			}
		}
	})
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	m := configs.NewMeta()
	m.Meta.InternalSharedSecret = "node-secret"
	m.Meta.Peers = []string{"a:1"}
	rm := m.Redacted()
	if rm.Meta.InternalSharedSecret != "REDACTED" {
		t.Errorf("meta: internal-shared-secret = %q", rm.Meta.InternalSharedSecret)
	}
	if m.Meta.InternalSharedSecret != "node-secret" {
		t.Error("meta: Redacted changed the original")
	}
	rm.Meta.Peers[0] = "changed"
	if m.Meta.Peers[0] != "a:1" {
		t.Error("meta: Redacted shares the peers slice")
	}

	d := data.NewConfig()
	d.Meta.MetaInternalSharedSecret = "node-secret"
	d.HTTP.SharedSecret = "jwt-secret"
	rd := d.Redacted()
	var buf bytes.Buffer
	if err := configs.WriteTOML(&buf, rd); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"node-secret", "jwt-secret"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("data: redacted output contains %q", s)
		}
	}
	if d.HTTP.SharedSecret != "jwt-secret" {
		t.Error("data: Redacted changed the original")
	}
	if empty := data.NewConfig().Redacted(); empty.HTTP.SharedSecret != "" {
		t.Errorf("data: an empty secret became %q; it should stay empty", empty.HTTP.SharedSecret)
	}
}

func TestKeyErrorAs(t *testing.T) {
	t.Parallel()
	c := configs.NewMeta()
	c.Meta.InternalSharedSecret = "an-internal-secret"
	c.Meta.PasswordHashCost = 3
	var ke *configs.KeyError
	if err := c.Validate(); !errors.As(err, &ke) || ke.Key != "meta.password-hash-cost" {
		t.Errorf("errors.As(%v) = %+v, want a KeyError for meta.password-hash-cost", err, ke)
	}
}

// TestHintedHandoffDirFollowsDataDir (issue 17, point 10): three nodes
// given their own [data] dir on one host shared the default
// ~/.palisade/hh and replayed each other's queues. Unless set, the
// hinted-handoff dir is now "hh" beside [data] dir.
func TestHintedHandoffDirFollowsDataDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, tc := range []struct {
		name    string
		file    string
		environ []string
		want    string
	}{
		{"defaults", "", nil, filepath.Join(home, ".palisade", "hh")},
		{"data dir from the file", "[data]\ndir = \"/var/lib/palisade/data\"\n", nil, "/var/lib/palisade/hh"},
		{"data dir from the environment", "", []string{"INFLUXDB_DATA_DIR=/srv/node2/data/"}, "/srv/node2/hh"},
		{"relative data dir", "[data]\ndir = \"node3/data\"\n", nil, "node3/hh"},
		{"set in the file", "[data]\ndir = \"/srv/a/data\"\n[hinted-handoff]\ndir = \"/queues\"\n", nil, "/queues"},
		{"set in the environment", "[data]\ndir = \"/srv/a/data\"\n", []string{"INFLUXDB_HINTED_HANDOFF_DIR=/q"}, "/q"},
		{"empty variable counts as unset", "[data]\ndir = \"/srv/a/data\"\n", []string{"INFLUXDB_HINTED_HANDOFF_DIR="}, "/srv/a/hh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = mustWriteFile(t, tc.file)
			}
			c, err := data.LoadConfig(path, tc.environ)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.HintedHandoff.Dir; got != filepath.FromSlash(tc.want) {
				t.Errorf("hinted-handoff.dir = %q, want %q", got, tc.want)
			}
		})
	}
	seen := map[string]bool{}
	for _, n := range []string{"1", "2", "3"} {
		c, err := data.LoadConfig("", []string{"INFLUXDB_DATA_DIR=/srv/node" + n + "/data", "INFLUXDB_DATA_WAL_DIR=/srv/node" + n + "/wal"})
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.HintedHandoff.Dir] {
			t.Errorf("two nodes with their own data dirs share hinted-handoff.dir %s", c.HintedHandoff.Dir)
		}
		seen[c.HintedHandoff.Dir] = true
	}
}
