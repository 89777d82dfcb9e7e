# ringback — every target works on a fresh machine: it installs what it needs.
SHELL := /bin/bash
GO ?= go
MODULES := proto libs deploy services/intake services/scheduler services/router \
	services/agent-session services/media-gateway services/history \
	services/disposition cmd/ringback
PROTOC_GEN_GO_VERSION := v1.36.12
TOOLS := $(CURDIR)/bin/tools
DATA ?= $(CURDIR)/data
# The timeout bounds a package, not a test: the e2e package alone runs 17-22
# minutes on a 2-core machine beside the other packages (its tests bound
# their own waits), and 20 minutes cut it off in CI.
TEST_FLAGS ?= -race -count=1 -timeout 45m
# Opus needs libopus through cgo: every go command (builds, tests, the e2e
# tests' own build) gets the opus tag when pkg-config finds libopus (Debian:
# libopus-dev, pkg-config). Without it the gateway speaks G.711 only.
OPUS_TAGS := $(shell pkg-config --exists opus 2>/dev/null && echo -tags=opus,nolibopusfile)
export GOFLAGS := $(strip $(GOFLAGS) $(OPUS_TAGS))

.PHONY: build run test test-modules bench chaos proto events tidy vet clean

build:
	cd cmd/ringback && $(GO) build -o $(CURDIR)/bin/ringback .

# The platform on embedded defaults with a demo SIP trunk and demo agents.
run: build
	./bin/ringback serve --demo --data $(DATA)

# go test ./... stops at a module boundary, so every module is run in turn;
# all run even when one fails, and the failures are named at the end.
# The PostgreSQL tests need a server: when pg_virtualenv (Debian's
# postgresql-common, with postgresql) is there and no server is named
# (RINGBACK_TEST_POSTGRES or PGHOST), every module runs inside one
# throw-away cluster; without it those tests skip and say so.
PG_VIRTUALENV := $(shell [ -z "$$RINGBACK_TEST_POSTGRES$$PGHOST" ] && command -v pg_virtualenv >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && echo pg_virtualenv -t -o max_connections=400 -o shared_buffers=128MB --)
test:
	@$(PG_VIRTUALENV) $(MAKE) --no-print-directory test-modules

test-modules:
	@fail=; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(TEST_FLAGS) ./...) || fail="$$fail $$m"; done; \
	if [ -n "$$fail" ]; then echo "FAILED:$$fail"; exit 1; fi

bench:
	@bash scripts/bench.sh

# The long chaos run: 1,000 callbacks to Done while a replica of any service
# is killed (SIGKILL) every 3 s; make test runs a short one (300, every 4 s).
chaos:
	cd cmd/ringback && RINGBACK_CHAOS_CALLBACKS=1000 RINGBACK_CHAOS_KILL_EVERY=3s \
		$(PG_VIRTUALENV) $(GO) test -count=1 -timeout 60m -run TestChaosEveryReplicaKilled -v ./e2e/

# go vet, then golangci-lint (.golangci.yml: the vet/staticcheck set and
# depguard, which holds the shape: pure domain packages, no service importing
# another, libs importing no service) over every module.
GOLANGCI_LINT_VERSION := v2.15.0
$(TOOLS)/golangci-lint:
	GOFLAGS= GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

vet: $(TOOLS)/golangci-lint
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) vet ./... && $(TOOLS)/golangci-lint run ./...); done

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

# Regenerates the committed Go code from proto/ (protoc from Debian's protobuf-compiler).
proto: $(TOOLS)/protoc-gen-go
	@command -v protoc >/dev/null && test -f /usr/include/google/protobuf/timestamp.proto || \
		(apt-get update -qq && apt-get install -y -qq protobuf-compiler libprotobuf-dev)
	cd proto && PATH=$(TOOLS):$$PATH protoc -I . -I /usr/include \
		--go_out=. --go_opt=module=github.com/ringback/ringback/proto \
		$$(find ringback -name '*.proto' | sort)

# Regenerates docs/events.md, the event catalogue, from proto/ and the
# envelope (libs/eventdoc); its test fails when the committed one is stale.
events:
	cd libs && $(GO) run ./eventdoc/cmd/eventdoc -root ..

clean:
	rm -rf bin

# The container image, from the Dockerfile, tagged with the version git
# describes (ringback:v1.2.0-3-gabc1234, or the commit when there is no tag).
# Needs a running Docker engine (or DOCKER_HOST): without one it says so and
# fails before building anything. Override IMAGE to push to a registry:
# make image IMAGE=registry.example.com/ringback
.PHONY: image
IMAGE ?= ringback
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: the docker command is not installed; install Docker (docs.docker.com/engine/install) and retry" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine answers (docker info failed): start the Docker daemon, or point DOCKER_HOST at one, and retry" >&2; exit 1; }
	docker build -t $(IMAGE):$(VERSION) .
