# llmguard developer commands. Every target creates .venv and installs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install demo test lint typecheck pytest compat docs bench bench-peers test-min test-e2e clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Run the offline quickstart against the built-in fake provider (ARGS=--live for the real API).
demo: install
	$(PY) examples/quickstart.py $(ARGS)

## Lint, type-check and run the test suite.
test: lint typecheck pytest

lint: install
	$(VENV)/bin/ruff check src tests examples benchmarks compat e2e
	$(VENV)/bin/ruff format --check src tests examples benchmarks compat e2e

typecheck: install
	$(VENV)/bin/mypy src tests examples benchmarks e2e

pytest: install
	$(VENV)/bin/pytest -q

## Re-run the SDKs' own test suites with llmguard's classes swapped in; fails on any difference.
compat: install
	$(PY) compat/run.py

## Build the documentation site (strict: warnings fail).
docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir site

## The test suite against the oldest supported SDKs (the low end of the declared range).
MIN_SDKS ?= openai==3.50.0 anthropic==2.10.0
.venv-min/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-min
	.venv-min/bin/python -m pip install -q --upgrade pip
	.venv-min/bin/python -m pip install -q -e '.[dev]' $(MIN_SDKS)
	touch $@

test-min: .venv-min/.installed
	.venv-min/bin/pytest -q -p no:cacheprovider -m "not slow"

## Spans over OTLP/HTTP to a real Arize Phoenix on loopback, read back through its API (~1 min warm, ~3 min cold).
test-e2e: install
	$(PY) e2e/run.py

## Per-call overhead against the raw SDK.
bench: install
	$(PY) benchmarks/overhead.py

## llmguard against the peers users would pick instead (OTel openai-v2 and genai-openai, OpenLLMetry,
## Langfuse), installed in separate benchmark venvs (never in the dev extra or CI).
bench-peers: install
	$(PY) benchmarks/peers.py

clean:
	rm -rf $(VENV) .compat site .pytest_cache .mypy_cache .ruff_cache
