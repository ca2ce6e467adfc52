# certctl — see README.md. `make test` is what CI runs.
GO       ?= go
BIN      ?= bin/certctl
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test demo fleet-demo bench lint cover clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/certctl

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

demo: build
	./examples/demo/demo.sh $(BIN)

bench:
	./bench/run.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

cover:
	$(GO) test -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1

clean:
	rm -rf bin coverage.out

fleet-demo: build
	$(GO) run ./examples/fleet -certctl $(BIN)
