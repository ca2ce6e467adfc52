# certctl — see README.md. `make test` is what CI runs.
GO       ?= go
BIN      ?= bin/certctl
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test demo fleet-demo bench lint cover clean soak fuzz man

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/certctl

# Windows cannot run here, so `test` checks that the code and every
# package's tests compile for it: vet, then `go list -test -export`, which
# compiles each test package (into the build cache) without linking.
WINDOWS := GOOS=windows GOARCH=amd64

# vet builds with -race, as the tests do, so that on a cold build cache the
# dependencies are compiled once for both instead of twice.
test:
	$(GO) vet -race ./...
	$(WINDOWS) $(GO) vet ./...
	$(WINDOWS) $(GO) list -test -export ./... >/dev/null
	$(GO) test -race -count=1 -timeout 8m ./...

# Man pages, one per command, into man/man1 (not committed): install with
# `install -m 644 man/man1/*.1 /usr/local/share/man/man1/`.
man:
	$(GO) run ./internal/cli/mangen -dir man/man1 -version $(VERSION)

demo: build
	./examples/demo/demo.sh $(BIN)

bench:
	./bench/run.sh

# The long fault and crash drills (a short version of each runs in `make test`).
soak:
	CERTCTL_SOAK=1 $(GO) test -count=1 -timeout 30m -run 'TestManager_CAFaults|TestCrash' -v ./... 2>&1 | grep -E '^(=== RUN|--- |\s+\S+_test.go|ok|FAIL)'

# Native Go fuzz targets, PACKAGE:TARGET; `make fuzz` runs each for FUZZTIME,
# one after another. Seeds and kept findings are in each package's
# testdata/fuzz/TARGET/ and run as plain tests in `make test`.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	./acme/:FuzzNormalizeDomain \
	./store/:FuzzDecodeRecord \
	./store/:FuzzDecodeShared \
	./internal/certpem/:FuzzParseChain \
	./internal/certpem/:FuzzParsePrivateKey \
	./internal/cli/:FuzzSplitCommand \
	./renew/:FuzzParseSchedule \
	./bindings/:FuzzBinder_GetCertificate

fuzz:
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

cover:
	$(GO) test -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1

clean:
	rm -rf bin coverage.out man

fleet-demo: build
	$(GO) run ./examples/fleet -certctl $(BIN)
