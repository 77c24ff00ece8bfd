# llmguard developer commands. Every target creates .venv and installs on a fresh machine,
# from the lock (requirements/dev.lock), so the result does not depend on the day.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements/dev.lock
ARGS ?=

.PHONY: install lock demo test lint typecheck pytest compat docs bench bench-memory bench-startup bench-peers test-min test-latest test-e2e clean

# The build backend comes from the lock too (no build isolation, which would fetch the newest hatchling).
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(LOCK) pip hatchling editables
	$(PY) -m pip install -q -c $(LOCK) --no-build-isolation -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Re-resolve every dependency to today's newest allowed release and rewrite the lock (commit it with the change).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip hatchling editables
	.venv-lock/bin/python -m pip install -q --no-build-isolation -e '.[dev]'
	{ sed -n '/^#/p' $(LOCK); .venv-lock/bin/python -m pip freeze --all --exclude-editable | grep -v '^llmguard=='; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf .venv-lock
	@echo "wrote $(LOCK); review 'git diff $(LOCK)', run 'make test', commit both"

## Run the offline quickstart against the built-in fake provider (ARGS=--live for the real API).
demo: install
	$(PY) examples/quickstart.py $(ARGS)
	@echo "Next: the ground-truth loop (review queue, judge calibration, golden-set refresh, traffic evals): $(PY) examples/review_loop.py"

## Lint, type-check and run the test suite.
test: lint typecheck pytest

lint: install
	$(VENV)/bin/ruff check src tests examples benchmarks compat e2e
	$(VENV)/bin/ruff format --check src tests examples benchmarks compat e2e

typecheck: install
	$(VENV)/bin/mypy src tests examples benchmarks e2e

pytest: install
	$(VENV)/bin/pytest -q

## Re-run the SDKs' own test suites with llmguard's classes swapped in; fails on any difference. At the
## locked (newest) releases and at the oldest release of each supported major.
COMPAT_OLDEST ?= 3.0.0:2.0.0 2.0.0:1.0.0 1.40.0:0.43.0
compat: install
	$(PY) compat/run.py
	for pair in $(COMPAT_OLDEST); do \
	  $(PY) compat/run.py --openai-version $${pair%%:*} --anthropic-version $${pair##*:} || exit $$?; \
	done

## Build the documentation site (strict: warnings fail).
docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir site

## The SDK version matrix: interception, telemetry and pin tests plus a 5-call smoke on older openai and
## anthropic releases, one venv per SDK pair (compat/matrix.py; the rest of each venv from the lock).
test-min:
	$(PYTHON) compat/matrix.py

## The whole suite, and the SDKs' own suites, against the newest openai and anthropic releases (the lock
## ignored for those two): a release that breaks the drop-in shows up the day it ships.
test-latest:
	$(PYTHON) compat/matrix.py --latest

## Spans over OTLP/HTTP to a real Arize Phoenix on loopback, read back through its API (~1 min warm, ~3 min cold).
test-e2e: install
	$(PY) e2e/run.py

## Per-call overhead against the raw SDK.
bench: install
	$(PY) benchmarks/overhead.py

## RSS after 100,000 calls with 20 KB prompts, all features on, against the raw SDK in the same run.
bench-memory: install
	$(PY) benchmarks/memory.py

## import llmguard + constructing a client, against import openai + construction (median of 10 runs).
bench-startup: install
	$(PY) benchmarks/startup.py

## llmguard against the peers users would pick instead (OTel openai-v2 and genai-openai, OpenLLMetry,
## Langfuse), installed in separate benchmark venvs (never in the dev extra or CI).
bench-peers: install
	$(PY) benchmarks/peers.py --callgrind

clean:
	rm -rf $(VENV) .venv-matrix .venv-latest .compat site .pytest_cache .mypy_cache .ruff_cache
