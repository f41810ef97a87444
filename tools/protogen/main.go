// Command protogen generates code for every .proto file under a directory, the
// way protoc would, without protoc: protocompile (pure Go, pinned in
// tools/go.mod) parses and links the files, and each code generator runs as a
// protoc plugin (a CodeGeneratorRequest on its stdin, a CodeGeneratorResponse
// on its stdout). `make proto` runs it with the pinned protoc-gen-go and
// protoc-gen-go-grpc, so the generated code depends on no system package.
//
//	protogen -root proto -out DIR -param module=M -plugin protoc-gen-go -plugin protoc-gen-go-grpc
//
// Import paths are relative to -root; the well-known google/protobuf files
// are built in. Files are written under -out as the plugins name them.
// Nothing is written when a file fails to compile or a plugin fails.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

type plugins []string

func (p *plugins) String() string     { return strings.Join(*p, ",") }
func (p *plugins) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	root := flag.String("root", "proto", "directory holding the .proto files; import paths are relative to it")
	out := flag.String("out", "", "directory to write the generated files under (required)")
	param := flag.String("param", "", "parameter passed to every plugin (protoc's --X_opt)")
	var plugs plugins
	flag.Var(&plugs, "plugin", "path of a protoc plugin to run (repeatable)")
	flag.Parse()
	if *out == "" || len(plugs) == 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*root, *out, *param, plugs); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(root, out, param string, plugs []string) error {
	names, err := protoFiles(root)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no .proto files under %s", root)
	}
	req, err := compile(root, names)
	if err != nil {
		return err
	}
	req.Parameter = proto.String(param)
	// Run every plugin before writing anything: a failure leaves out untouched.
	files := map[string]string{}
	for _, p := range plugs {
		resp, err := runPlugin(p, req)
		if err != nil {
			return err
		}
		for _, f := range resp.GetFile() {
			name := f.GetName()
			switch {
			case f.GetInsertionPoint() != "":
				return fmt.Errorf("%s: insertion points are not supported (%s)", p, name)
			case name == "" || path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../"):
				return fmt.Errorf("%s: bad output file name %q", p, name)
			}
			if _, dup := files[name]; dup {
				return fmt.Errorf("%s: %s was already generated", p, name)
			}
			files[name] = f.GetContent()
		}
	}
	for name, content := range files {
		dst := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// protoFiles lists the .proto files under root as slash-separated paths
// relative to it, sorted.
func protoFiles(root string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".proto" {
			return err
		}
		rel, err := filepath.Rel(root, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	sort.Strings(names)
	return names, err
}

// compile parses and links names and returns the request protoc would send a
// plugin: the files to generate and every file they need, dependencies first.
func compile(root string, names []string) (*pluginpb.CodeGeneratorRequest, error) {
	var errs []error
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{root}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(
			func(err reporter.ErrorWithPos) error { errs = append(errs, err); return nil },
			func(w reporter.ErrorWithPos) { fmt.Fprintln(os.Stderr, "protogen: warning:", w) },
		),
	}
	linked, err := c.Compile(context.Background(), names...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err != nil {
		return nil, err
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: names}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, fileProto(fd))
	}
	for _, fd := range linked {
		add(fd)
	}
	return req, nil
}

// fileProto returns the descriptor proto of fd: the one protocompile built
// (with source info, json names and options as protoc sets them) where there
// is one, else one rebuilt from the descriptor (the built-in standard files).
func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if r, ok := fd.(linker.Result); ok {
		return r.FileDescriptorProto()
	}
	return protodesc.ToFileDescriptorProto(fd)
}

func runPlugin(plugin string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	cmd := exec.Command(plugin)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", plugin, err)
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(stdout.Bytes(), resp); err != nil {
		return nil, fmt.Errorf("%s: bad response: %w", plugin, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: %s", plugin, resp.GetError())
	}
	return resp, nil
}
