# The README's two commands: `make demo` and `make test`.
GO      ?= go
BIN     := bin/migrate
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build test unit integration bench fmt vet demo pg clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/migrate

# All unit and integration tests, race detector on. Integration tests start
# their own PostgreSQL primary + standby; scripts/ensure-postgres.sh installs
# the server binaries when none are found.
test: pg vet
	$(GO) test -race -count=1 -timeout 40m ./...

unit:
	$(GO) test -race -count=1 -short ./...

pg:
	@bash scripts/ensure-postgres.sh

# Lint against squawk on a 20,000-statement file, then the backfiller
# against one UPDATE of a 2M-row table (starts its own PostgreSQL).
bench: build pg
	bash scripts/bench.sh
	$(GO) test -run '^$$' -bench BackfillVsSingleUpdate -benchtime 1x ./backfill/

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; find . -name '*.go' -newer go.mod -not -path './.git/*' 2>/dev/null) 2>/dev/null | sort -u); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

demo: build
	bash scripts/demo.sh

clean:
	rm -rf bin
