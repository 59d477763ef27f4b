# prx-email: `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
WIT := $(wildcard wit/*.wit)
GUEST_SRC := $(shell find guest -name '*.py' 2>/dev/null)
BINDINGS := build/bindings/.stamp
COMPONENT := host/prx_email/_data/plugin.wasm
DEMO_DB := demo-data/demo.db

.PHONY: all setup build bindings system-deps test test-fast lint typecheck format demo bench clean

all: build

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(INSTALLED)

# Guest bindings for type checking and for importing the guest natively.
$(BINDINGS): $(INSTALLED) $(WIT)
	rm -rf build/bindings
	$(BIN)/componentize-py -d wit -w plugin bindings build/bindings
	touch $@

bindings: $(BINDINGS)

# The sandboxed component; --stub-wasi: it imports no WASI at all.
$(COMPONENT): $(INSTALLED) $(WIT) $(GUEST_SRC)
	mkdir -p $(dir $@)
	$(BIN)/componentize-py -d wit -w plugin componentize --stub-wasi -p guest prx_email_plugin -o $@.tmp
	mv $@.tmp $@

build: $(COMPONENT) $(BINDINGS)

# Dovecot for the IMAP integration tests (installed when missing; needs root).
system-deps:
	@bash scripts/ensure-system-deps.sh

# Two workers: most integration tests wait on sockets and subprocesses, not on the CPU.
# The component is compiled once, into the cache the test session seeds from, before the
# workers start (otherwise each worker compiles it at the same time).
test: build system-deps
	PRX_EMAIL_CACHE_DIR=build/test-cache $(BIN)/prx-email warmup
	$(BIN)/pytest -q -n 2

test-fast: build
	$(BIN)/pytest -q -m "not integration and not slow"

lint: $(BINDINGS)
	$(BIN)/ruff check host guest tests bench
	$(BIN)/ruff format --check host guest tests bench
	$(BIN)/mypy host/prx_email guest

format: $(INSTALLED)
	$(BIN)/ruff format host guest tests bench
	$(BIN)/ruff check --fix host guest tests bench

demo: build
	$(BIN)/prx-email warmup
	@bash scripts/demo.sh

bench: build system-deps
	@bash scripts/ensure-bench-deps.sh
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build $(dir $(COMPONENT)) demo-data
