# claudemesh: `make run` starts the broker on embedded SQLite, `make test`
# runs every test (it starts a throwaway PostgreSQL when needed).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/claudemesh/claudemesh/internal/version.Version=$(VERSION)

.PHONY: run test build lint bench-go clean

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/broker serve

test:
	./scripts/test.sh

build:
	mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/claudemesh-broker ./cmd/broker
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/claudemesh ./cmd/claudemesh

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# Go micro-benchmarks of the hot paths (the load generator arrives separately).
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...

clean:
	rm -rf bin .claudemesh-broker
