package configs_test

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/palisade-db/palisade/configs"
	"github.com/palisade-db/palisade/data"
)

// The example files must load, validate, set every key, and document every
// key with its default and its environment variable.
func TestExampleFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		load func(path string) (cfg any, validate func() error, err error)
		// want returns the configuration the file should produce: the
		// defaults, except for the directories, which the examples set to
		// production paths instead of $HOME.
		want func() any
	}{
		{"meta.toml", func(p string) (any, func() error, error) {
			// The example leaves the secret to be set, as every meta node
			// must (Validate refuses an empty one).
			c, err := configs.LoadMeta(p, []string{"INFLUXDB_META_INTERNAL_SHARED_SECRET=set-by-the-operator"})
			if err != nil {
				return nil, nil, err
			}
			return c, c.Validate, nil
		}, func() any {
			c := configs.NewMeta()
			c.Meta.Dir = "/var/lib/palisade/meta"
			c.Meta.InternalSharedSecret = "set-by-the-operator"
			return c
		}},
		{"data.toml", func(p string) (any, func() error, error) {
			c, err := data.LoadConfig(p, nil)
			if err != nil {
				return nil, nil, err
			}
			return c, c.Validate, nil
		}, func() any {
			c := data.NewConfig()
			c.Meta.Dir = "/var/lib/palisade/data-meta"
			c.Data.Dir = "/var/lib/palisade/data"
			c.Data.WALDir = "/var/lib/palisade/wal"
			c.HintedHandoff.Dir = "/var/lib/palisade/hh"
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cfg, validate, err := tt.load(tt.file)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if want := tt.want(); !reflect.DeepEqual(cfg, want) {
				t.Errorf("%s sets values other than the defaults:\n got %+v\nwant %+v", tt.file, cfg, want)
			}

			// No undecoded key, and every key of the struct is present.
			md, err := toml.DecodeFile(tt.file, tt.want())
			if err != nil {
				t.Fatal(err)
			}
			if u := md.Undecoded(); len(u) > 0 {
				t.Errorf("undecoded keys: %v", u)
			}
			for _, f := range configs.Fields(tt.want()) {
				if !md.IsDefined(strings.Split(f.Key, ".")...) {
					t.Errorf("key %s is missing", f.Key)
				}
			}

			checkExampleComments(t, tt.file, tt.want())
		})
	}
}

// checkExampleComments checks that the comment block right above each key
// gives its default and its environment variable.
func checkExampleComments(t *testing.T, file string, cfg any) {
	t.Helper()
	envOf := map[string]string{}
	for _, f := range configs.Fields(cfg) {
		envOf[f.Key] = f.Env
	}
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var section, comment string
	documented := map[string]bool{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			comment = ""
		case strings.HasPrefix(line, "#"):
			comment += line + "\n"
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]") + "."
			comment = ""
		default:
			name, _, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s:%d: unexpected line %q", file, n, line)
				continue
			}
			key := section + strings.TrimSpace(name)
			if section == "" {
				key = strings.TrimSpace(name)
			}
			env, known := envOf[key]
			switch {
			case !known:
				t.Errorf("%s:%d: unknown key %s", file, n, key)
			case !strings.Contains(comment, "Default:"):
				t.Errorf("%s:%d: the comment above %s does not give its default", file, n, key)
			case !strings.Contains(comment, "Env: "+env+"\n") && !strings.Contains(comment, "Env: "+env+" "):
				t.Errorf("%s:%d: the comment above %s does not name %s", file, n, key, env)
			}
			documented[key] = true
			comment = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for key := range envOf {
		if !documented[key] {
			t.Errorf("%s: no line sets %s", file, key)
		}
	}
}
