# provledger: `make run` brings the local stack up, `make test` runs every test.
# Everything installs into .venv (git-ignored) from the hashed locks in requirements/; uv, itself
# locked, is installed into it to make installs fast.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
WEB_STAMP := $(VENV)/.web-vendor-stamp
CHAIN_STAMP := $(VENV)/.chain-tools-stamp
PYTEST_ARGS ?=

.PHONY: install run test test-unit lint format bench clean lock

# Every dependency comes from requirements/*.lock, pinned with its hashes (`make lock` writes
# them from pyproject.toml): an install never takes a version or a file nobody reviewed.
$(STAMP): pyproject.toml requirements/dev.lock requirements/tools.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/tools.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements/dev.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

# The explorer page's graph libraries, pinned by tools/web/package-lock.json (npm ci, when npm exists).
$(WEB_STAMP): tools/web/package-lock.json tools/web/vendor.sh $(STAMP)
	@tools/web/vendor.sh
	@if test -f services/provledger/web/static/vendor/cytoscape.esm.min.js; then touch $@; fi

# solc and anvil for the evm anchor kind, pinned by tools/chain/package-lock.json (npm ci, when npm exists).
$(CHAIN_STAMP): tools/chain/package-lock.json tools/chain/install.sh
	@tools/chain/install.sh
	@if test -d tools/chain/node_modules/solc; then touch $@; fi

install: $(STAMP) $(WEB_STAMP) $(CHAIN_STAMP) ## Create .venv, install provledger with its dev and test extras, compile the fast reader.
	@$(BIN)/python -m provledger.events.compiled || echo "continuing with the pure-Python reader"

run: install ## Start Postgres, a Kafka-compatible broker and every built service; Ctrl-C stops all.
	$(BIN)/provledger up --demo

test: install ## Run every test: unit, integration (real servers) and end-to-end.
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install ## Only the fast, pure tests.
	$(BIN)/pytest -m "not integration and not e2e" $(PYTEST_ARGS)

lint: install ## ruff (lint and format check) and mypy strict.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run the benchmarks; each prints its figures beside a baseline from the same run.
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lock: install ## Pin every dependency of pyproject.toml with its hashes (after changing pyproject.toml).
	@for spec in "pyproject.toml --extra dev:dev" "pyproject.toml:runtime" "requirements/build.in:build" \
	             "requirements/tools.in:tools"; do \
	    $(BIN)/uv pip compile $${spec%:*} --generate-hashes --python-version 3.11 --quiet \
	        --custom-compile-command "make lock" -o requirements/$${spec##*:}.lock || exit 1; \
	done

clean: ## Remove the virtual environment, caches and local data.
	rm -rf $(VENV) .provledger .pytest_cache .mypy_cache .ruff_cache .hypothesis
