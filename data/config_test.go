package data_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/data"
)

// TestTablesLiveBesideTheirServices (issue 18): every table of a data
// node's file is a type declared in config.go of the package that uses it,
// so that a new key touches that file and the example data.toml; only the
// tables meta nodes share are in configs.
func TestTablesLiveBesideTheirServices(t *testing.T) {
	shared := map[string]bool{"retention": true, "shard-precreation": true, "logging": true}
	rt := reflect.TypeFor[data.Config]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		table, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Type.Kind() != reflect.Struct {
			continue // a top-level key
		}
		pkg := strings.TrimPrefix(f.Type.PkgPath(), "github.com/palisade-db/palisade/")
		switch {
		case shared[table]:
			if pkg != "configs" {
				t.Errorf("[%s] is shared with meta nodes and belongs in configs, not %s", table, pkg)
			}
			continue
		case pkg == "configs" || pkg == "data":
			t.Errorf("[%s] (%s) is declared in %s: declare it beside the service it configures", table, f.Type, pkg)
			continue
		}
		src, err := os.ReadFile(filepath.Join("..", pkg, "config.go"))
		if err != nil {
			t.Errorf("[%s]: %v", table, err)
			continue
		}
		if !strings.Contains(string(src), "\ntype "+f.Type.Name()+" struct {") {
			t.Errorf("[%s]: %s is not declared in %s/config.go", table, f.Type.Name(), pkg)
		}
	}
}
