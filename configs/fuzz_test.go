package configs

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
		c, err := LoadMeta(path, nil)
		if err != nil {
			return
		}
		_ = c.Validate()
		_ = c.RaftAddr()
		_ = c.RPCAddr()

		var buf bytes.Buffer
		if err := WriteTOML(&buf, c); err != nil {
			t.Fatalf("WriteTOML of a loaded config: %v", err)
		}
		again := filepath.Join(dir, "again.toml")
		if err := os.WriteFile(again, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := LoadMeta(again, nil)
		if err != nil {
			t.Fatalf("reading back WriteTOML output:\n%s\nerror: %v", buf.String(), err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("WriteTOML round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}
