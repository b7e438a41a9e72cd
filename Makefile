# silt — see README.md. `make run` starts the embedded default; `make test`
# runs unit, integration and end-to-end tiers against real MinIO, Kafka and
# Trino (started natively by silt's own launcher, cached in ~/.cache/silt).
GO       ?= go
BIN      := bin/silt
PKGS     := ./...
# One shared stack for all test binaries; they attach through this file.
STACK_STATE ?= $(CURDIR)/.cache/stack/state.json
# The secured stack (silt stack up --secure: TLS, SASL, mTLS, passwords),
# beside the plain one; tests attach through SILT_SECURE_STACK_STATE.
SECURE_STACK_STATE ?= $(CURDIR)/.cache/stack/secure-state.json
TEST_TIMEOUT ?= 45m
# gotestsum runs go test and ends with one summary line (DONE N tests ...).
GOTESTSUM := $(GO) run gotest.tools/gotestsum@v1.13.0 --format pkgname-and-test-fails --

.PHONY: all build run unit test integration stack-up stack-down stack-up-secure stack-down-secure bench lint fmt clean up down

all: build

# VERSION names silt in `silt version` and in the created_by of every
# Parquet file it writes.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X github.com/silt-etl/silt/internal/version.Version=$(VERSION)" -o $(BIN) ./cmd/silt

run: build
	./$(BIN) run

unit:
	$(GO) test -count=1 -timeout 10m $(PKGS)

# test: every tier. The plain stack and the secure one are brought up
# once, one after the other (first run downloads and builds into
# ~/.cache/silt, printing progress), and torn down afterwards, also when a
# test fails. Both run a Hive Metastore: the Iceberg tests run on each.
test: build
	@# Chromium for the status page's browser test (installs it as root,
	@# otherwise names the command): no test is skipped for want of it.
	@bash .ci/install-deps
	@$(GOTESTSUM) -count=1 -timeout 10m $(PKGS)
	@# stdout (endpoints and the stacks' generated keys) stays out of CI logs
	@./$(BIN) stack up --state $(STACK_STATE) --metastore > /dev/null
	@./$(BIN) stack up --secure --metastore --state $(SECURE_STACK_STATE) > /dev/null || \
	  { status=$$?; ./$(BIN) stack down --state $(STACK_STATE); exit $$status; }
	@# The tests' status wins; a failed stack down (a process left running,
	@# a directory left behind) fails a run whose tests passed.
	@SILT_STACK_STATE=$(STACK_STATE) SILT_SECURE_STACK_STATE=$(SECURE_STACK_STATE) SILT_BIN=$(CURDIR)/$(BIN) $(GOTESTSUM) -count=1 -p 1 -tags integration -timeout $(TEST_TIMEOUT) -run 'Integration|E2E' $(PKGS); \
	  status=$$?; ./$(BIN) stack down --state $(STACK_STATE); down=$$?; \
	  ./$(BIN) stack down --state $(SECURE_STACK_STATE); sdown=$$?; \
	  if [ $$status -ne 0 ]; then exit $$status; fi; \
	  if [ $$down -ne 0 ]; then exit $$down; fi; exit $$sdown

stack-up: build
	./$(BIN) stack up --state $(STACK_STATE) --metastore

stack-down: build
	./$(BIN) stack down --state $(STACK_STATE)

stack-up-secure: build
	./$(BIN) stack up --secure --metastore --state $(SECURE_STACK_STATE)

stack-down-secure: build
	./$(BIN) stack down --state $(SECURE_STACK_STATE)

# bench: Go benchmarks, then end-to-end ingest of 1M events into a local
# lake (before the stack starts) and MinIO (peak RSS of the silt process),
# then 10M events into a local lake and into MinIO side by side in one run
# (events/s, CPU time, peak RSS, the MinIO/local ratio), then a 30 s loopback load on the collector publishing to the stack's real
# Kafka, then 3.33M purchase_sword events over 20 hours (their share of 10M
# game events) written as Parquet by silt (dictionary encoding off, the
# defaults, and with column indexes) and by Trino (CREATE TABLE AS), with their bytes and
# Trino's query times side by side, then 1M events drained from the plain stack's real Kafka into its
# MinIO beside the same from the secure stack (SASL_SSL + SCRAM, MinIO
# over TLS), then 10M events (batches of 1M) into Hive tables and into Iceberg
# tables (registration on: events/s, Iceberg commit latency p50/p99) and
# host_breakdown's query time on both and on Trino's own Iceberg copy,
# before and after silt compact (the stack runs with --metastore for
# Iceberg). Numbers go to the terminal; nothing asserts on time. It fails when
# either run fails, and the load fails on any lost or duplicated
# acknowledged event or any answer but 202; the stack is stopped either way.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./jobs/... ./lake/...
	@$(GO) run ./testbed/bench/ingest -events 1000000 -silt $(BIN) -stack ''
	@./$(BIN) stack up --metastore --state $(STACK_STATE) > /dev/null
	@$(GO) run ./testbed/bench/ingest -events 1000000 -silt $(BIN) -stack $(STACK_STATE) -skip-local; \
	  ingest=$$?; $(GO) run ./testbed/bench/ingest -events 10000000 -silt $(BIN) -stack $(STACK_STATE); \
	  ingest10m=$$?; $(GO) run ./testbed/bench/load --duration 30s --stack $(STACK_STATE); \
	  load=$$?; $(GO) run ./testbed/bench/trinoparquet -events 3333333 -hours 20 -rounds 5 -stack $(STACK_STATE); \
	  parquet=$$?; ./$(BIN) stack up --secure --state $(SECURE_STACK_STATE) > /dev/null && \
	  $(GO) run ./testbed/bench/ingest -events 1000000 -silt $(BIN) -stack $(STACK_STATE) -secure-stack $(SECURE_STACK_STATE); \
	  secure=$$?; $(GO) run ./testbed/bench/iceberg -events 10000000 -batch-records 1000000 -silt $(BIN) -stack $(STACK_STATE); \
	  iceberg=$$?; ./$(BIN) stack down --state $(STACK_STATE); ./$(BIN) stack down --state $(SECURE_STACK_STATE); \
	  test $$ingest -eq 0 && test $$ingest10m -eq 0 && test $$load -eq 0 && test $$parquet -eq 0 && test $$secure -eq 0 && test $$iceberg -eq 0

# lint: gofmt, go vet, then golangci-lint (.golangci.yml: the standard
# linters, testifylint, thelper) at a pinned version that lint installs
# itself into ~/.cache/silt on first use (go install, about 2 minutes).
# One golangci-lint run with the integration tag covers every file: no file
# is built only without it.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(HOME)/.cache/silt/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	@echo "== installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(dir $@)"
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run --build-tags integration $(PKGS)

fmt:
	gofmt -w .

clean:
	rm -rf bin silt-data .cache

# up/down: the docker compose stack (needs Docker, and docker/.env made
# from docker/.env.example).
COMPOSE := docker compose -f docker/compose.yml --env-file docker/.env

up:
	@test -f docker/.env || { echo "copy docker/.env.example to docker/.env and set the passwords"; exit 1; }
	$(COMPOSE) up -d --build --wait

down:
	$(COMPOSE) down
