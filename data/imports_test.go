package data_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/palisade-db/palisade/"

// rooms lists, for each package of data/, the packages of this module it
// may import (without the module's prefix): the rooms of the data node and
// their doors. A package of data/ that is not listed fails the test: a new
// room is declared here, with its doors, and in DESIGN.md.
var rooms = map[string][]string{
	// The node: every room, and what wires them.
	"data": {"auth", "cluster", "configs", "data/coordinator", "data/cq", "data/dataservice", "data/engine", "data/hh",
		"data/httpd", "data/metastate", "data/monitoring", "data/peer", "data/provision", "data/remote",
		"internal/dirlock", "internal/version", "meta", "proto/metapb"},
	"data/metastate":   {"cluster", "configs", "internal/cowmap", "meta", "proto/metapb"},
	"data/peer":        {"cluster", "data/metastate", "proto/datapb", "proto/metapb"},
	"data/coordinator": {"cluster", "data/hh", "data/metastate", "data/peer", "internal/qlimit", "meta", "proto/datapb"},
	"data/remote": {"cluster", "data/coordinator", "data/metastate", "data/peer", "internal/qlimit", "meta",
		"proto/datapb"},
	"data/dataservice": {"auth", "cluster", "data/coordinator", "data/metastate", "data/peer", "data/remote", "meta",
		"proto/datapb"},
	"data/engine":     {"configs", "data/cq", "data/metastate", "meta", "proto/metapb"},
	"data/cq":         {"auth", "cluster", "configs", "data/httpd", "data/metastate", "data/peer", "internal/qlimit", "proto/metapb"},
	"data/provision":  {"auth", "cluster", "data/metastate", "meta", "proto/metapb"},
	"data/monitoring": {"internal/metrics", "internal/version"},
	"data/hh":         {"configs", "internal/dirlock"},
	"data/httpd":      {"auth", "configs", "internal/qlimit", "meta"},
}

// TestRoomsKeepTheirDoors (issue 18): each package of data/ imports only
// what rooms allows it, so that the compiler-enforced boundaries stay
// where data/DESIGN.md draws them (the write path never reaches into the
// query side's state, no part reaches into the node, …).
func TestRoomsKeepTheirDoors(t *testing.T) {
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		pkg := filepath.ToSlash(filepath.Join("data", path))
		imports, err := importsOf(path)
		if err != nil || len(imports) == 0 && !hasGo(path) {
			return err
		}
		seen[pkg] = true
		allowed, ok := rooms[pkg]
		if !ok {
			t.Errorf("%s is not a room of data/: list it, with what it may import, in rooms (and in DESIGN.md)", pkg)
			return nil
		}
		for _, imp := range imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which it may not (rooms in imports_test.go)", pkg, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range rooms {
		if !seen[pkg] {
			t.Errorf("rooms lists %s, which does not exist", pkg)
		}
	}
}

// importsOf returns the packages of this module that the non-test Go
// files in dir import, without the module's prefix.
func importsOf(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, spec := range af.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return nil, err
			}
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out, rest) {
				out = append(out, rest)
			}
		}
	}
	return out, nil
}

func hasGo(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return slices.ContainsFunc(files, func(f string) bool { return !strings.HasSuffix(f, "_test.go") })
}

// TestMetaNodeDoesNotLinkTheEngine: palisade-meta never links the InfluxDB
// engine, whatever data/ imports (meta nodes run without it).
func TestMetaNodeDoesNotLinkTheEngine(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"cmd/palisade-meta").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/influxdata/influxdb") || strings.HasPrefix(p, module+"data") {
			t.Errorf("palisade-meta links %s", p)
		}
	}
}
