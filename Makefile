# sfload — every command the README names is a target here.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home
RECORDS ?= 2000000

.PHONY: install lint format typecheck test test-fast bench demo dev emulator clean

install: .venv/.synced

$(UV):
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: install
	$(RUN) mypy resources emulator

test: install lint typecheck
	$(RUN) pytest

test-fast: install
	$(RUN) pytest -m "not e2e" -x -q

bench: install
	$(RUN) python -m bench

emulator: install
	$(RUN) sfload emulator serve --data-dir var/emulator --records $(RECORDS)

demo: install
	@mkdir -p $(DAGSTER_HOME)
	$(RUN) python -m orchestration.demo --records $(RECORDS)

dev: install
	@mkdir -p $(DAGSTER_HOME)
	$(RUN) python -m orchestration.dev --records $(RECORDS)

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
