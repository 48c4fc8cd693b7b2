# provledger: `make run` brings the local stack up, `make test` runs every test.
# Everything installs into .venv (git-ignored); uv is installed into it to make installs fast.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test test-unit lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@

install: $(STAMP) ## Create .venv, install provledger with its dev and test extras, compile the fast reader.
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

clean: ## Remove the virtual environment, caches and local data.
	rm -rf $(VENV) .provledger .pytest_cache .mypy_cache .ruff_cache .hypothesis
