# wecom-audit — the README's commands are targets here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps sdk lint bench clean

## Install and start wecom-audit against the simulated company (embedded SQLite defaults).
demo: install
	$(BIN)/wecom-audit demo

## Install everything (PostgreSQL included) and run the whole test suite.
test: install
	scripts/install-system-deps.sh build test
	$(BIN)/python -m pytest

install: $(STAMP) sdk

system-deps:
	scripts/install-system-deps.sh build

$(STAMP): pyproject.toml
	scripts/install-system-deps.sh build
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

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

clean:
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache
