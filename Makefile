# The few commands people type. `make test` is the README's test command and what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where `make run` listens: `make run PORT=8001`, `make run HOST=0.0.0.0` (other machines).
# HOST is not read from the environment: some shells export it as the machine's name.
HOST = 127.0.0.1
PORT ?= 8000

.PHONY: install run demo migrate test lint fmt wheel-check mutation bench bench-explain
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: install  ## serve http://$(HOST):$(PORT); with no .env: the offline sandbox on SQLite
	$(BIN)/payments migrate
	$(BIN)/payments serve --host $(HOST) --port $(PORT)

demo: install  ## one whole purchase in the sandbox, checked step by step
	$(BIN)/payments demo

migrate: install
	$(BIN)/payments migrate

test: install  ## the whole suite, against real PostgreSQL (found or started on its own)
	$(BIN)/pytest

wheel-check: install  ## build the wheel, install it in a fresh venv, migrate and serve it
	$(BIN)/python scripts/wheel_check.py

# The benchmark (bench/README.md): one table from one run on this machine, 3-6 minutes.
# `make bench BENCH_QUICK=1` runs every part tiny (under a minute; tests/test_bench.py).
bench: install  ## the service against the limits of this machine, checked for correctness
	$(BIN)/python -m bench.run

bench-explain: install  ## EXPLAIN of each statement the webhook path runs (for bench/README.md)
	$(BIN)/python -m bench.explain

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/mypy
	$(BIN)/mypy bench

fmt: install
	$(BIN)/ruff format src tests scripts bench
	$(BIN)/ruff check --fix src tests scripts bench

# Mutation testing of the money-critical code ([tool.mutmut] in pyproject.toml): slow, so
# not part of `make test` or CI. MUTANTS narrows it (e.g. MUTANTS='payments.outbox.*');
# MUTATION_JOBS sets how many mutants run at once (default: every core).
MUTATION_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MUTANTS ?=

mutation: $(VENV)/.mutation-installed  ## mutate, run the suite against each mutant, print the score
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS)
	$(BIN)/mutmut results --all true | $(BIN)/python tests/support/mutation_score.py

$(VENV)/.mutation-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,mutation]'
	touch $@
