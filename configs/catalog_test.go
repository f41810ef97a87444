package configs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// fileKeys returns the dotted keys a TOML file sets, array elements' keys as
// "graphite.enabled".
func fileKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	var m map[string]any
	if _, err := toml.DecodeFile(path, &m); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for name, v := range m {
		switch v := v.(type) {
		case map[string]any:
			for k := range v {
				keys[name+"."+k] = true
			}
		case []map[string]any:
			for _, el := range v {
				for k := range el {
					keys[name+"."+k] = true
				}
			}
		default:
			keys[name] = true
		}
	}
	return keys
}

// Every key of the catalogs is loaded by at least one sample file, so each
// is exercised; the samples load, so none of their keys is unknown.
func TestSamplesCoverKnownKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		cat   *Catalog
		files []string
	}{
		{"data", DataKnown, []string{"testdata/influxd-1.6.7.conf", "testdata/influxd-1.12.conf", "testdata/enterprise-data.conf"}},
		{"meta", metaKnown, []string{"testdata/enterprise-meta.conf"}},
	} {
		covered := map[string]bool{}
		for _, f := range tt.files {
			for k := range fileKeys(t, f) {
				covered[k] = true
			}
		}
		for _, k := range tt.cat.order {
			if !covered[k.key] {
				t.Errorf("%s: no sample file sets %s", tt.name, k.key)
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"0", 0, ""},
		{"26214400", 26214400, ""},
		{"512k", 512 << 10, ""},
		{"25m", 25 << 20, ""},
		{"25M", 25 << 20, ""},
		{"1g", 1 << 30, ""},
		{" 2G ", 2 << 30, ""},
		{"8589934591g", 8589934591 << 30, ""},
		{"8589934592g", 0, "out of range"},
		{"9223372036854775808", 0, "out of range"},
		{"", 0, "invalid size"},
		{"g", 0, "invalid size"},
		{"1t", 0, "invalid size"},
		{"1.5g", 0, "invalid size"},
		{"-1", 0, "invalid size"},
		{"1 g", 0, "invalid size"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("parseSize(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestParsePasswordHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       any
		cost     any
		ok       bool
		note     bool
		errorHas string
	}{
		{in: "bcrypt", cost: 0},
		{in: "bcrypt;cost=12", cost: 12, ok: true},
		{in: " bcrypt ; cost = 4 ;", cost: 4, ok: true},
		{in: "pbkdf2-sha512;rounds=1000", note: true},
		{in: "pbkdf2-sha256", note: true},
		{in: "scrypt", errorHas: "unknown password hashing scheme"},
		{in: "bcrypt;cost=ten", errorHas: "is not an integer"},
		{in: "bcrypt;salt_len=16", errorHas: "unknown bcrypt option"},
		{in: int64(10), errorHas: "must be a string"},
	}
	for _, tt := range tests {
		cost, ok, note, err := parsePasswordHash(tt.in)
		if tt.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
				t.Errorf("parsePasswordHash(%v) error = %v, want one containing %q", tt.in, err, tt.errorHas)
			}
			continue
		}
		if err != nil || ok != tt.ok || (note != "") != tt.note || (ok && cost != tt.cost) {
			t.Errorf("parsePasswordHash(%v) = %v, %v, %q, %v", tt.in, cost, ok, note, err)
		}
	}
}

// docs/configuration.md lists every known key under its node kind and
// effect.
func TestKnownKeysDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	subheading := map[effect]string{
		alias:         "#### Take effect under Palisade's name",
		unneeded:      "#### Accepted silently",
		unimplemented: "#### Accepted with a warning",
	}
	for _, tt := range []struct {
		heading string
		cat     *Catalog
	}{
		{"### Data nodes", DataKnown},
		{"### Meta nodes", metaKnown},
	} {
		section := between(string(b), tt.heading, "\n### ")
		if section == "" {
			t.Fatalf("no %q section", tt.heading)
		}
		for _, k := range tt.cat.order {
			lines := strings.Split(between(section, subheading[k.effect], "\n#### "), "\n")
			table, name, ok := strings.Cut(k.key, ".")
			prefix := "- top level:"
			if ok {
				prefix = "- `[" + table + "]`:"
				if arrayTables[table] {
					prefix = "- `[[" + table + "]]`:"
				}
			} else {
				name = k.key
			}
			found := slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, prefix) && strings.Contains(l, "`"+name+"`")
			})
			if !found {
				t.Errorf("%s, %s: no line starting %q names `%s`", tt.heading, subheading[k.effect], prefix, name)
			}
		}
	}
}

// between returns the text after start up to the next end ("" when start is
// missing).
func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	if i := strings.Index(after, end); i >= 0 {
		return after[:i]
	}
	return after
}
