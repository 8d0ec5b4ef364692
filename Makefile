# pitchey-analysis — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup report test bench bench-peers bench-netns lint notebooks clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install the package with its dev extras (once per pyproject.toml change)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pitchey-analysis needs Python 3.11 or newer (try: make PYTHON=python3.11 ...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

report: setup ## Run the full suite against the embedded server (TLS) and write the HTML and PDF report
	$(BIN)/pitchey-analysis run --tls --fail-on never
	$(BIN)/pitchey-analysis report latest

test: setup ## Run the whole test suite (notebooks included)
	$(BIN)/python -m pytest -q

bench: setup bench-peers ## Benchmarks: print figures and write reports/bench.json (several minutes)
	$(BIN)/python -m pitchey_analysis.bench

bench-netns: setup ## 100,000 connections held across 5 network namespaces, Dask workers in 4 (root; several minutes)
	$(BIN)/python benchmarks/netns_hold.py

bench-peers: ## Install Artillery 2.0.21 into .bench/ for the comparison (skipped, saying so, without npm)
	@if command -v npm >/dev/null; then \
	  test -x .bench/node_modules/.bin/artillery || (mkdir -p .bench && cd .bench && \
	    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error artillery@2.0.21 >/dev/null) \
	  || echo "Artillery could not be installed: the benchmark skips it"; \
	else echo "npm not found: the benchmark skips Artillery"; fi

lint: setup ## Ruff
	$(BIN)/ruff check .

notebooks: setup ## Sync the notebooks with their py:percent twins (the .py files lead)
	$(BIN)/jupytext --sync notebooks/*.py

clean: ## Remove the virtual environment, caches and generated reports (not data/runs)
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
