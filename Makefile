# graft's two everyday targets. `make install` puts the graft binary where
# `go install` puts binaries ($GOBIN, else $GOPATH/bin); `make test` runs
# every test and ends with a list of the tests that were skipped and why.
SHELL := /bin/bash
GO ?= go

.PHONY: install test

install:
	$(GO) install ./cmd/graft
	@bin="$$($(GO) env GOBIN)"; bin="$${bin:-$$($(GO) env GOPATH)/bin}"; \
	echo "installed $$bin/graft"; \
	case ":$$PATH:" in *":$$bin:"*) ;; *) echo "note: $$bin is not on PATH; add it: export PATH=\"\$$PATH:$$bin\"";; esac

test:
	set -o pipefail; $(GO) test -json ./... | $(GO) run ./tools/testsum
