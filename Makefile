# One virtual environment for everything: .venv, made from the system python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
# A CJK font, so the page's Chinese is drawn (and screenshotted) as text, not as boxes.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc

.PHONY: run test lint typecheck unit e2e clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The dashboard's browser test drives Debian's Chromium (no browser download from the internet).
$(CHROMIUM) $(CJK_FONT):
	@echo "installing Debian's chromium and a CJK font for the browser test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-wqy-zenhei >/dev/null

## make run: start the broker and the five services (Ctrl-C stops them all)
run: $(STAMP)
	$(BIN)/singlewindow up

## make test: lint, type-check, then every tier of tests
test: $(STAMP) $(CHROMIUM) $(CJK_FONT) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check schemas services gateway singlewindow tests
	$(BIN)/ruff format --check schemas services gateway singlewindow tests

typecheck: $(STAMP)
	$(BIN)/mypy schemas services gateway singlewindow

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

e2e: $(STAMP) $(CHROMIUM) $(CJK_FONT)
	$(BIN)/python -m pytest -q tests/e2e

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
