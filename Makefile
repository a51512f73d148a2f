# aurora-batch developer entry points. Every target bootstraps .venv itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov runs from its own virtualenv: its pinned dependencies clash with the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: asl-validate setup test test-unit test-integration test-e2e demo bench bench-cli bench-peers lint fmt typecheck build lock clean stack checkov-setup checkov

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

checkov-setup: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): checkov-constraints.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -c checkov-constraints.txt checkov
	@touch $(CHECKOV_STAMP)

# Static security checks of modules/, environments/ and examples/ (also run by tests/integration/test_checkov.py).
checkov: checkov-setup
	$(CHECKOV_VENV)/bin/checkov -d modules -d environments -d examples --framework terraform --compact --quiet --skip-download

# Two workers (one local stack each); a test file stays on one worker.
PYTEST_WORKERS ?= 2

test: setup checkov-setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-integration: setup checkov-setup
	$(BIN)/python -m pytest -q tests/integration

test-e2e: setup
	$(BIN)/python -m pytest -q tests/e2e

demo: setup
	$(BIN)/aurora-batch demo

stack: setup
	$(BIN)/aurora-batch stack up

bench: setup
	$(BIN)/python -m bench.run

# The peers live in a virtualenv of their own: the product never depends on them.
# The product end to end through its CLI on the local stack, with the time of every phase.
bench-cli: setup
	$(BIN)/python -m bench.cli_phases

bench-peers: setup
	test -x .venv-peers/bin/python || python3 -m venv .venv-peers
	.venv-peers/bin/pip install -q -r bench/peers/requirements.txt
	$(BIN)/python -m bench.peers

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m tools.ci_lint $(if $(REQUIRE_ACTIONLINT),--require-actionlint)
	$(MAKE) asl-validate

# The state machine's definition: up to date with its generator, and valid Amazon States Language
# (asl-validator from the npm registry, installed into the project's own node_modules).
ASL_VALIDATOR_VERSION := 4.0.0
asl-validate: setup
	$(BIN)/python -m tools.render_state_machine --check
	test -x node_modules/.bin/asl-validator || npm install --no-save --no-audit --no-fund asl-validator@$(ASL_VALIDATOR_VERSION)
	$(BIN)/python -m tools.render_state_machine --example .asl-example.json
	node_modules/.bin/asl-validator --json-path .asl-example.json
	rm -f .asl-example.json

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

# Lambda zips dist/<function>.zip, for ARCH=arm64 (default) or ARCH=x86_64. Every zip entry
# gets the SOURCE_DATE_EPOCH timestamp (default 1980-01-01), so builds are byte-reproducible.
ARCH ?= arm64
SOURCE_DATE_EPOCH ?= 315532800
# Dependencies come from the hashed locks services/<function>/requirements.txt (pip --require-hashes).
build: setup
	$(BIN)/python -m tools.build_lambda --arch $(ARCH) --out dist --source-date-epoch $(SOURCE_DATE_EPOCH)

# Regenerate the locks from services/<function>/requirements.in and constraints.txt (uv, needs PyPI).
lock: setup
	$(BIN)/python -m tools.lock_lambda

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) dist build .pytest_cache .mypy_cache .ruff_cache
