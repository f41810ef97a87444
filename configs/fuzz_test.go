package configs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
)

// FuzzLoadMetaTOML feeds arbitrary files to LoadMeta and Validate. Neither
// may panic, and a configuration that loads must survive WriteTOML and a
// second LoadMeta unchanged (that is what `palisade-meta config` relies on).
func FuzzLoadMetaTOML(f *testing.F) {
	if b, err := os.ReadFile("meta.toml"); err == nil {
		f.Add(string(b))
	}
	for _, seed := range []string{
		"",
		"hostname = \"meta-1\"\n",
		"[meta]\npeers = [\"a:8089\", \"b:8089\", \"a:8089\"]\npassword-hash-cost = 3\n",
		"[meta]\nelection-timeout = \"1h30m\"\nheartbeat-timeout = \"-1s\"\nleader-lease-timeout = \"0\"\n",
		"[meta]\nbind-address = \"[::1]:99999\"\nhttp-bind-address = \":\"\n",
		"[meta]\nhttp-bind-address = \"127.0.0.2:8092\"\nmetrics-bind-address = \"\"\n",
		"[meta]\nmetrics-bind-address = \"off\"\n",
		"[meta]\ninternal-shared-secret = 'x'\nhttps-enabled = true\n",
		"[meta]\nsnapshot-threshold = 18446744073709551615\n",
		"[meta]\nsnapshot-threshold = -1\n",
		"[logging]\nlevel = \"debug\"\nformat = \"json\"\n[http]\n",
		"[meta.peers]\nx = 1\n",
		"hostname = \"\\u0000\"\n",
		"[[meta]]\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "meta.toml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := configs.LoadMeta(path, nil)
		if err != nil {
			return
		}
		_ = c.Validate()
		_ = c.RaftAddr()
		_ = c.RPCAddr()
		_ = c.MetricsAddr()

		var buf bytes.Buffer
		if err := configs.WriteTOML(&buf, c); err != nil {
			t.Fatalf("WriteTOML of a loaded config: %v", err)
		}
		again := filepath.Join(dir, "again.toml")
		if err := os.WriteFile(again, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := configs.LoadMeta(again, nil)
		if err != nil {
			t.Fatalf("reading back WriteTOML output:\n%s\nerror: %v", buf.String(), err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("WriteTOML round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}

// FuzzLoadDataTOML feeds arbitrary files, seeded with influxd and Enterprise
// files, to LoadDataWithWarnings and Validate. Neither may panic, and a
// configuration that loads must survive WriteTOML and a second load
// unchanged and without warnings: the written file holds Palisade keys only.
func FuzzLoadDataTOML(f *testing.F) {
	for _, name := range []string{"data.toml", "testdata/influxd-1.6.7.conf", "testdata/influxd-1.12.conf", "testdata/enterprise-data.conf"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b))
		}
	}
	for _, seed := range []string{
		"bind-address = \":8088\"\n[cluster]\nbind-address = \":8088\"\n",
		"[cluster]\nwrite-timeout = \"1s\"\n[coordinator]\nwrite-timeout = \"1000ms\"\n",
		"[data]\ncache-max-memory-size = \"8589934591g\"\ncache-snapshot-memory-size = \"0k\"\n",
		"[meta]\npassword-hash = \"bcrypt;cost=31;\"\n",
		"[[graphite]]\nenabled = true\n[[graphite]]\n[graphite.x]\n",
		"graphite = [{enabled = true}, 1]\n",
		"[retention.enabled]\n[http.headers.x]\n",
		"[logging]\nformat = \"auto\"\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "influxdb.conf")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, _, err := data.LoadConfigWithWarnings(path, nil)
		if err != nil {
			return
		}
		_ = c.Validate()

		var buf bytes.Buffer
		if err := configs.WriteTOML(&buf, c); err != nil {
			t.Fatalf("WriteTOML of a loaded config: %v", err)
		}
		again := filepath.Join(dir, "again.toml")
		if err := os.WriteFile(again, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, ws, err := data.LoadConfigWithWarnings(again, nil)
		if err != nil {
			t.Fatalf("reading back WriteTOML output:\n%s\nerror: %v", buf.String(), err)
		}
		if len(ws) > 0 {
			t.Fatalf("warnings reading back WriteTOML output: %v", ws)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("WriteTOML round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}
