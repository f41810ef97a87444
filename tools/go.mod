// The protobuf code generator driver of `make proto`, in a module of its own
// so that its dependencies stay out of the server's go.mod.
module github.com/palisade-db/palisade/tools

go 1.26.0

require (
	github.com/bufbuild/protocompile v0.14.1
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/sync v0.8.0 // indirect
