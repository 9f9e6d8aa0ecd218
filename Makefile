# claudemesh: `make run` starts the broker on embedded SQLite, `make test`
# runs every test (it starts a throwaway PostgreSQL when needed), `make bench`
# runs the load generator's standard set (docs/benchmarks.md).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/claudemesh/claudemesh/internal/version.Version=$(VERSION)

.PHONY: run test soak build lint bench bench-go fuzz clean

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/broker serve

test:
	./scripts/test.sh

# Long variants of the reliability scenarios R1-R8 (docs/reliability.md).
soak:
	./scripts/soak.sh

build:
	mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/claudemesh-broker ./cmd/broker
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/claudemesh ./cmd/claudemesh

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	cd tools/meshload && $(GO) vet ./...

# The standard set P1-P8 of the quality spec, measured by tools/meshload
# against freshly spawned brokers; writes bench/results/<UTC date>.md.
# P3 uses DATABASE_URL when set, else a throwaway PostgreSQL cluster.
# BENCH_ARGS=--quick runs a scaled-down smoke of the same set.
bench:
	mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/claudemesh-broker ./cmd/broker
	cd tools/meshload && $(GO) build -o ../../bin/meshload .
	./bin/meshload bench --broker-bin bin/claudemesh-broker $(BENCH_ARGS)

# Go micro-benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...

# Every Go fuzz target for FUZZTIME each (default 60s), stopping at the
# first failure; the list lives in scripts/fuzz.sh.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

clean:
	rm -rf bin .claudemesh-broker
