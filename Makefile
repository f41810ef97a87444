# Palisade — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/palisade-db/palisade/internal/version.Version=$(VERSION)
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
FUZZTIME ?= 10s

.PHONY: help build run test test-unit e2e bench fuzz lint proto proto-check tools clean

help: ## Show this help.
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

build: ## Build static binaries into bin/ (palisade-meta, palisade-data, palisade-ctl).
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build ## Run a standalone data node with default settings (HTTP on :8086, data in ~/.palisade).
	./$(BIN)/palisade-data

test: ## Run every test: lint, unit + integration (race), fuzz smoke, end-to-end. What CI runs.
	$(MAKE) lint
	$(MAKE) proto-check
	$(MAKE) test-unit
	$(MAKE) fuzz FUZZTIME=5s
	$(MAKE) e2e

test-unit: ## Unit and in-process integration tests with the race detector.
	$(GO) test -race -count=1 -timeout 20m ./...

e2e: build ## End-to-end tests: the real binaries as separate processes.
	PALISADE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -tags e2e ./e2e/...

bench: build ## Benchmarks: go test -bench and the HTTP load script (figures go to docs/benchmarks.md).
	$(GO) test -run '^$$' -bench . -benchmem ./auth/ ./meta/ ./data/httpd/
	scripts/bench-http.sh

fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each.
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' $$dir/*_test.go 2>/dev/null | awk '{print $$2}'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: ## gofmt, go vet, staticcheck, no build outputs in git.
	scripts/check-tracked-files.sh
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

tools: ## Install the protobuf code generators at the pinned versions.
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: tools ## Regenerate proto/metapb from proto/*.proto (needs protoc).
	PATH="$(GOBIN_DIR):$$PATH" protoc -I proto \
	  --go_out=proto/metapb --go_opt=paths=source_relative \
	  --go-grpc_out=proto/metapb --go-grpc_opt=paths=source_relative \
	  proto/meta.proto

proto-check: proto ## Fail when the committed generated code is stale.
	@git diff --exit-code -- proto/metapb || { echo "proto/metapb is stale: run 'make proto' and commit"; exit 1; }

clean: ## Remove build output.
	rm -rf $(BIN)
