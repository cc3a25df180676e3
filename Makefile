# One virtual environment for everything: .venv, made from the system python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
# A CJK font, so the page's Chinese is drawn (and screenshotted) as text, not as boxes.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
# Extras installed into .venv: `make run` and deploy/Dockerfile use this same target
# (the image with EXTRAS=otel: tracing, no dev tools), so both install the project the same way.
EXTRAS ?= dev

.PHONY: run test lint typecheck unit e2e clean postgres node-tools

# Node tools from the npm registry, into .tools/node (not the repo): Spectral, the
# OpenAPI/AsyncAPI linter (tests/e2e/test_contracts.py lints the live documents with it and
# .spectral.yaml); openapi-typescript and tsc (tests/e2e/test_generated_client.py).
NODE_TOOLS := .tools/node
NODE_PACKAGES := @stoplight/spectral-cli@6.16.3 openapi-typescript@7.13.0 typescript@5.9.3
NODE_STAMP := $(NODE_TOOLS)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	touch $(STAMP)

# The dashboard's browser test drives Debian's Chromium (no browser download from the internet).
$(CHROMIUM) $(CJK_FONT):
	@echo "installing Debian's chromium and a CJK font for the browser test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-wqy-zenhei >/dev/null

# The PostgreSQL variants of the service and e2e tests start a throwaway server
# (tests/postgres.py) from Debian's binaries in /usr/lib/postgresql/N/bin.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing Debian's postgresql for the PostgreSQL tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	fi

$(NODE_STAMP):
	@echo "installing $(NODE_PACKAGES) with npm into $(NODE_TOOLS)"
	npm install --prefix $(NODE_TOOLS) --no-save --no-audit --no-fund --loglevel=error \
	  $(NODE_PACKAGES)
	touch $(NODE_STAMP)

node-tools: $(NODE_STAMP)

## make run: start the broker and the five services (Ctrl-C stops them all)
run: $(STAMP)
	$(BIN)/singlewindow up

## make test: lint, type-check, then every tier of tests
test: $(STAMP) $(CHROMIUM) $(CJK_FONT) $(NODE_STAMP) postgres lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check schemas services gateway singlewindow tests examples
	$(BIN)/ruff format --check schemas services gateway singlewindow tests examples

typecheck: $(STAMP)
	$(BIN)/mypy schemas services gateway singlewindow examples

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

e2e: $(STAMP) $(CHROMIUM) $(CJK_FONT) $(NODE_STAMP) postgres
	$(BIN)/python -m pytest -q tests/e2e

clean:
	rm -rf $(VENV) var .tools .pytest_cache .mypy_cache .ruff_cache
