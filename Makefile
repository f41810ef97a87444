# Palisade — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/palisade-db/palisade/internal/version.Version=$(VERSION)
# The protobuf toolchain, pure Go, no protoc: tools/protogen (protocompile, pinned in
# tools/go.mod) compiles every proto/**/*.proto and runs these two generators, which
# `make tools` builds from the Go module proxy into TOOLS_DIR, one folder per version.
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
TOOLS_DIR ?= $(CURDIR)/bin/tools
TOOLS := $(abspath $(TOOLS_DIR))
PROTOC_GEN_GO := $(TOOLS)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS)/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)/protoc-gen-go-grpc
PROTOGEN := $(TOOLS)/protogen
MODULE := github.com/palisade-db/palisade
FUZZTIME ?= 10s

.PHONY: help build image e2e-docker chart-test chart-docker manifests run test test-unit e2e bench fuzz lint proto proto-check tools clean

help: ## Show this help.
	@grep -hE '^[a-z][a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

build: ## Build static binaries into bin/ (palisade-meta, palisade-data, palisade-ctl).
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

IMAGE ?= palisade
image: build ## Build the container image (deploy/docker/Dockerfile: FROM scratch, no network needed) as $(IMAGE):$(VERSION) and :latest.
	@set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	ca=/etc/ssl/certs/ca-certificates.crt; \
	[ -r "$$ca" ] || { echo "make image: $$ca is missing: install the ca-certificates package"; exit 1; }; \
	mkdir -p "$$ctx/rootfs/usr/bin" "$$ctx/rootfs/etc/ssl/certs" "$$ctx/state"; \
	cp $(BIN)/palisade-data $(BIN)/palisade-meta $(BIN)/palisade-ctl "$$ctx/rootfs/usr/bin/"; \
	cp "$$ca" "$$ctx/rootfs/etc/ssl/certs/"; touch "$$ctx/state/.keep"; \
	cp deploy/docker/Dockerfile "$$ctx/"; \
	docker build -q -t $(IMAGE):$(VERSION) -t $(IMAGE):latest "$$ctx"

run: build ## Run a standalone data node with default settings (HTTP on :8086, data in ~/.palisade).
	./$(BIN)/palisade-data

test: ## Every test, what CI runs: installs what it needs (scripts/setup-test-deps.sh), then lint, proto-check, unit + integration (race), fuzz smoke, e2e.
	scripts/setup-test-deps.sh
	$(MAKE) lint
	$(MAKE) proto-check
	$(MAKE) test-unit
	$(MAKE) fuzz FUZZTIME=5s
	$(MAKE) e2e
	$(MAKE) chart-test
	@if docker info >/dev/null 2>&1; then $(MAKE) chart-docker; \
	else echo "make test: no Docker here: skipping chart-docker"; fi
	@if docker info >/dev/null 2>&1 && command -v docker-compose >/dev/null; then $(MAKE) e2e-docker; \
	else echo "make test: no Docker or docker-compose here: skipping e2e-docker"; fi

test-unit: ## Unit and in-process integration tests with the race detector.
	$(GO) test -race -count=1 -timeout 20m ./...

e2e-docker: image ## The Docker Compose cluster end to end (deploy/compose): needs Docker and docker-compose.
	PALISADE_IMAGE=$(IMAGE):$(VERSION) $(GO) test -count=1 -timeout 20m -tags 'e2e e2edocker' -run '^TestCompose$$' ./e2e/

# The Helm chart's tests live in their own module (deploy/charttest), so that
# the server module does not depend on Helm and the Kubernetes API.
CHARTTEST := cd deploy/charttest &&
chart-test: ## The Helm chart (lint, render with several value sets, strict k8s.io/api decoding, invariants, deploy/kubernetes in sync) and the compose files.
	$(CHARTTEST) $(GO) test -count=1 -timeout 5m ./...

chart-docker: image ## The chart's pods as Docker containers (Kubernetes names, env, restarts, re-creation, TLS between nodes): needs Docker.
	$(CHARTTEST) PALISADE_IMAGE=$(IMAGE):$(VERSION) $(GO) test -count=1 -timeout 15m -tags docker -run '^TestKubernetes(Identity|TLS)$$' ./...

manifests: ## Re-render deploy/kubernetes/palisade.yaml from the chart.
	$(CHARTTEST) $(GO) test -count=1 -run '^TestPlainManifestsMatchTheChart$$' . -update

e2e: build ## End-to-end tests: the real binaries as separate processes.
	PALISADE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -tags e2e ./e2e/...

bench: build ## Benchmarks: go test -bench and the HTTP load script (figures go to docs/benchmarks.md).
	scripts/setup-test-deps.sh --bench
	$(GO) test -run '^$$' -bench . -benchmem ./auth/ ./meta/ ./data/httpd/
	scripts/bench-http.sh

# Minimizing a new interesting input re-runs the target for up to a minute by default, with no
# progress shown; a large seed (a whole config file) then outlasts a short FUZZTIME and the run
# fails with "context deadline exceeded". FUZZMINIMIZETIME bounds it (scripts/fuzz-all.sh).
FUZZMINIMIZETIME ?= 1s
fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each.
	FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) GO=$(GO) scripts/fuzz-all.sh

lint: ## gofmt, go vet, staticcheck (also of tools/), no build outputs in git, go.mod's direct requirements.
	scripts/check-tracked-files.sh
	GO=$(GO) scripts/check-gomod.sh
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd tools && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(CHARTTEST) $(GO) vet -tags docker ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags docker ./...

tools: $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## Build the pinned protobuf toolchain into TOOLS_DIR (default bin/tools).
	$(GO) build -C tools -o $(PROTOGEN) ./protogen

$(PROTOC_GEN_GO):
	GOBIN=$(@D) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(@D) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# proto generates into a temporary folder, then copies what changed and removes
# the *.pb.go that no .proto generates any more; nothing changes when it fails.
proto: tools ## Regenerate the Go code of every .proto under proto/ (pinned toolchain, no protoc).
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PROTOGEN) -root proto -out "$$tmp" -param module=$(MODULE) \
	  -plugin $(PROTOC_GEN_GO) -plugin $(PROTOC_GEN_GO_GRPC); \
	gen=$$(cd "$$tmp" && find . -type f | sed 's|^\./||' | sort); \
	for f in $$gen; do \
	  case $$f in proto/*) ;; *) echo "make proto: $$f would land outside proto/: fix its go_package"; exit 1 ;; esac; \
	done; \
	for f in $$gen; do \
	  cmp -s "$$tmp/$$f" "$$f" || { mkdir -p "$$(dirname "$$f")"; cp "$$tmp/$$f" "$$f"; echo "make proto: wrote $$f"; }; \
	done; \
	for f in $$(find proto -name '*.pb.go' | sort); do \
	  grep -qxF "$$f" <<<"$$gen" || { rm "$$f"; echo "make proto: removed $$f (no .proto generates it)"; }; \
	done

# Against git's index: what is committed, or staged to be.
proto-check: proto ## Fail when generated code in git is stale or missing (a generated file not in git).
	@stale=$$(git diff --name-only -- 'proto/*.pb.go'); untracked=$$(git ls-files --others -- 'proto/*.pb.go'); \
	[ -z "$$stale" ] || { echo "generated code differs from git (stale, or no longer generated):"; printf '  %s\n' $$stale; }; \
	[ -z "$$untracked" ] || { echo "generated code missing from git:"; printf '  %s\n' $$untracked; }; \
	[ -z "$$stale$$untracked" ] || { echo "run 'make proto' and commit the result"; exit 1; }

clean: ## Remove build output.
	rm -rf $(BIN)
