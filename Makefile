# wecom-audit — the README's commands are targets here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps sdk lint bench clean console-assets readme-images

## Install and start wecom-audit against the simulated company (embedded SQLite defaults).
demo: install
	$(BIN)/wecom-audit demo

## Install everything (PostgreSQL included) and run the whole test suite.
test: install
	scripts/install-system-deps.sh build test
	$(BIN)/python scripts/elasticsearch.py fetch
	$(BIN)/python scripts/tencent_sdk.py fetch
	$(BIN)/python -m pytest

install: $(STAMP) sdk console-assets

## Refresh the README's screenshots and the handover report's page image from the browser tests.
readme-images: install
	WECOM_AUDIT_README_IMAGES=1 $(BIN)/python -m pytest -q tests/console tests/audit/handover/test_report.py

system-deps:
	scripts/install-system-deps.sh build

$(STAMP): pyproject.toml
	scripts/install-system-deps.sh build
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The web console's front-end packages (npm registry, exact versions of the lock file) → api/console/static/vendor/.
console-assets: api/console/static/vendor/versions.json

api/console/static/vendor/versions.json: api/console/assets/package.json api/console/assets/package-lock.json api/console/assets/build.sh
	api/console/assets/build.sh

## The fake libWeWorkFinanceSdk_C.so for the simulated company.
sdk: $(STAMP)
	$(BIN)/python -m archive.simulator.fakesdk build

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/media.py
	$(BIN)/python -m bench.detect
	$(BIN)/python -m bench.search

clean:
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache
