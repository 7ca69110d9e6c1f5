# riskmodel: two commands for a new user: `make demo` and `make test`.
# Each runs `setup` first; setup is idempotent and quick when nothing changed.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
DEMO_DIR ?= .riskmodel/demo
DEMO_STUDENTS ?= 2000
DEMO_DAYS ?= 365
PYTEST_ARGS ?=
export PYTHONHASHSEED := 0

.PHONY: setup demo test bench lint typecheck clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, as the CPU build found locally; an unpinned torch pulls a multi-GB GPU build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m riskmodel.demo --out $(DEMO_DIR) --students $(DEMO_STUDENTS) --days $(DEMO_DAYS)

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m riskmodel.bench --out experiments

lint: setup
	$(BIN)/ruff check src tests

typecheck: setup
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
