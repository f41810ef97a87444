package configs

import (
	"strings"
	"testing"
	"time"
)

// This file opens a few internals to the tests of package configs_test,
// which load the data node's configuration (package data imports configs).

// MetaKnown is the catalog of meta node files.
var MetaKnown = metaKnown

// Field is a leaf key of a configuration and its environment variable.
type Field struct{ Key, Env string }

// Fields lists the leaf keys of the struct that v points to.
func Fields(v any) []Field {
	var out []Field
	for _, f := range fields(v) {
		out = append(out, Field{Key: f.key, Env: f.env})
	}
	return out
}

// CheckCatalog reports where cat disagrees with cfg, the configuration of
// its kind of node: a catalog key that is a key of cfg, an alias of a key
// cfg does not have, a gate that is neither, and the like.
func CheckCatalog(t *testing.T, cat *Catalog, cfg any) {
	t.Helper()
	fieldsByKey := map[string]field{}
	envs := map[string]string{}
	for _, f := range fields(cfg) {
		fieldsByKey[f.key] = f
		envs[f.env] = f.key
	}
	for _, k := range cat.order {
		if _, ok := fieldsByKey[k.key]; ok {
			t.Errorf("%s is a Palisade key now: remove it from the catalog", k.key)
		}
		if other, ok := envs[envName(k.key)]; ok {
			t.Errorf("%s and the Palisade key %s share the variable %s", k.key, other, envName(k.key))
		}
		table := tableOf(k.key)
		if strings.Count(k.key, ".") > 1 || (table == "" && arrayTables[k.key]) {
			t.Errorf("%s: keys are top-level or one table deep", k.key)
		}
		switch k.effect {
		case alias:
			if _, ok := fieldsByKey[k.to]; !ok {
				t.Errorf("alias %s: %s is not a Palisade key", k.key, k.to)
			}
		case unneeded:
			if k.note == "" {
				t.Errorf("%s: say why it is not needed", k.key)
			}
		case unimplemented:
			switch k.same.(type) {
			case nil, bool, int, string, time.Duration, byteSize, empty:
			default:
				t.Errorf("%s: same has unsupported type %T", k.key, k.same)
			}
			if g := k.gate; g != nil {
				gk := cat.keys[g.key]
				_, isField := fieldsByKey[g.key]
				switch {
				case isField:
				case gk == nil:
					t.Errorf("%s: gate %s is neither a Palisade nor a known key", k.key, g.key)
				case gk.def == nil:
					t.Errorf("%s: gate %s has no default", k.key, g.key)
				case arrayTables[table] && tableOf(g.key) != table:
					t.Errorf("%s: gate %s is not in its element", k.key, g.key)
				}
			}
		default:
			t.Errorf("%s: no effect", k.key)
		}
	}
}
